//! ONTAP faults in the middle of a listing: each ends in a condition that names its cause and
//! stays retryable, no object is deleted or replaced until a listing completes, and a burst of
//! errors or a stray empty page recovers by itself.

use std::time::Duration;

use ontap_ipsec_operator::crd::find_condition;
use ontap_sim::{Fault, FaultScope};
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

/// When the cluster's `Ready` condition last changed status.
async fn ready_since(harness: &Harness) -> Option<String> {
    let cluster = harness.clusters().get(CLUSTER).await.ok()?;
    let condition = find_condition(&cluster.status?.conditions, "Ready")?.clone();
    Some(condition.last_transition_time.0.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_paging_fault_names_its_cause_stays_retryable_and_replaces_no_object() {
    let records = ontap_sim::generate(1, 10);
    let harness = Harness::start("paging-causes", records.clone(), json!({"timeout": "2s"})).await;
    harness.wait_for_mirror(records.len()).await;
    let before = harness.uids().await;
    let state = harness.simulator().state();
    // Half the SAs are gone from ONTAP: an incomplete listing taken for complete would delete them.
    for record in records.iter().take(10) {
        state
            .remove_record(record["uuid"].as_str().expect("uuid"))
            .expect("removed");
    }
    let cases = [
        (
            Fault::error(503).from_page(2),
            "Unreachable",
            "answered 503",
        ),
        (
            Fault::malformed_json().from_page(2),
            "BadResponse",
            "malformed at",
        ),
        (
            Fault::latency(Duration::from_secs(5)).from_page(2),
            "Unreachable",
            "did not answer",
        ),
        (
            Fault::drop_connection().from_page(2),
            "Unreachable",
            "cannot reach ONTAP",
        ),
        // Checked before the page-size fault so that it shapes page 2 onwards: an empty page
        // whose next link points where it already was.
        (
            Fault::empty_pages().from_page(2),
            "BadResponse",
            "repeated the next link",
        ),
    ];
    for (fault, reason, cause) in cases {
        state.set_fault(fault.clone()).expect("fault");
        state
            .set_fault(Fault::short_pages(3).with_scope(FaultScope::Collection))
            .expect("fault");
        harness.refresh(CLUSTER).await;
        wait::until(
            WAIT,
            &format!("Ready=False {reason} naming {cause:?}"),
            || async {
                harness
                    .cluster_condition_message(CLUSTER, "Ready")
                    .await
                    .is_some_and(|(status, actual, message)| {
                        status == "False" && actual == reason && message.contains(cause)
                    })
            },
        )
        .await;
        assert_eq!(
            harness
                .cluster_condition(CLUSTER, "Stalled")
                .await
                .map(|c| c.0)
                .as_deref(),
            Some("False"),
            "{fault:?} is retried, not left for a human"
        );
        assert_eq!(
            harness.uids().await,
            before,
            "{fault:?} deleted or replaced objects"
        );
        state.clear_faults();
    }
    harness.refresh(CLUSTER).await;
    harness.wait_for_mirror(records.len() - 10).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let after = harness.uids().await;
    assert!(
        after
            .iter()
            .all(|(name, uid)| before.get(name) == Some(uid)),
        "the SAs still in ONTAP kept their objects"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_503s_mid_listing_recovers_by_itself_and_only_then_prunes() {
    let records = ontap_sim::generate(1, 10);
    let harness = Harness::start("paging-burst", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let before = harness.uids().await;
    let state = harness.simulator().state();
    for record in records.iter().take(4) {
        state
            .remove_record(record["uuid"].as_str().expect("uuid"))
            .expect("removed");
    }
    // Three listings in a row fail on page 2; the fourth gets through.
    state
        .set_fault(Fault::error(503).from_page(2).count(3))
        .expect("fault");
    state
        .set_fault(Fault::short_pages(3).with_scope(FaultScope::Collection))
        .expect("fault");
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unreachable")
        .await;
    assert_eq!(
        harness.uids().await,
        before,
        "a failed listing deletes nothing"
    );
    // No refresh from here: the operator's own retries (5 s, 10 s, then the 10 s poll interval)
    // must get through the burst.
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    assert!(
        state.faults().iter().all(|fault| fault.count.is_none()),
        "all three 503s were served: {:?}",
        state.faults()
    );
    harness.wait_for_mirror(records.len() - 4).await;
    let after = harness.uids().await;
    assert!(
        after
            .iter()
            .all(|(name, uid)| before.get(name) == Some(uid)),
        "the SAs still in ONTAP kept their objects"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_empty_page_with_a_next_link_is_followed_to_the_end() {
    let records = ontap_sim::generate(1, 10);
    let harness = Harness::start("paging-empty", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let since = ready_since(&harness).await;
    let state = harness.simulator().state();
    state
        .remove_record(records[0]["uuid"].as_str().expect("uuid"))
        .expect("removed");
    // Added before the page-size fault so that it, not that one, shapes page 2.
    state
        .set_fault(Fault::empty_pages().from_page(2).count(1))
        .expect("fault");
    state
        .set_fault(Fault::short_pages(3).with_scope(FaultScope::Collection))
        .expect("fault");
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "the empty page served", || async {
        state.faults().len() == 1
    })
    .await;
    harness.wait_for_mirror(records.len() - 1).await;
    let (status, reason, message) = harness
        .cluster_condition_message(CLUSTER, "Ready")
        .await
        .expect("Ready");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Synced"),
        "an empty page with a next link is not the end, nor a loop: {message}"
    );
    assert_eq!(
        ready_since(&harness).await,
        since,
        "Ready never left True on the way"
    );
    harness.finish().await;
}
