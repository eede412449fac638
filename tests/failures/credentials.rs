//! Credential rotation: ONTAP's password changes and the Secret follows; the very next poll
//! reads the new Secret and succeeds, without a refresh and without ever being rejected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ontap_sim::SimulatorConfig;
use serde_json::json;

use crate::harness::{CLUSTER, CREDENTIALS, Harness};
use crate::support::wait;

const ROTATED_PASSWORD: &str = "rotated-Pa55word";
/// One poll interval (10 s) with its jitter, plus time for the write.
const NEXT_POLL: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_is_used_by_the_next_poll_without_a_refresh() {
    let records = ontap_sim::generate(1, 3);
    let mut harness = Harness::start("rotation", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    // Right after a poll, so the next one is about a poll interval away.
    harness.wait_for_polls(1).await;

    // Watch the cluster's conditions throughout: a rejected poll would show as Unauthorized.
    let rejected = Arc::new(AtomicBool::new(false));
    let watcher = {
        let clusters = harness.clusters();
        let rejected = Arc::clone(&rejected);
        tokio::spawn(async move {
            loop {
                if let Ok(cluster) = clusters.get(CLUSTER).await {
                    let unauthorized = cluster.status.is_some_and(|status| {
                        status
                            .conditions
                            .iter()
                            .any(|condition| condition.reason == "Unauthorized")
                    });
                    if unauthorized {
                        rejected.store(true, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // ONTAP's password changes (the same cluster comes back with the new one) and the Secret
    // is updated to match.
    let old = harness.simulator.take().expect("simulator");
    let address = old.local_addr();
    let identity = old.tls_identity();
    old.shutdown().await;
    harness
        .put_secret(
            CREDENTIALS,
            &[
                ("username", ontap_sim::DEFAULT_USERNAME),
                ("password", ROTATED_PASSWORD),
            ],
        )
        .await;
    harness.simulator = Some(
        ontap_sim::start(SimulatorConfig {
            listen: address,
            records: records.clone(),
            password: ROTATED_PASSWORD.to_owned(),
            tls_identity: Some(identity),
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator restarts with the new password"),
    );
    let state = harness.simulator().state();
    // A change in ONTAP that only a successful poll with the new password can see.
    let uuid = records[0]["uuid"].as_str().expect("uuid").to_owned();
    state
        .patch_record(&uuid, &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    let name = format!("{CLUSTER}-{uuid}");
    wait::until(
        NEXT_POLL,
        "the change seen with the new password",
        || async {
            harness.sa_ready(&name).await == Some(("False".to_owned(), "Connecting".to_owned()))
        },
    )
    .await;
    watcher.abort();
    assert!(
        !rejected.load(Ordering::SeqCst),
        "no poll was rejected: the Secret was read again before it"
    );
    assert_eq!(
        harness.cluster_condition(CLUSTER, "Ready").await,
        Some(("True".to_owned(), "Synced".to_owned()))
    );
    harness.finish().await;
}
