//! ONTAP 9.19's cluster interconnect SAs beside the data network's: both mirrored from one
//! cluster, each source pruning only its own mirrors, and a clean fallback on older releases.

use std::collections::BTreeMap;

use kube::ResourceExt as _;
use kube::api::{Patch, PatchParams};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, Network};
use ontap_sim::{Fault, FaultScope, OntapVersion, SimulatorConfig};
use serde_json::json;

use crate::harness::{CLUSTER, Harness};
use crate::support::wait;

const NETWORK_LABEL: &str = "ontap-ipsec.dev/network";

fn uuid_of(record: &serde_json::Value) -> String {
    record["uuid"].as_str().expect("uuid").to_owned()
}

fn version(text: &str) -> OntapVersion {
    text.parse().expect("version")
}

/// Object uids by name, of the objects of one network.
fn uids_of(items: &[IpsecSecurityAssociation], network: &str) -> BTreeMap<String, String> {
    items
        .iter()
        .filter(|item| item.labels().get(NETWORK_LABEL).map(String::as_str) == Some(network))
        .map(|item| (item.name_any(), item.uid().unwrap_or_default()))
        .collect()
}

async fn set_cluster_network(harness: &Harness, value: &str) {
    let patch = json!({"spec": {"clusterNetwork": value}});
    harness
        .clusters()
        .patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("spec patched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_9_19_cluster_mirrors_both_networks_and_each_source_prunes_only_its_own() {
    let data = ontap_sim::generate(1, 2);
    let interconnect = ontap_sim::generate_cluster_network(2, 2);
    let mut harness = Harness::with_simulator(
        "cluster-network",
        SimulatorConfig {
            ontap_version: version("9.19.1"),
            records: data.clone(),
            cluster_network: interconnect.clone(),
            ..SimulatorConfig::default()
        },
    )
    .await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();
    let items = harness
        .wait_for_mirror(data.len() + interconnect.len())
        .await;
    for record in &interconnect {
        let name = format!("{CLUSTER}-cn-{}", uuid_of(record));
        let item = items
            .iter()
            .find(|item| item.name_any() == name)
            .unwrap_or_else(|| panic!("{name} mirrored"));
        assert_eq!(item.labels()[NETWORK_LABEL], "cluster");
        let status = item.status.clone().expect("status");
        assert_eq!(status.network, Some(Network::Cluster));
        assert_eq!(status.svm, None, "the interconnect has no SVM");
    }
    for record in &data {
        let name = format!("{CLUSTER}-{}", uuid_of(record));
        let item = items
            .iter()
            .find(|item| item.name_any() == name)
            .unwrap_or_else(|| panic!("{name} mirrored"));
        assert_eq!(item.labels()[NETWORK_LABEL], "data");
    }
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let total = harness
        .clusters()
        .get(CLUSTER)
        .await
        .expect("cluster")
        .status
        .and_then(|status| status.security_associations)
        .map(|counts| counts.total);
    assert_eq!(
        total,
        Some(i64::try_from(data.len() + interconnect.len()).expect("small"))
    );

    // ONTAP drops one interconnect SA: only that mirror goes.
    let data_uids = uids_of(&items, "data");
    let gone = uuid_of(&interconnect[0]);
    let state = harness.simulator().state();
    state
        .cluster_network()
        .remove_record(&gone)
        .expect("removed");
    harness.refresh(CLUSTER).await;
    let items = harness
        .wait_for_mirror(data.len() + interconnect.len() - 1)
        .await;
    assert!(
        items
            .iter()
            .all(|item| item.name_any() != format!("{CLUSTER}-cn-{gone}"))
    );
    assert_eq!(uids_of(&items, "data"), data_uids, "data mirrors untouched");

    // ONTAP drops one data SA: only that mirror goes.
    let cluster_uids = uids_of(&items, "cluster");
    let gone = uuid_of(&data[0]);
    state.remove_record(&gone).expect("removed");
    harness.refresh(CLUSTER).await;
    let items = harness
        .wait_for_mirror(data.len() + interconnect.len() - 2)
        .await;
    assert!(
        items
            .iter()
            .all(|item| item.name_any() != format!("{CLUSTER}-{gone}"))
    );
    assert_eq!(
        uids_of(&items, "cluster"),
        cluster_uids,
        "interconnect mirrors untouched"
    );

    // The role loses the interconnect endpoint (403): the data network is still mirrored and
    // pruned, the interconnect's mirrors stay, and Ready says why.
    state
        .set_fault(Fault::error(403).with_scope(FaultScope::ClusterNetwork))
        .expect("fault set");
    let gone = uuid_of(&data[1]);
    state.remove_record(&gone).expect("removed");
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "ClusterNetworkUnsupported")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "ClusterNetworkUnsupported")
        .await;
    let items = harness
        .wait_for_mirror(data.len() + interconnect.len() - 3)
        .await;
    assert_eq!(
        uids_of(&items, "cluster"),
        cluster_uids,
        "an unserved source keeps its mirrors"
    );
    let (_, _, message) = harness
        .cluster_condition_message(CLUSTER, "Ready")
        .await
        .expect("ready");
    assert!(
        message.contains("/api/security/cluster-network/ipsec/associations"),
        "{message}"
    );

    // A failure that is not about rights fails the whole poll: nothing of either is pruned.
    state.clear_faults();
    state
        .set_fault(Fault::error(503).with_scope(FaultScope::ClusterNetwork))
        .expect("fault set");
    let before = harness.uids().await;
    let gone = uuid_of(&data[2]);
    state.remove_record(&gone).expect("removed");
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unreachable")
        .await;
    assert_eq!(
        harness.uids().await,
        before,
        "a failed poll deletes nothing"
    );

    // Turned off, the interconnect's mirrors go and the data network's stay.
    state.clear_faults();
    set_cluster_network(&harness, "Disabled").await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let data_left = data.len() - 3;
    let items = harness.wait_for_mirror(data_left).await;
    assert!(
        items
            .iter()
            .all(|item| item.labels()[NETWORK_LABEL] == "data"),
        "only data mirrors remain"
    );
    harness.stop_operator().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_9_19_auto_mirrors_the_data_network_and_enabled_says_cluster_network_unsupported() {
    let data = ontap_sim::generate(1, 2);
    let mut harness = Harness::with_simulator(
        "cluster-network-old",
        SimulatorConfig {
            ontap_version: version("9.18.1"),
            records: data.clone(),
            ..SimulatorConfig::default()
        },
    )
    .await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();
    let items = harness.wait_for_mirror(data.len()).await;
    assert!(
        items
            .iter()
            .all(|item| item.labels()[NETWORK_LABEL] == "data")
    );
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let uids = harness.uids().await;

    set_cluster_network(&harness, "Enabled").await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "ClusterNetworkUnsupported")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "ClusterNetworkUnsupported")
        .await;
    let (_, _, message) = harness
        .cluster_condition_message(CLUSTER, "Ready")
        .await
        .expect("ready");
    assert!(
        message.contains("9.18.1") && message.contains("9.19"),
        "{message}"
    );
    assert!(
        message.contains(&format!("mirrored {}", data.len())),
        "{message}"
    );

    // The data network is still mirrored: a tunnel that goes down shows.
    let ike = data
        .iter()
        .find(|record| record["type"] == "ike")
        .expect("an ike SA");
    let name = format!("{CLUSTER}-{}", uuid_of(ike));
    harness
        .simulator()
        .state()
        .patch_record(&uuid_of(ike), &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    harness.refresh(CLUSTER).await;
    wait::until(crate::harness::WAIT, "the tunnel to show down", || async {
        harness.sa_ready(&name).await == Some(("False".to_owned(), "Connecting".to_owned()))
    })
    .await;
    assert_eq!(harness.uids().await, uids, "nothing recreated or deleted");
    harness.stop_operator().await;
}
