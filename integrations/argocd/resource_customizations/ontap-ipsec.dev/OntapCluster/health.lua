-- Argo CD health of an OntapCluster (ontap-ipsec.dev/v1alpha1).
--
-- Progressing until the operator has observed the current generation; Suspended while
-- spec.suspend is set; Degraded when a human must act (Stalled), when ONTAP cannot be polled
-- (Ready=False) or when tunnels are down (TunnelsHealthy=False, naming the unhealthy peers);
-- Healthy when Ready and TunnelsHealthy are both True.
--
-- Written for Argo CD's sandbox: Lua 5.1 with only the base, table and a reduced os library, so
-- no string.* functions are used.

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

local function describe_peer(peer)
  local text = peer.remoteAddress or "unknown peer"
  local details = {}
  if peer.localAddress ~= nil then
    table.insert(details, "from " .. peer.localAddress)
  end
  if peer.svm ~= nil then
    table.insert(details, "svm " .. peer.svm)
  end
  if peer.policyName ~= nil then
    table.insert(details, "policy " .. peer.policyName)
  end
  if peer.reason ~= nil then
    table.insert(details, peer.reason)
  end
  if #details > 0 then
    text = text .. " (" .. table.concat(details, ", ") .. ")"
  end
  return text
end

local function tunnels_down_message(status, tunnels)
  local peers = {}
  for _, peer in ipairs(status.unhealthyPeers or {}) do
    table.insert(peers, describe_peer(peer))
  end
  local counts = status.securityAssociations
  if counts == nil or counts.notReady == nil or counts.total == nil or #peers == 0 then
    return explain(tunnels)
  end
  return counts.notReady .. " of " .. counts.total .. " SAs are not ready; unhealthy peers: "
    .. table.concat(peers, "; ")
end

local status = obj.status
if status == nil or status.conditions == nil then
  return { status = "Progressing", message = "Waiting for the operator to poll ONTAP" }
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  return {
    status = "Progressing",
    message = "Waiting for the operator to observe generation " .. generation,
  }
end

local ready = find_condition(status.conditions, "Ready")
local stalled = find_condition(status.conditions, "Stalled")
local tunnels = find_condition(status.conditions, "TunnelsHealthy")

if ready == nil or ready.status == "Unknown" then
  return { status = "Progressing", message = "Waiting for the operator to poll ONTAP" }
end

if ready.status == "False" and ready.reason == "Suspended" then
  return { status = "Suspended", message = explain(ready) }
end

if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = explain(stalled) }
end

if ready.status ~= "True" then
  local message = explain(ready)
  if tunnels ~= nil and tunnels.status == "Unknown" then
    message = message .. "; " .. explain(tunnels)
  end
  return { status = "Degraded", message = message }
end

if tunnels == nil or tunnels.status == "Unknown" then
  return { status = "Progressing", message = "Waiting for the operator to report tunnel health" }
end

if tunnels.status == "False" then
  return { status = "Degraded", message = tunnels_down_message(status, tunnels) }
end

return { status = "Healthy", message = explain(ready) .. "; " .. explain(tunnels) }
