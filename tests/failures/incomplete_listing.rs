//! A listing ONTAP itself marks as partial (an `error` object inside a 200 answer, or a
//! `num_records` that disagrees with the page) prunes nothing: the cluster says
//! `IncompleteListing`, and the mirrors of the SAs it left out keep their last state.

use ontap_sim::{Fault, FaultScope};
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_answer_from_ontap_prunes_nothing_and_says_incomplete_listing() {
    // Two nodes: the fault leaves out one node's records, as ONTAP does when that node's SA
    // table does not answer.
    let records = ontap_sim::generate(2, 4);
    let harness = Harness::start("incomplete", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let before = harness.uids().await;
    let state = harness.simulator().state();

    for (fault, cause) in [
        (
            Fault::error_in_ok_with(None, "66257118", "node cluster1-02 did not answer")
                .with_scope(FaultScope::Collection),
            "node cluster1-02 did not answer",
        ),
        (
            Fault::num_records_mismatch(1).with_scope(FaultScope::Collection),
            "num_records",
        ),
    ] {
        state.set_fault(fault).expect("fault");
        harness.refresh(CLUSTER).await;
        wait::until(
            WAIT,
            &format!("IncompleteListing naming {cause:?}"),
            || async {
                harness
                    .cluster_condition_message(CLUSTER, "Ready")
                    .await
                    .is_some_and(|(status, reason, message)| {
                        status == "False"
                            && reason == "IncompleteListing"
                            && message.contains(cause)
                    })
            },
        )
        .await;
        // Two more polls of the same partial answer: still nothing deleted or replaced.
        harness.wait_for_polls(2).await;
        assert_eq!(harness.uids().await, before, "{cause}: no mirror is pruned");
        state.clear_faults();
    }

    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    assert_eq!(harness.uids().await, before);
    harness.finish().await;
}
