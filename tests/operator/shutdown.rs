//! Stopping the controller: a stop that comes before the first list of OntapClusters ends the
//! controller within its grace period instead of leaving it waiting for a cache that never fills.

use std::time::{Duration, Instant};

use ontap_ipsec_operator::controller::{self, RunOptions, STOP_GRACE};
use serde_json::json;

use crate::harness::{CLUSTER, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_stopped_before_its_first_list_returns_within_the_grace_period() {
    let harness = Harness::new("stop-early", ontap_sim::generate(1, 1)).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    let options = RunOptions::new(Some(harness.ns().to_owned()));
    let started = Instant::now();
    // The stop is already there when the controller starts: the widest form of a SIGTERM that
    // arrives right after a standby became the leader.
    let run = controller::run(harness.client.clone(), options, std::future::ready(()));
    let returned = tokio::time::timeout(STOP_GRACE + Duration::from_secs(20), run).await;
    assert!(
        returned.is_ok(),
        "controller::run had not returned {:?} after the stop",
        started.elapsed()
    );
    returned
        .expect("returned")
        .expect("the controller started and stopped");
    harness.finish().await;
}
