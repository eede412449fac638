//! The pure middle of a poll: from ONTAP's records and the objects the API server holds, decide
//! which `IpsecSecurityAssociation` objects to write, which to delete, and which tunnels changed.
//! No client required. The object (metadata and spec), its status and its counters are each
//! decided in a file of their own.

mod counters;
mod object;
mod sa_status;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource as _;

pub use object::{DesiredObject, Write};
pub use sa_status::stale_conditions;

use super::labels::security_association_name;
use super::mirrored::Mirrored;
use super::source::MirrorSource;
use crate::crd::{ClusterId, ConditionStatus, OntapCluster};

use crate::ontap::model::SecurityAssociation;

/// The OntapCluster that owns the mirrored objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub cluster: ClusterId,
    pub uid: String,
}

impl Owner {
    /// `None` when the object has not been stored yet (no uid, name or namespace).
    #[must_use]
    pub fn of(cluster: &OntapCluster) -> Option<Self> {
        Some(Self {
            cluster: ClusterId::of(cluster)?,
            uid: cluster.metadata.uid.clone()?,
        })
    }

    fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: OntapCluster::api_version(&()).into_owned(),
            kind: OntapCluster::kind(&()).into_owned(),
            name: self.cluster.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }
}

/// A tunnel whose `Ready` went between `True` and `False`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelTransition {
    pub name: String,
    pub up: bool,
    pub message: String,
}

/// An object that mirrors an SA ONTAP no longer lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub name: String,
    pub uid: Option<String>,
}

/// A record that cannot be mirrored; the others are mirrored without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// ONTAP's uuid, cut to a readable length.
    pub uuid: String,
    pub why: &'static str,
}

/// Why a record has no object name: its uuid holds no letter or digit.
pub const SKIPPED_NO_NAME: &str = "its uuid gives no valid object name";
/// Why a record was skipped: an earlier record's uuid gives the same object name.
pub const SKIPPED_SAME_NAME: &str = "its uuid gives the same object name as another record's";
/// Longest uuid quoted for a skipped record.
const MAX_QUOTED_UUID: usize = 64;

/// Everything one successful poll should change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub objects: Vec<DesiredObject>,
    pub deletions: Vec<Deletion>,
    pub transitions: Vec<TunnelTransition>,
    /// Records left out, each with the reason.
    pub skipped: Vec<SkippedRecord>,
}

impl Plan {
    /// Adds the plan of another source.
    pub fn extend(&mut self, other: Plan) {
        self.objects.extend(other.objects);
        self.deletions.extend(other.deletions);
        self.transitions.extend(other.transitions);
        self.skipped.extend(other.skipped);
    }
}

/// Inputs that shape how status is written.
#[derive(Debug, Clone, Copy)]
pub struct StatusPolicy {
    /// `None`: never write counters.
    pub counters_refresh_interval: Option<Duration>,
    pub now: Timestamp,
    /// Benchmark baseline only: write every object and status, as a naive design would.
    pub rewrite_everything: bool,
}

/// Plans the mirror of a complete listing of `source`. `existing` holds this cluster's objects
/// of that source, keyed by name; every one whose SA is not in `records` is deleted, so call
/// this only with a complete listing from a successful poll.
#[must_use]
pub fn plan(
    owner: &Owner,
    source: &MirrorSource,
    records: impl IntoIterator<Item = SecurityAssociation>,
    existing: &HashMap<String, Arc<Mirrored>>,
    policy: StatusPolicy,
) -> Plan {
    let records = records.into_iter();
    let mut plan = Plan {
        objects: Vec::with_capacity(records.size_hint().0),
        ..Plan::default()
    };
    let mut names = HashSet::with_capacity(plan.objects.capacity());
    // Records are moved into the plan, not copied: with 10,000 SAs every copy counts.
    for record in records {
        // One unusable record must not stop the others from being mirrored.
        let name = security_association_name(&owner.cluster.name, source.name_infix, &record.uuid);
        let why = match &name {
            None => Some(SKIPPED_NO_NAME),
            Some(name) if !names.insert(name.clone()) => Some(SKIPPED_SAME_NAME),
            Some(_) => None,
        };
        let (Some(name), None) = (name, why) else {
            plan.skipped.push(SkippedRecord {
                uuid: record.uuid.chars().take(MAX_QUOTED_UUID).collect(),
                why: why.unwrap_or(SKIPPED_NO_NAME),
            });
            continue;
        };
        let desired = object::desired_object(owner, source, name, record, existing, policy);
        if let Some(current) = existing.get(&desired.name)
            && let Some(transition) = tunnel_transition(current, &desired)
        {
            plan.transitions.push(transition);
        }
        plan.objects.push(desired);
    }
    let desired_names: HashSet<&str> = plan.objects.iter().map(|d| d.name.as_str()).collect();
    let mut deletions: Vec<Deletion> = existing
        .iter()
        .filter(|(name, _)| !desired_names.contains(name.as_str()))
        .map(|(name, object)| Deletion {
            name: name.clone(),
            uid: object.uid.clone(),
        })
        .collect();
    deletions.sort_by(|a, b| a.name.cmp(&b.name));
    plan.deletions = deletions;
    plan
}

fn tunnel_transition(current: &Mirrored, desired: &DesiredObject) -> Option<TunnelTransition> {
    let up = match (current.ready()?, desired.ready.status) {
        (ConditionStatus::False, ConditionStatus::True) => true,
        (ConditionStatus::True, ConditionStatus::False) => false,
        _ => return None,
    };
    Some(TunnelTransition {
        name: desired.name.clone(),
        up,
        message: desired.ready.message.clone(),
    })
}
