//! Traffic counters in status: written about once per `countersRefreshInterval`, spread over
//! the interval, so that growing counters alone never cause a write.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::StatusPolicy;
use crate::controller::labels::stable_hash;
use crate::controller::mirrored::{Counters, StatusSeen};
use crate::crd::{IpsecSecurityAssociationStatus, IpsecTraffic};
use crate::ontap::model::{SecurityAssociation, TrafficDirection};

/// Counters are written when due (at most once per interval, spread by a per-SA offset) and
/// otherwise carried over from the API server's copy, so they alone never cause a write.
pub(super) fn apply_counters(
    status: &mut IpsecSecurityAssociationStatus,
    record: &SecurityAssociation,
    current: Option<&StatusSeen>,
    policy: StatusPolicy,
) {
    let (Some(interval), Some(ipsec), Some(record_ipsec)) = (
        policy.counters_refresh_interval,
        status.ipsec.as_mut(),
        record.ipsec.as_ref(),
    ) else {
        return;
    };
    let has_counters = [&record_ipsec.inbound, &record_ipsec.outbound]
        .into_iter()
        .flatten()
        .any(|direction| direction.bytes.is_some() || direction.packets.is_some());
    if !has_counters {
        return;
    }
    let last = current.and_then(|status| status.counters_observed_at);
    let due =
        last.is_none_or(|observed| counters_due(&record.uuid, observed, policy.now, interval));
    if due {
        ipsec.inbound = record_ipsec.inbound.as_ref().map(traffic_with_counters);
        ipsec.outbound = record_ipsec.outbound.as_ref().map(traffic_with_counters);
        status.counters_observed_at = Some(Time(whole_seconds(policy.now)));
    } else {
        let keep = |mine: &mut Option<IpsecTraffic>, theirs: Option<Counters>| {
            if let (Some(mine), Some(theirs)) = (mine.as_mut(), theirs) {
                mine.bytes = theirs.bytes;
                mine.packets = theirs.packets;
            }
        };
        keep(&mut ipsec.inbound, current.and_then(|seen| seen.inbound));
        keep(&mut ipsec.outbound, current.and_then(|seen| seen.outbound));
        status.counters_observed_at = last.map(Time);
    }
}

/// Whether counters last written at `observed` are due at `now`. Each SA has its own phase
/// in the interval, taken from its uuid, and comes due at the first point of its phase at least
/// half an interval after its last write. So SAs first mirrored together are refreshed evenly
/// over one interval instead of in one burst, and then once per interval each; a clock that
/// went backwards makes them due at once.
pub(super) fn counters_due(
    uuid: &str,
    observed: Timestamp,
    now: Timestamp,
    interval: Duration,
) -> bool {
    let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX).max(1);
    let (observed, now) = (observed.as_second(), now.as_second());
    if now < observed {
        return true;
    }
    let earliest = observed.saturating_add(interval / 2);
    let phase = phase_in(uuid, interval);
    let due_at = earliest.saturating_add((phase - earliest).rem_euclid(interval));
    now >= due_at
}

/// A stable second within the interval for `uuid` (FNV-1a, so it survives a new toolchain).
fn phase_in(uuid: &str, interval: i64) -> i64 {
    let hash = stable_hash(uuid);
    i64::try_from(hash % interval.unsigned_abs()).unwrap_or_default()
}

fn whole_seconds(now: Timestamp) -> Timestamp {
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// One direction of an IPsec SA without its counters: what every status carries.
pub(super) fn traffic_without_counters(direction: &TrafficDirection) -> IpsecTraffic {
    IpsecTraffic {
        spi: direction.spi.as_ref().map(ToString::to_string),
        bytes: None,
        packets: None,
    }
}

fn traffic_with_counters(direction: &TrafficDirection) -> IpsecTraffic {
    IpsecTraffic {
        bytes: direction.bytes.and_then(|n| i64::try_from(n).ok()),
        packets: direction.packets.and_then(|n| i64::try_from(n).ok()),
        ..traffic_without_counters(direction)
    }
}
