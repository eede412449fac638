//! The API server killed and started again while the operator runs: the operator survives,
//! reconnects, and what ONTAP changed meanwhile reaches the mirror. This uses a fresh API server
//! of its own, since restarting the shared one would break every other test running.

use std::time::Duration;

use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::process::OperatorProcess;
use crate::support::k8s;
use crate::support::wait;

/// Longer than a poll interval (10 s), so polls and the watches fail while it is down.
const DOWN_FOR: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_survives_an_api_server_restart_and_mirrors_what_changed_meanwhile() {
    let mut server = k8s::FreshApiServer::start().await;
    server.kubectl(&["apply", "--server-side", "-f", "crds/crds.yaml"]);
    server.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ontapclusters.ontap-ipsec.dev",
        "crd/ipsecsecurityassociations.ontap-ipsec.dev",
    ]);
    let client = server.client().await;
    let records = ontap_sim::generate(2, 5);
    let harness = Harness::new_with_client(client, "apiserver-restart", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    let mut operator = OperatorProcess::start_with_kubeconfig(
        harness.ns(),
        "restart",
        server.kubeconfig.path(),
        &[],
    );
    harness.wait_for_mirror(records.len()).await;

    let uuid = |kind: &str| {
        records.iter().find(|r| r["type"] == kind).expect("record")["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned()
    };
    let (down, gone) = (uuid("ike"), uuid("ipsec"));
    server.kill();
    let state = harness.simulator().state();
    state
        .patch_record(&down, &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    state.remove_record(&gone).expect("removed");
    tokio::time::sleep(DOWN_FOR).await;
    assert!(
        matches!(operator.get("/healthz").await, Some((200, _))),
        "the operator died while the API server was down:\n{}",
        operator.log_text()
    );
    server.restart().await;

    harness.wait_for_mirror(records.len() - 1).await;
    let down_name = format!("{CLUSTER}-{down}");
    wait::until(
        WAIT,
        "the tunnel that went down meanwhile is not Ready",
        || async {
            harness
                .mirrored()
                .get(&down_name)
                .await
                .ok()
                .and_then(|object| object.status)
                .and_then(|status| {
                    ontap_ipsec_operator::crd::find_condition(&status.conditions, "Ready").cloned()
                })
                .is_some_and(|ready| ready.status == "False")
        },
    )
    .await;
    let names: Vec<String> = harness
        .list_mirrored()
        .await
        .into_iter()
        .filter_map(|object| object.metadata.name)
        .collect();
    assert!(!names.contains(&format!("{CLUSTER}-{gone}")), "{names:?}");
    operator.terminate();
    harness.finish().await;
}
