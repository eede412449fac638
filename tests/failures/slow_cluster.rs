//! One ONTAP that takes minutes to answer its 10,000 SAs does not hold up the polls of
//! another cluster watched by the same operator.

use std::time::{Duration, Instant};

use kube::api::ListParams;
use ontap_ipsec_operator::crd::LABEL_CLUSTER;
use ontap_sim::{Fault, FaultScope, SimulatorConfig};
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

const SLOW_CLUSTER: &str = "slow";
const SLOW_CA: &str = "ontap-ca-slow";
/// Each page of the slow cluster takes this long, within its 30 s client timeout: 20 pages of
/// 500 SAs take more than six minutes, far longer than the test.
const SLOW_PAGE: Duration = Duration::from_secs(20);
/// One poll interval (10 s) plus its 10 % jitter, plus the 2 s allowed for the write.
const ONE_POLL: Duration = Duration::from_secs(13);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ontap_answering_ten_thousand_sas_slowly_does_not_delay_another_clusters_polls() {
    let fast_records = ontap_sim::generate(1, 5);
    let mut harness = Harness::new("slow-cluster", fast_records.clone()).await;
    let slow = ontap_sim::start(SimulatorConfig {
        records: ontap_sim::generate(50, 100),
        ..SimulatorConfig::default()
    })
    .await
    .expect("slow simulator starts");
    slow.state()
        .set_fault(Fault::latency(SLOW_PAGE).with_scope(FaultScope::Collection))
        .expect("fault");
    harness
        .put_secret(SLOW_CA, &[("ca.crt", &slow.certificate_pem())])
        .await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness
        .create_cluster(
            SLOW_CLUSTER,
            json!({"endpoint": slow.base_url(), "tls": {"caSecretRef": {"name": SLOW_CA}}}),
        )
        .await;
    harness.start_operator();
    harness.wait_for_mirror(fast_records.len()).await;
    // The slow listing is under way: cluster identity read, first page asked for.
    wait::until(WAIT, "the slow listing to start", || async {
        slow.state().request_count() >= 2
    })
    .await;

    // Three polls of the fast cluster while one page of the slow one is still coming, and a
    // state change in the fast cluster seen within one poll.
    let started = Instant::now();
    harness.wait_for_polls(3).await;
    let state = harness.simulator().state();
    let uuid = fast_records[0]["uuid"].as_str().expect("uuid").to_owned();
    state
        .patch_record(&uuid, &json!({"ike": {"state": "dead_peer_probe"}}))
        .expect("patched");
    let changed = Instant::now();
    let name = format!("{CLUSTER}-{uuid}");
    wait::until(
        ONE_POLL + Duration::from_secs(2),
        "the change in the fast cluster",
        || async {
            harness.sa_ready(&name).await == Some(("False".to_owned(), "DeadPeerProbe".to_owned()))
        },
    )
    .await;
    let latency = changed.elapsed();
    assert!(
        latency <= ONE_POLL,
        "the fast cluster's change took {latency:?}, more than one poll interval plus 2 s"
    );

    // All that happened while the slow cluster had not finished one listing.
    let slow_mirrored = harness
        .mirrored()
        .list_metadata(&ListParams::default().labels(&format!("{LABEL_CLUSTER}={SLOW_CLUSTER}")))
        .await
        .expect("list")
        .items
        .len();
    assert_eq!(slow_mirrored, 0, "the slow listing is still in progress");
    assert!(
        slow.state().request_count() < 2 + 20,
        "the slow cluster has not been read to its end"
    );
    assert!(
        started.elapsed() < SLOW_PAGE * 20,
        "the fast polls took {:?}",
        started.elapsed()
    );

    // Stop the slow simulator first so that the operator's in-flight poll ends at once.
    slow.shutdown().await;
    harness.finish().await;
}
