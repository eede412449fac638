//! Drives the operator through the situations the integrations must recognise (healthy, tunnels
//! down, bad credentials, unreachable, stale, suspended, generation not yet observed, new) and
//! keeps the objects it produced at each step, exactly as the API server returns them.

use std::collections::BTreeMap;

use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, OntapCluster};
use ontap_sim::{Fault, FaultScope};
use serde_json::{Value, json};

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::normalize::Normalizer;
use crate::support::wait;

/// `OntapCluster` cases, named as their test data files.
pub const CLUSTER_CASES: [&str; 8] = [
    "healthy",
    "tunnels-down",
    "unauthorized",
    "unreachable",
    "stale",
    "suspended",
    "generation-not-observed",
    "new",
];
/// `IpsecSecurityAssociation` cases, named as their test data files.
pub const ASSOCIATION_CASES: [&str; 5] = [
    "ike-established",
    "ipsec-installed",
    "ike-connecting",
    "ipsec-deleting",
    "cluster-unreachable",
];
/// The `OntapCluster` created last, while the operator is stopped, so it has no status yet.
pub const NEW_CLUSTER: &str = "new";

/// Live objects by case name, and how to normalise them.
#[derive(Debug)]
pub struct Captured {
    pub normalizer: Normalizer,
    pub clusters: BTreeMap<&'static str, Value>,
    pub associations: BTreeMap<&'static str, Value>,
}

/// The name the operator gives the mirror of `record`.
pub fn mirrored_name(record: &Value) -> String {
    format!(
        "{CLUSTER}-{}",
        record["uuid"].as_str().expect("records have a uuid")
    )
}

/// An object as the API server returns it, as JSON.
pub async fn fetch<K>(client: &Client, namespace: &str, name: &str) -> Value
where
    K: kube::Resource<DynamicType = ()>,
{
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object = api
        .get(name)
        .await
        .unwrap_or_else(|error| panic!("cannot get {name}: {error}"));
    serde_json::to_value(object).expect("objects serialise")
}

/// Waits until the `Ready` condition of the mirror of `record` has `status` and `reason`.
pub async fn wait_association(harness: &Harness, record: &Value, status: &str, reason: &str) {
    let name = mirrored_name(record);
    wait::until(
        WAIT,
        &format!("{name} Ready={status} ({reason})"),
        || async { harness.sa_ready(&name).await == Some((status.to_owned(), reason.to_owned())) },
    )
    .await;
}

async fn patch_spec(harness: &Harness, spec: Value) {
    harness
        .clusters()
        .patch(
            CLUSTER,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "spec": spec })),
        )
        .await
        .expect("spec patched");
}

fn patch_record(harness: &Harness, record: &Value, patch: &Value) {
    let uuid = record["uuid"].as_str().expect("uuid");
    harness
        .simulator()
        .state()
        .patch_record(uuid, patch)
        .expect("record patched");
}

/// Collects the objects of one run, by case.
struct Recorder {
    harness: Harness,
    clusters: BTreeMap<&'static str, Value>,
    associations: BTreeMap<&'static str, Value>,
}

impl Recorder {
    async fn cluster(&mut self, case: &'static str, name: &str) -> &Value {
        let object = fetch::<OntapCluster>(&self.harness.client, self.harness.ns(), name).await;
        self.clusters.entry(case).or_insert(object)
    }

    async fn association(&mut self, case: &'static str, record: &Value) {
        let name = mirrored_name(record);
        let object =
            fetch::<IpsecSecurityAssociation>(&self.harness.client, self.harness.ns(), &name).await;
        self.associations.insert(case, object);
    }
}

/// Runs every situation once, in one namespace, and returns the objects of each.
pub async fn capture() -> Captured {
    // Two tunnels: records 0 and 1 are the IKE and IPsec SAs of the first, 2 and 3 of the second.
    let records = ontap_sim::generate(1, 2);
    let harness = Harness::start("gitops-capture", records.clone(), json!({"staleAfter": 1})).await;
    let normalizer = Normalizer {
        namespace: harness.ns().to_owned(),
        simulator_authority: harness.simulator().local_addr().to_string(),
    };
    let mut recorder = Recorder {
        harness,
        clusters: BTreeMap::new(),
        associations: BTreeMap::new(),
    };
    capture_tunnel_cases(&mut recorder, &records).await;
    capture_failure_cases(&mut recorder, &records).await;
    capture_unobserved_cases(&mut recorder).await;
    let Recorder {
        harness,
        clusters,
        associations,
    } = recorder;
    harness.finish().await;
    Captured {
        normalizer,
        clusters,
        associations,
    }
}

/// Healthy, then one tunnel renegotiating and another not installed, then healthy again.
async fn capture_tunnel_cases(recorder: &mut Recorder, records: &[Value]) {
    let harness = &recorder.harness;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "True", "AllTunnelsUp")
        .await;
    recorder.cluster("healthy", CLUSTER).await;
    recorder.association("ike-established", &records[0]).await;
    recorder.association("ipsec-installed", &records[1]).await;

    let harness = &recorder.harness;
    patch_record(
        harness,
        &records[0],
        &json!({"ike": {"state": "connecting"}}),
    );
    patch_record(
        harness,
        &records[3],
        &json!({"ipsec": {"state": "deleting"}}),
    );
    harness.refresh(CLUSTER).await;
    wait_association(harness, &records[0], "False", "Connecting").await;
    wait_association(harness, &records[3], "False", "Deleting").await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "False", "TunnelsDown")
        .await;
    recorder.cluster("tunnels-down", CLUSTER).await;
    recorder.association("ike-connecting", &records[0]).await;
    recorder.association("ipsec-deleting", &records[3]).await;

    let harness = &recorder.harness;
    patch_record(
        harness,
        &records[0],
        &json!({"ike": {"state": "established"}}),
    );
    patch_record(
        harness,
        &records[3],
        &json!({"ipsec": {"state": "installed"}}),
    );
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "True", "AllTunnelsUp")
        .await;
}

/// Rejected credentials, then ONTAP unreachable until tunnel health goes stale, then suspended.
async fn capture_failure_cases(recorder: &mut Recorder, records: &[Value]) {
    // Faults hit only the listing, so every failed poll fails on the same request and the
    // messages do not depend on how many retries happened before a capture.
    let listing = FaultScope::Collection;
    let harness = &recorder.harness;
    let state = harness.simulator().state();
    state
        .set_fault(Fault::unauthorized().with_scope(listing))
        .expect("fault");
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "Unauthorized")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unauthorized")
        .await;
    recorder.cluster("unauthorized", CLUSTER).await;

    let harness = &recorder.harness;
    state.clear_faults();
    harness.refresh(CLUSTER).await;
    // A fresh success, so the next failure is captured well before staleAfter × pollInterval.
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    state
        .set_fault(Fault::error(503).with_scope(listing))
        .expect("fault");
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unreachable")
        .await;
    let unreachable = recorder.cluster("unreachable", CLUSTER).await;
    assert_eq!(
        condition_status(unreachable, "TunnelsHealthy"),
        Some("True"),
        "the unreachable case was captured after tunnel health went stale; too slow for staleAfter 1"
    );

    let harness = &recorder.harness;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "Unknown", "ClusterUnreachable")
        .await;
    wait_association(harness, &records[0], "Unknown", "ClusterUnreachable").await;
    recorder.cluster("stale", CLUSTER).await;
    recorder
        .association("cluster-unreachable", &records[0])
        .await;

    let harness = &recorder.harness;
    state.clear_faults();
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    patch_spec(harness, json!({"suspend": true})).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Suspended")
        .await;
    recorder.cluster("suspended", CLUSTER).await;
}

/// With the operator stopped, a spec change stays unobserved and a new object stays bare.
async fn capture_unobserved_cases(recorder: &mut Recorder) {
    recorder.harness.stop_operator().await;
    patch_spec(
        &recorder.harness,
        json!({"suspend": false, "pollInterval": "20s"}),
    )
    .await;
    recorder.cluster("generation-not-observed", CLUSTER).await;
    recorder
        .harness
        .create_cluster(NEW_CLUSTER, json!({}))
        .await;
    recorder.cluster("new", NEW_CLUSTER).await;
}

/// The `status` of condition `type_` of a JSON object.
pub fn condition_status<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)?["status"]
        .as_str()
}
