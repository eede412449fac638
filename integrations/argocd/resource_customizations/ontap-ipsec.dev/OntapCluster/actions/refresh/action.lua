-- Argo CD action "refresh": sets the ontap-ipsec.dev/refresh annotation to the current UTC time.
-- The operator polls ONTAP at once whenever the value of that annotation changes.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["ontap-ipsec.dev/refresh"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
