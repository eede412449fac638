//! The pure middle of a poll: from ONTAP's records and the objects the API server holds, decide
//! which `IpsecSecurityAssociation` objects to write, which to delete, and which tunnels changed.
//! No client required.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource as _;

use super::labels::{label_value, security_association_name, stable_hash};
use crate::crd::condition::{
    REASON_CLUSTER_UNREACHABLE, TYPE_IKE_ESTABLISHED, TYPE_IPSEC_INSTALLED, TYPE_READY,
};
use crate::crd::{
    ClusterReference, ConditionStatus, IkeStatus, IpsecSecurityAssociation,
    IpsecSecurityAssociationSpec, IpsecSecurityAssociationStatus, IpsecStatus, IpsecTraffic,
    LABEL_CLUSTER, LABEL_MANAGED_BY, LABEL_NODE, LABEL_POLICY, LABEL_PREFIX, LABEL_REMOTE_ADDRESS,
    LABEL_SVM, LABEL_TYPE, MANAGED_BY, OntapCluster, OntapReference, new_condition,
    upsert_condition,
};
use crate::ontap::health::{self, Health, Verdict};
use crate::ontap::model::{self, SecurityAssociation, TrafficDirection};

/// The OntapCluster that owns the mirrored objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

impl Owner {
    /// `None` when the object has not been stored yet (no uid or namespace).
    #[must_use]
    pub fn of(cluster: &OntapCluster) -> Option<Self> {
        Some(Self {
            name: cluster.metadata.name.clone()?,
            namespace: cluster.metadata.namespace.clone()?,
            uid: cluster.metadata.uid.clone()?,
        })
    }

    fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: OntapCluster::api_version(&()).into_owned(),
            kind: OntapCluster::kind(&()).into_owned(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }
}

/// One SA of a complete listing: its verdict, for the cluster's summary and the metrics, and
/// whatever the API server lacks of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub name: String,
    /// The SA's `Ready` verdict.
    pub ready: Verdict,
    pub record: SecurityAssociation,
    /// `None` when the API server already holds this state, as in a steady-state poll. The
    /// object and status are built to compare and then dropped, so 10,000 unchanged SAs cost
    /// their records and no more.
    pub write: Option<Box<Write>>,
}

/// What one SA needs written.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Metadata (name, labels, owner reference) and spec, when the object is new or they
    /// differ from the API server's copy.
    pub object: Option<IpsecSecurityAssociation>,
    /// Written whenever it differs, and after every object write: a created object has none.
    pub status: IpsecSecurityAssociationStatus,
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

/// Inputs that shape how status is written.
#[derive(Debug, Clone, Copy)]
pub struct StatusPolicy {
    /// `None`: never write counters.
    pub counters_refresh_interval: Option<Duration>,
    pub now: Timestamp,
    /// Benchmark baseline only: write every object and status, as a naive design would.
    pub rewrite_everything: bool,
}

/// Plans the mirror of a complete listing. `existing` holds this cluster's objects, keyed by
/// name; every one whose SA is not in `records` is deleted, so call this only with a complete
/// listing from a successful poll.
#[must_use]
pub fn plan(
    owner: &Owner,
    records: impl IntoIterator<Item = SecurityAssociation>,
    existing: &HashMap<String, &IpsecSecurityAssociation>,
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
        let name = security_association_name(&owner.name, &record.uuid);
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
        let desired = desired_object(owner, name, record, existing, policy);
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
            uid: object.metadata.uid.clone(),
        })
        .collect();
    deletions.sort_by(|a, b| a.name.cmp(&b.name));
    plan.deletions = deletions;
    plan
}

/// Statuses that turn every condition `Unknown` because the cluster has not been polled
/// successfully for too long; only objects whose status changes are returned.
#[must_use]
pub fn stale_statuses(
    existing: &HashMap<String, &IpsecSecurityAssociation>,
    message: &str,
    now: Timestamp,
) -> Vec<(String, IpsecSecurityAssociationStatus)> {
    let mut changed: Vec<(String, IpsecSecurityAssociationStatus)> = existing
        .iter()
        .filter_map(|(name, object)| {
            let current = object.status.clone().unwrap_or_default();
            let mut status = current.clone();
            let types: Vec<String> = if status.conditions.is_empty() {
                vec![TYPE_READY.to_owned()]
            } else {
                status.conditions.iter().map(|c| c.type_.clone()).collect()
            };
            for type_ in types {
                upsert_condition(
                    &mut status.conditions,
                    new_condition(
                        &type_,
                        ConditionStatus::Unknown,
                        REASON_CLUSTER_UNREACHABLE,
                        message,
                        object.metadata.generation,
                        now,
                    ),
                );
            }
            (status != current).then(|| (name.clone(), status))
        })
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    changed
}

fn desired_object(
    owner: &Owner,
    name: String,
    record: SecurityAssociation,
    existing: &HashMap<String, &IpsecSecurityAssociation>,
    policy: StatusPolicy,
) -> DesiredObject {
    let current = existing.get(&name).copied();
    let mut object = IpsecSecurityAssociation::new(
        &name,
        IpsecSecurityAssociationSpec {
            cluster_ref: ClusterReference {
                name: owner.name.clone(),
            },
            uuid: record.uuid.clone(),
        },
    );
    object.metadata = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(owner.namespace.clone()),
        labels: Some(labels(owner, &record)),
        owner_references: Some(vec![owner.owner_reference()]),
        ..ObjectMeta::default()
    };
    let ready = health::ready(&record);
    let status = desired_status(&record, current, &ready, policy);
    let write_object =
        policy.rewrite_everything || current.is_none_or(|current| !same_object(current, &object));
    let write_status = policy.rewrite_everything
        || write_object
        || current.is_none_or(|current| current.status.as_ref() != Some(&status));
    DesiredObject {
        name,
        ready,
        record,
        write: write_status.then(|| {
            Box::new(Write {
                object: write_object.then_some(object),
                status,
            })
        }),
    }
}

fn labels(owner: &Owner, record: &SecurityAssociation) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
    labels.insert(LABEL_CLUSTER.to_owned(), label_value(&owner.name));
    let optional = [
        (
            LABEL_TYPE,
            record
                .sa_type
                .as_ref()
                .map(model::SecurityAssociationType::as_str),
        ),
        (
            LABEL_NODE,
            record.node.as_ref().and_then(|node| node.name.as_deref()),
        ),
        (
            LABEL_SVM,
            record.svm.as_ref().and_then(|svm| svm.name.as_deref()),
        ),
        (LABEL_POLICY, record.policy_name.as_deref()),
        (LABEL_REMOTE_ADDRESS, record.remote_address.as_deref()),
    ];
    for (key, value) in optional {
        if let Some(value) = value.map(label_value).filter(|value| !value.is_empty()) {
            labels.insert(key.to_owned(), value);
        }
    }
    labels
}

/// Whether the API server's object already carries our labels, owner reference and spec.
fn same_object(current: &IpsecSecurityAssociation, desired: &IpsecSecurityAssociation) -> bool {
    let empty = BTreeMap::new();
    let current_labels = current.metadata.labels.as_ref().unwrap_or(&empty);
    let desired_labels = desired.metadata.labels.as_ref().unwrap_or(&empty);
    let ours = |key: &String| key.starts_with(LABEL_PREFIX) || key == LABEL_MANAGED_BY;
    let current_ours: BTreeMap<_, _> = current_labels.iter().filter(|(k, _)| ours(k)).collect();
    let desired_ours: BTreeMap<_, _> = desired_labels.iter().collect();
    let owner_present = desired
        .metadata
        .owner_references
        .iter()
        .flatten()
        .all(|wanted| {
            current
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|have| have == wanted)
        });
    current_ours == desired_ours && owner_present && current.spec == desired.spec
}

fn desired_status(
    record: &SecurityAssociation,
    current: Option<&IpsecSecurityAssociation>,
    ready: &Verdict,
    policy: StatusPolicy,
) -> IpsecSecurityAssociationStatus {
    let current_status = current.and_then(|object| object.status.as_ref());
    let generation = current
        .and_then(|object| object.metadata.generation)
        .or(Some(1));
    let mut status = IpsecSecurityAssociationStatus {
        type_: record
            .sa_type
            .as_ref()
            .map(|sa_type| sa_type.as_str().to_owned()),
        node: record.node.as_ref().map(reference),
        svm: record.svm.as_ref().map(reference),
        scope: record.scope.clone(),
        policy_name: record.policy_name.clone(),
        local_address: record.local_address.clone(),
        remote_address: record.remote_address.clone(),
        cipher_suite: record.cipher_suite.clone(),
        lifetime: record
            .lifetime
            .and_then(|seconds| i64::try_from(seconds).ok()),
        state: health::applicable_state(record).map(str::to_owned),
        ike: record.ike.as_ref().map(|ike| IkeStatus {
            state: ike.state.clone(),
            version: ike.version.clone(),
            authentication: ike.authentication.clone(),
            is_initiator: ike.is_initiator,
            initiator_spi: ike.initiator_spi.as_ref().map(ToString::to_string),
            responder_spi: ike.responder_spi.as_ref().map(ToString::to_string),
        }),
        ipsec: record.ipsec.as_ref().map(|ipsec| IpsecStatus {
            state: ipsec.state.clone(),
            action: ipsec.action.clone(),
            inbound: ipsec.inbound.as_ref().map(traffic_without_counters),
            outbound: ipsec.outbound.as_ref().map(traffic_without_counters),
        }),
        counters_observed_at: None,
        conditions: current_status
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
        observed_generation: generation,
    };
    apply_counters(&mut status, record, current_status, policy);

    let mut verdicts: Vec<(&str, Verdict)> = Vec::new();
    if let Some(verdict) = health::ike_established(record) {
        verdicts.push((TYPE_IKE_ESTABLISHED, verdict));
    }
    if let Some(verdict) = health::ipsec_installed(record) {
        verdicts.push((TYPE_IPSEC_INSTALLED, verdict));
    }
    verdicts.push((TYPE_READY, ready.clone()));
    let applicable: HashSet<&str> = verdicts.iter().map(|(type_, _)| *type_).collect();
    status
        .conditions
        .retain(|condition| applicable.contains(condition.type_.as_str()));
    for (type_, verdict) in verdicts {
        upsert_condition(
            &mut status.conditions,
            new_condition(
                type_,
                condition_status(verdict.status),
                &verdict.reason,
                verdict.message,
                generation,
                policy.now,
            ),
        );
    }
    status
}

/// Counters are written when due (at most once per interval, spread by a per-SA offset) and
/// otherwise carried over from the API server's copy, so they alone never cause a write.
fn apply_counters(
    status: &mut IpsecSecurityAssociationStatus,
    record: &SecurityAssociation,
    current: Option<&IpsecSecurityAssociationStatus>,
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
    let last = current.and_then(|status| status.counters_observed_at.as_ref());
    let due = last
        .is_none_or(|Time(observed)| counters_due(&record.uuid, *observed, policy.now, interval));
    let current_ipsec = current.and_then(|status| status.ipsec.as_ref());
    if due {
        ipsec.inbound = record_ipsec.inbound.as_ref().map(traffic_with_counters);
        ipsec.outbound = record_ipsec.outbound.as_ref().map(traffic_with_counters);
        status.counters_observed_at = Some(Time(whole_seconds(policy.now)));
    } else {
        let keep = |mine: &mut Option<IpsecTraffic>, theirs: Option<&IpsecTraffic>| {
            if let (Some(mine), Some(theirs)) = (mine.as_mut(), theirs) {
                mine.bytes = theirs.bytes;
                mine.packets = theirs.packets;
            }
        };
        keep(
            &mut ipsec.inbound,
            current_ipsec.and_then(|i| i.inbound.as_ref()),
        );
        keep(
            &mut ipsec.outbound,
            current_ipsec.and_then(|i| i.outbound.as_ref()),
        );
        status.counters_observed_at = last.cloned();
    }
}

/// Whether counters last written at `observed` are due at `now`. Each SA has its own phase
/// in the interval, taken from its uuid, and comes due at the first point of its phase at least
/// half an interval after its last write. So SAs first mirrored together are refreshed evenly
/// over one interval instead of in one burst, and then once per interval each; a clock that
/// went backwards makes them due at once.
fn counters_due(uuid: &str, observed: Timestamp, now: Timestamp, interval: Duration) -> bool {
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

fn tunnel_transition(
    current: &IpsecSecurityAssociation,
    desired: &DesiredObject,
) -> Option<TunnelTransition> {
    let before = current
        .status
        .as_ref()
        .and_then(|status| crate::crd::find_condition(&status.conditions, TYPE_READY))?;
    let up = match (before.status.as_str(), desired.ready.status) {
        ("False", Health::True) => true,
        ("True", Health::False) => false,
        _ => return None,
    };
    Some(TunnelTransition {
        name: desired.name.clone(),
        up,
        message: desired.ready.message.clone(),
    })
}

fn condition_status(health: Health) -> ConditionStatus {
    match health {
        Health::True => ConditionStatus::True,
        Health::False => ConditionStatus::False,
        Health::Unknown => ConditionStatus::Unknown,
    }
}

fn reference(reference: &model::ObjectReference) -> OntapReference {
    OntapReference {
        name: reference.name.clone(),
        uuid: reference.uuid.clone(),
    }
}

fn traffic_without_counters(direction: &TrafficDirection) -> IpsecTraffic {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            name: "prod".into(),
            namespace: "storage".into(),
            uid: "uid-1".into(),
        }
    }

    fn ipsec_record(uuid: &str, state: &str, bytes: u64) -> SecurityAssociation {
        serde_json::from_value(json!({
            "uuid": uuid, "type": "ipsec", "node": {"name": "n1", "uuid": "n-1"},
            "svm": {"name": "vs0", "uuid": "s-1"}, "scope": "svm", "policy_name": "p1",
            "local_address": "10.0.0.1", "remote_address": "fd00::2",
            "ipsec": {"state": state, "action": "esp_transport",
                "inbound": {"security_parameter_index": "0xABCD0001", "bytes": bytes, "packets": 7},
                "outbound": {"security_parameter_index": "abcd0002", "bytes": bytes, "packets": 8}}
        }))
        .expect("record decodes")
    }

    fn ike_record(uuid: &str, state: &str) -> SecurityAssociation {
        serde_json::from_value(json!({"uuid": uuid, "type": "ike", "scope": "cluster",
            "node": {"name": "n1"}, "ike": {"state": state, "version": 2}}))
        .expect("record decodes")
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("valid time")
    }

    fn policy(seconds: i64, counters: Option<u64>) -> StatusPolicy {
        StatusPolicy {
            counters_refresh_interval: counters.map(Duration::from_secs),
            now: at(seconds),
            rewrite_everything: false,
        }
    }

    /// The writes `desired` needs; fails the test when it needs none.
    fn written(desired: &DesiredObject) -> &Write {
        desired.write.as_deref().expect("a write")
    }

    /// What the API server would hold after applying the plan.
    fn stored(plan: &Plan) -> Vec<IpsecSecurityAssociation> {
        plan.objects
            .iter()
            .map(|desired| {
                let write = written(desired);
                let mut object = write.object.clone().expect("a new object is written whole");
                object.metadata.uid = Some(format!("uid-{}", desired.name));
                object.metadata.generation = Some(1);
                object.status = Some(write.status.clone());
                object
            })
            .collect()
    }

    fn by_name(objects: &[IpsecSecurityAssociation]) -> HashMap<String, &IpsecSecurityAssociation> {
        objects
            .iter()
            .map(|object| (object.metadata.name.clone().expect("named"), object))
            .collect()
    }

    #[test]
    fn new_sas_are_written_with_names_labels_owner_and_conditions() {
        let records = [
            ipsec_record("u-1", "installed", 10),
            ike_record("u-2", "connecting"),
        ];
        let plan = plan(&owner(), records, &HashMap::new(), policy(0, Some(900)));
        assert_eq!(plan.objects.len(), 2);
        let ipsec = &plan.objects[0];
        assert_eq!(ipsec.name, "prod-u-1");
        let ipsec = written(ipsec);
        let object = ipsec.object.as_ref().expect("object written");
        let labels = object.metadata.labels.clone().expect("labels");
        assert_eq!(labels[LABEL_REMOTE_ADDRESS], "fd00--2");
        assert_eq!(labels[LABEL_SVM], "vs0");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
        let owner_ref = &object.metadata.owner_references.clone().expect("owner")[0];
        assert_eq!(
            (owner_ref.kind.as_str(), owner_ref.controller),
            ("OntapCluster", Some(true))
        );
        let inbound = ipsec
            .status
            .ipsec
            .clone()
            .and_then(|i| i.inbound)
            .expect("inbound");
        assert_eq!(
            (inbound.spi.as_deref(), inbound.bytes),
            (Some("abcd0001"), Some(10))
        );
        let types: Vec<&str> = ipsec
            .status
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, [TYPE_IPSEC_INSTALLED, TYPE_READY]);
        let ike = written(&plan.objects[1]);
        assert!(
            !ike.object
                .as_ref()
                .expect("object written")
                .metadata
                .labels
                .clone()
                .expect("labels")
                .contains_key(LABEL_SVM)
        );
        assert_eq!(ike.status.conditions[0].type_, TYPE_IKE_ESTABLISHED);
        assert_eq!(ike.status.conditions[1].reason, "Connecting");
        assert_eq!(ike.status.state.as_deref(), Some("connecting"));
        assert!(plan.deletions.is_empty() && plan.transitions.is_empty());
    }

    #[test]
    fn unchanged_sas_need_no_write_even_when_counters_grow() {
        let first = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &HashMap::new(),
            policy(0, Some(900)),
        );
        let held = stored(&first);
        let existing = by_name(&held);
        // Never due within half an interval of the last write, whatever the SA's phase.
        for (seconds, bytes) in [(60, 20), (120, 30), (449, 40)] {
            let next = plan(
                &owner(),
                [ipsec_record("u-1", "installed", bytes)],
                &existing,
                policy(seconds, Some(900)),
            );
            assert_eq!(next.objects[0].write, None, "at {seconds}s");
        }
    }

    #[test]
    fn counters_are_written_within_one_and_a_half_intervals() {
        let first = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &HashMap::new(),
            policy(0, Some(900)),
        );
        let held = stored(&first);
        let later = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 99)],
            &by_name(&held),
            policy(1350, Some(900)),
        );
        let desired = written(&later.objects[0]);
        assert_eq!(desired.object, None);
        assert_eq!(desired.status.counters_observed_at, Some(Time(at(1350))));
        let outbound = desired
            .status
            .ipsec
            .clone()
            .and_then(|i| i.outbound)
            .expect("outbound");
        assert_eq!(outbound.bytes, Some(99));
    }

    /// The first second, from `from` on, at which counters written at `observed` are due.
    fn first_due(uuid: &str, observed: i64, from: i64) -> i64 {
        let interval = Duration::from_secs(900);
        (from..from + 2 * 900)
            .find(|&now| counters_due(uuid, at(observed), at(now), interval))
            .expect("due within two intervals")
    }

    #[test]
    fn counters_of_sas_mirrored_together_come_due_evenly_over_one_interval() {
        let mut per_tenth = [0_u32; 10];
        for n in 0..1000 {
            let due = first_due(&format!("5f1c{n:04}-8d3a-4b1e-9c2f-0a6b7e8d9c{n:02}"), 0, 0);
            assert!((450..1350).contains(&due), "due at {due}");
            per_tenth[usize::try_from((due - 450) / 90).expect("positive")] += 1;
        }
        // 100 expected in each tenth of the interval; a burst would fill one.
        assert!(
            per_tenth.iter().all(|&count| (50..=150).contains(&count)),
            "{per_tenth:?}"
        );
    }

    #[test]
    fn after_a_refresh_the_next_is_due_one_interval_later_despite_poll_lag() {
        for uuid in ["u-1", "0a0758cf-093f-405b-8fd1-77fcb09d73ca", "x"] {
            let first = first_due(uuid, 0, 0);
            // The poll that writes comes a little after the SA came due.
            let written = first + 7;
            assert_eq!(first_due(uuid, written, written), first + 900, "{uuid}");
        }
    }

    #[test]
    fn a_clock_that_went_backwards_makes_counters_due() {
        let interval = Duration::from_secs(900);
        assert!(counters_due("u-1", at(100), at(50), interval));
    }

    #[test]
    fn zero_refresh_interval_never_writes_counters() {
        let first = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &HashMap::new(),
            policy(0, None),
        );
        let inbound = written(&first.objects[0])
            .status
            .ipsec
            .clone()
            .and_then(|i| i.inbound)
            .expect("inbound");
        assert_eq!((inbound.bytes, inbound.packets), (None, None));
        assert_eq!(written(&first.objects[0]).status.counters_observed_at, None);
        let held = stored(&first);
        let later = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 1 << 40)],
            &by_name(&held),
            policy(86_400, None),
        );
        assert_eq!(later.objects[0].write, None);
    }

    #[test]
    fn a_state_change_writes_status_moves_transition_time_and_reports_the_transition() {
        let first = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &HashMap::new(),
            policy(0, None),
        );
        let held = stored(&first);
        let down = plan(
            &owner(),
            [ipsec_record("u-1", "deleting", 10)],
            &by_name(&held),
            policy(60, None),
        );
        let desired = &down.objects[0];
        assert_eq!(written(desired).object, None);
        let ready = crate::crd::find_condition(&written(desired).status.conditions, TYPE_READY)
            .expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "Deleting")
        );
        assert_eq!(ready.last_transition_time, Time(at(60)));
        assert_eq!(
            down.transitions,
            vec![TunnelTransition {
                name: "prod-u-1".into(),
                up: false,
                message: desired.ready.message.clone()
            }]
        );
    }

    #[test]
    fn a_message_change_keeps_the_transition_time() {
        let first = plan(
            &owner(),
            [ike_record("u-2", "connecting")],
            &HashMap::new(),
            policy(0, None),
        );
        let held = stored(&first);
        let again = plan(
            &owner(),
            [ike_record("u-2", "none")],
            &by_name(&held),
            policy(60, None),
        );
        let ready =
            crate::crd::find_condition(&written(&again.objects[0]).status.conditions, TYPE_READY)
                .expect("ready");
        assert_eq!(ready.reason, "None");
        assert_eq!(ready.last_transition_time, Time(at(0)));
        assert!(again.transitions.is_empty());
    }

    #[test]
    fn sas_gone_from_ontap_are_deleted_and_a_rekey_replaces_the_object() {
        let first = plan(
            &owner(),
            [ike_record("old", "established")],
            &HashMap::new(),
            policy(0, None),
        );
        let held = stored(&first);
        let rekeyed = plan(
            &owner(),
            [ike_record("new", "established")],
            &by_name(&held),
            policy(60, None),
        );
        assert_eq!(rekeyed.objects[0].name, "prod-new");
        assert!(written(&rekeyed.objects[0]).object.is_some());
        assert_eq!(
            rekeyed.deletions,
            vec![Deletion {
                name: "prod-old".into(),
                uid: Some("uid-prod-old".into())
            }]
        );
    }

    #[test]
    fn an_edited_label_is_restored() {
        let first = plan(
            &owner(),
            [ike_record("u-2", "established")],
            &HashMap::new(),
            policy(0, None),
        );
        let mut held = stored(&first);
        held[0]
            .metadata
            .labels
            .as_mut()
            .expect("labels")
            .insert(LABEL_NODE.into(), "other".into());
        held[0]
            .metadata
            .labels
            .as_mut()
            .expect("labels")
            .insert("team".into(), "kept".into());
        let next = plan(
            &owner(),
            [ike_record("u-2", "established")],
            &by_name(&held),
            policy(60, None),
        );
        assert!(written(&next.objects[0]).object.is_some());
        held[0]
            .metadata
            .labels
            .as_mut()
            .expect("labels")
            .insert(LABEL_NODE.into(), "n1".into());
        let fixed = plan(
            &owner(),
            [ike_record("u-2", "established")],
            &by_name(&held),
            policy(60, None),
        );
        assert_eq!(
            fixed.objects[0].write, None,
            "foreign labels are not ours to remove"
        );
    }

    #[test]
    fn stale_statuses_turn_every_condition_unknown_once() {
        let first = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &HashMap::new(),
            policy(0, None),
        );
        let mut held = stored(&first);
        let stale = stale_statuses(&by_name(&held), "no poll for 3m", at(200));
        assert_eq!(stale.len(), 1);
        let (name, status) = &stale[0];
        assert_eq!(name, "prod-u-1");
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.status == "Unknown" && c.reason == REASON_CLUSTER_UNREACHABLE)
        );
        assert_eq!(
            status.ipsec,
            written(&first.objects[0]).status.ipsec,
            "observed data is kept"
        );
        held[0].status = Some(status.clone());
        assert!(stale_statuses(&by_name(&held), "no poll for 3m", at(260)).is_empty());
        let recovered = plan(
            &owner(),
            [ipsec_record("u-1", "installed", 10)],
            &by_name(&held),
            policy(300, None),
        );
        assert!(recovered.objects[0].write.is_some());
        assert!(
            recovered.transitions.is_empty(),
            "Unknown to True is not a tunnel event"
        );
    }
}
