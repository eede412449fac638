//! Mirroring: objects, names, labels, owners, printer columns, state changes, removal, rekeys,
//! garbage collection and namespace isolation.

use std::time::Duration;

use kube::ResourceExt as _;
use ontap_ipsec_operator::crd::find_condition;
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::{k8s, wait};

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn uuid_of(record: &serde_json::Value) -> String {
    record["uuid"].as_str().expect("uuid").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_ontap_cluster_mirrors_every_sa_with_names_labels_owner_and_status() {
    let records = ontap_sim::generate(2, 5);
    let harness = Harness::start("mirror", records.clone(), json!({})).await;
    let items = harness.wait_for_mirror(records.len()).await;
    let cluster = harness.clusters().get(CLUSTER).await.expect("cluster");
    for record in &records {
        let name = format!("{CLUSTER}-{}", uuid_of(record));
        let item = items
            .iter()
            .find(|i| i.name_any() == name)
            .unwrap_or_else(|| panic!("{name} mirrored"));
        assert_eq!(item.spec.uuid, uuid_of(record));
        assert_eq!(item.spec.cluster_ref.name, CLUSTER);
        let labels = item.labels();
        assert_eq!(labels["ontap-ipsec.dev/cluster"], CLUSTER);
        assert_eq!(
            labels["ontap-ipsec.dev/type"],
            record["type"].as_str().expect("type")
        );
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            "ontap-ipsec-operator"
        );
        let owner = &item.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("OntapCluster", cluster.uid().expect("uid").as_str())
        );
        let status = item.status.clone().expect("status");
        assert_eq!(
            status.remote_address.as_deref(),
            record["remote_address"].as_str()
        );
        assert_eq!(
            status.node.and_then(|n| n.name).as_deref(),
            record["node"]["name"].as_str()
        );
        assert_eq!(
            find_condition(&status.conditions, "Ready")
                .expect("ready")
                .status,
            "True"
        );
    }
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "True", "AllTunnelsUp")
        .await;
    let status = harness
        .clusters()
        .get(CLUSTER)
        .await
        .expect("cluster")
        .status
        .expect("status");
    let counts = status.security_associations.expect("counts");
    let total = i64::try_from(records.len()).expect("small");
    assert_eq!(
        (counts.total, counts.ready, counts.not_ready),
        (total, total, 0)
    );
    assert_eq!(
        status.ontap.and_then(|o| o.version).as_deref(),
        Some("9.14.1")
    );

    let wide = k8s::kubectl(["get", "ipsecsa", "-n", harness.ns(), "-o", "wide"]);
    let table = text(&wide);
    let header = table.lines().next().expect("header");
    for column in [
        "NAME", "TYPE", "NODE", "LOCAL", "REMOTE", "POLICY", "STATE", "READY", "AGE", "SVM",
        "CIPHER",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let first = &records[0];
    let row = table
        .lines()
        .find(|l| l.contains(&uuid_of(first)))
        .expect("row");
    assert!(
        row.contains(first["remote_address"].as_str().expect("remote")),
        "{row}"
    );
    assert!(row.contains("True"), "{row}");
    let category = text(&k8s::kubectl(["get", "ontap-ipsec", "-n", harness.ns()]));
    assert!(
        category.contains("ontapcluster.ontap-ipsec.dev/prod"),
        "{category}"
    );
    assert!(
        category.contains("ipsecsecurityassociation.ontap-ipsec.dev/prod-"),
        "{category}"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_change_flips_conditions_and_kubectl_wait_sees_the_tunnel_come_up() {
    let records = ontap_sim::generate(1, 2);
    let ike = records
        .iter()
        .find(|r| r["type"] == "ike")
        .expect("an IKE SA")
        .clone();
    let harness = Harness::start("state", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let name = format!("{CLUSTER}-{}", uuid_of(&ike));
    harness
        .simulator()
        .state()
        .patch_record(&uuid_of(&ike), &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    let took = wait::until(WAIT, "tunnel down", || async {
        harness.sa_ready(&name).await == Some(("False".into(), "Connecting".into()))
    })
    .await;
    assert!(
        took <= Duration::from_secs(2 * 11 + 5),
        "within two poll intervals, took {took:?}"
    );
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "False", "TunnelsDown")
        .await;
    let peers = harness
        .clusters()
        .get(CLUSTER)
        .await
        .expect("c")
        .status
        .expect("s")
        .unhealthy_peers;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].reason, "Connecting");

    let timed_out = k8s::kubectl([
        "wait",
        "--for=condition=Ready",
        "--timeout=3s",
        "-n",
        harness.ns(),
        &format!("ipsecsa/{name}"),
    ]);
    assert!(
        !timed_out.status.success(),
        "still down: {}",
        text(&timed_out)
    );
    let mut waiter = k8s::kubectl_command();
    waiter.args([
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        "-n",
        harness.ns(),
        &format!("ipsecsa/{name}"),
    ]);
    let waiting = tokio::task::spawn_blocking(move || waiter.output().expect("kubectl runs"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    harness
        .simulator()
        .state()
        .patch_record(&uuid_of(&ike), &json!({"ike": {"state": "established"}}))
        .expect("patched");
    let came_up = waiting.await.expect("joined");
    assert!(came_up.status.success(), "{}", text(&came_up));
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "True", "AllTunnelsUp")
        .await;
    wait::until(WAIT, "one TunnelDown and one TunnelUp event", || async {
        let mut reasons = harness.event_reasons(&name).await;
        reasons.sort();
        reasons == ["TunnelDown", "TunnelUp"]
    })
    .await;
    assert!(
        harness.event_reasons(CLUSTER).await.is_empty(),
        "no cluster transition happened"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sa_removed_from_ontap_is_deleted_and_a_rekey_replaces_the_object() {
    let records = ontap_sim::generate(1, 3);
    let harness = Harness::start("prune", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let state = harness.simulator().state();
    let removed = uuid_of(&records[0]);
    state.remove_record(&removed).expect("removed");
    let rekeyed = uuid_of(&records[1]);
    let replacement = state.rekey_record(&rekeyed).expect("rekeyed");
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "prune and rekey", || async {
        let names: Vec<String> = harness
            .list_mirrored()
            .await
            .iter()
            .map(kube::ResourceExt::name_any)
            .collect();
        names.len() == records.len() - 1
            && !names.contains(&format!("{CLUSTER}-{removed}"))
            && !names.contains(&format!("{CLUSTER}-{rekeyed}"))
            && names.contains(&format!("{CLUSTER}-{}", uuid_of(&replacement)))
    })
    .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_ontap_cluster_garbage_collects_its_sas() {
    let records = ontap_sim::generate(1, 2);
    let harness = Harness::start("gc", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    harness.delete_cluster(CLUSTER).await;
    // The garbage collector rediscovers custom resources every 30 s.
    wait::until(Duration::from_secs(120), "garbage collection", || async {
        harness.list_mirrored().await.is_empty()
    })
    .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ontap_clusters_in_two_namespaces_stay_apart() {
    let first = Harness::start("apart-a", ontap_sim::generate(1, 2), json!({})).await;
    let second = Harness::start("apart-b", ontap_sim::generate(2, 3), json!({})).await;
    first.wait_for_mirror(4).await;
    second.wait_for_mirror(12).await;
    first.wait_for_polls(2).await;
    assert_eq!(first.list_mirrored().await.len(), 4);
    assert_eq!(second.list_mirrored().await.len(), 12);
    for item in first.list_mirrored().await {
        assert_eq!(item.namespace().as_deref(), Some(first.ns()));
    }
    first.finish().await;
    second.finish().await;
}
