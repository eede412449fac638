//! Tests of the whole plan: objects, statuses, counters, deletions and transitions.

use super::counters::counters_due;
use super::*;
use crate::controller::mirrored::Mirrored;
use crate::controller::source::DATA;
use crate::crd::condition::*;
use crate::crd::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use std::sync::Arc;

fn owner() -> Owner {
    Owner {
        cluster: ClusterId::new("storage", "prod"),
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

/// What the watch would keep of `objects`.
fn by_name(objects: &[IpsecSecurityAssociation]) -> HashMap<String, Arc<Mirrored>> {
    objects
        .iter()
        .map(|object| {
            let name = object.metadata.name.clone().expect("named");
            (name, Arc::new(Mirrored::of(object)))
        })
        .collect()
}

#[test]
fn new_sas_are_written_with_names_labels_owner_and_conditions() {
    let records = [
        ipsec_record("u-1", "installed", 10),
        ike_record("u-2", "connecting"),
    ];
    let plan = plan(
        &owner(),
        &DATA,
        records,
        &HashMap::new(),
        policy(0, Some(900)),
    );
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
        &DATA,
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
            &DATA,
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
        &DATA,
        [ipsec_record("u-1", "installed", 10)],
        &HashMap::new(),
        policy(0, Some(900)),
    );
    let held = stored(&first);
    let later = plan(
        &owner(),
        &DATA,
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
        &DATA,
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
        &DATA,
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
        &DATA,
        [ipsec_record("u-1", "installed", 10)],
        &HashMap::new(),
        policy(0, None),
    );
    let held = stored(&first);
    let down = plan(
        &owner(),
        &DATA,
        [ipsec_record("u-1", "deleting", 10)],
        &by_name(&held),
        policy(60, None),
    );
    let desired = &down.objects[0];
    assert_eq!(written(desired).object, None);
    let ready =
        crate::crd::find_condition(&written(desired).status.conditions, TYPE_READY).expect("ready");
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
        &DATA,
        [ike_record("u-2", "connecting")],
        &HashMap::new(),
        policy(0, None),
    );
    let held = stored(&first);
    let again = plan(
        &owner(),
        &DATA,
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
        &DATA,
        [ike_record("old", "established")],
        &HashMap::new(),
        policy(0, None),
    );
    let held = stored(&first);
    let rekeyed = plan(
        &owner(),
        &DATA,
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
        &DATA,
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
        &DATA,
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
        &DATA,
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
fn stale_conditions_turn_every_condition_unknown_once() {
    let first = plan(
        &owner(),
        &DATA,
        [ipsec_record("u-1", "installed", 10)],
        &HashMap::new(),
        policy(0, None),
    );
    let mut held = stored(&first);
    let stale = stale_conditions(&by_name(&held), "no poll for 3m", at(200));
    assert_eq!(stale.len(), 1);
    let (name, conditions) = &stale[0];
    assert_eq!(name, "prod-u-1");
    assert_eq!(conditions.len(), 2, "{conditions:?}");
    assert!(conditions.iter().all(|c| c.status == "Unknown"
        && c.reason == REASON_CLUSTER_UNREACHABLE
        && c.message == "no poll for 3m"
        && c.last_transition_time == Time(at(200))));
    // The merge patch replaces the conditions and keeps the observed data.
    held[0].status.as_mut().expect("status").conditions = conditions.clone();
    assert!(stale_conditions(&by_name(&held), "no poll for 3m", at(260)).is_empty());
    assert_eq!(
        stale_conditions(&by_name(&held), "no poll for 9m", at(260)).len(),
        1,
        "a new message is written"
    );
    let recovered = plan(
        &owner(),
        &DATA,
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
