-- Argo CD resource actions of an OntapCluster: "refresh" asks the operator for an immediate poll.
-- It is disabled while spec.suspend is set, because a suspended cluster is not polled.
local actions = {}
local suspended = obj.spec ~= nil and obj.spec.suspend == true
actions["refresh"] = {
  ["disabled"] = suspended,
  ["iconClass"] = "fa fa-fw fa-sync",
  ["displayName"] = "Poll ONTAP now",
}
return actions
