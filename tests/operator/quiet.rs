//! Quiet on the API server: no writes in steady state, counters at most once per interval.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::harness::{CLUSTER, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_polls_write_nothing_when_only_counters_change() {
    let records = ontap_sim::generate(2, 10);
    let harness = Harness::start(
        "quiet",
        records.clone(),
        json!({"countersRefreshInterval": "0s"}),
    )
    .await;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    // Let the first status writes settle into the watch cache.
    harness.wait_for_polls(1).await;
    let versions = harness.resource_versions().await;
    let writes = harness.writes.total();
    let served = harness.simulator().state().request_count();
    harness.wait_for_polls(3).await;
    assert!(
        harness.simulator().state().request_count() >= served + 3,
        "three polls happened"
    );
    assert_eq!(
        harness.writes.total(),
        writes,
        "no write request in steady state"
    );
    assert_eq!(
        harness.resource_versions().await,
        versions,
        "no object changed"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_written_once_per_refresh_interval() {
    let records = ontap_sim::generate(1, 1);
    let ipsec = records.iter().filter(|r| r["type"] == "ipsec").count() as u64;
    let harness = Harness::start(
        "counters",
        records.clone(),
        json!({"countersRefreshInterval": "1m"}),
    )
    .await;
    harness.wait_for_mirror(records.len()).await;
    harness.wait_for_polls(1).await;
    let before = harness
        .writes
        .security_association_status_applies
        .load(Ordering::Relaxed);
    // Each SA comes due 30–90 s after its first write (1m is the shortest interval the CRD
    // allows), then every 60 s (120 s when the poll lags its phase by more than half the
    // interval); polls every 10 s. In 135 s every IPsec SA is written at least once and never
    // more often than once per 60 s.
    tokio::time::sleep(Duration::from_secs(135)).await;
    let written = harness
        .writes
        .security_association_status_applies
        .load(Ordering::Relaxed)
        - before;
    assert!(
        written >= ipsec && written <= 3 * ipsec,
        "{written} status writes for {ipsec} IPsec SAs over 135 s"
    );
    let item = harness
        .list_mirrored()
        .await
        .into_iter()
        .find(|i| i.status.as_ref().and_then(|s| s.ipsec.as_ref()).is_some())
        .expect("ipsec SA");
    let status = item.status.expect("status");
    assert!(status.counters_observed_at.is_some());
    assert!(
        status
            .ipsec
            .and_then(|i| i.inbound)
            .and_then(|d| d.bytes)
            .is_some()
    );
    harness.finish().await;
}
