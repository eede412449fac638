-- Argo CD health of an IpsecSecurityAssociation (ontap-ipsec.dev/v1alpha1), from its Ready
-- condition: True is Healthy, False is Degraded, Unknown (for example ClusterUnreachable when the
-- OntapCluster has missed staleAfter polls) is Unknown, and no Ready yet is Progressing.
--
-- Written for Argo CD's sandbox: Lua 5.1 with only the base, table and a reduced os library.

local function find_condition(conditions, condition_type)
  for _, condition in ipairs(conditions) do
    if condition.type == condition_type then
      return condition
    end
  end
  return nil
end

local function explain(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.reason .. ": " .. condition.message
  end
  return condition.reason
end

local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  ready = find_condition(obj.status.conditions, "Ready")
end

if ready == nil then
  return { status = "Progressing", message = "Waiting for the operator to report the SA's state" }
end
if ready.status == "True" then
  return { status = "Healthy", message = explain(ready) }
end
if ready.status == "False" then
  return { status = "Degraded", message = explain(ready) }
end
return { status = "Unknown", message = explain(ready) }
