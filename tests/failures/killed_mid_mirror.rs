//! The operator killed (SIGKILL) half-way through its first mirror of a large cluster, ONTAP
//! changing while it is down, and a new operator process finishing the job.

use std::time::{Duration, Instant};

use kube::api::ListParams;
use serde_json::json;

use crate::harness::{CLUSTER, Harness};
use crate::inventory::{Inventory, ontap_uuids};
use crate::process::{OperatorProcess, sample};
use crate::support::wait;

/// 2,000 SAs keep `make test` reasonable; `make bench` mirrors 10,000.
const TUNNELS_PER_NODE: usize = 100;
const NODES: usize = 10;
/// Kill once this many objects exist, well before the 2,000 are done.
const KILL_AFTER: usize = 150;
/// A debug build on a shared 2-core machine writes a few hundred objects a second.
const CONVERGE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_during_the_first_mirror_converges_after_restart_without_duplicates_or_orphans()
 {
    let records = ontap_sim::generate(NODES, TUNNELS_PER_NODE);
    let total = records.len();
    let harness = Harness::new("killed-mid-mirror", records.clone()).await;
    harness
        .create_cluster(CLUSTER, json!({"pollInterval": "10s"}))
        .await;
    let mut first = OperatorProcess::start(harness.ns(), "first", false);
    let started = Instant::now();
    let metadata = ListParams::default();
    wait::until(
        CONVERGE,
        &format!("{KILL_AFTER} objects mirrored"),
        || async {
            harness
                .mirrored()
                .list_metadata(&metadata)
                .await
                .is_ok_and(|list| list.items.len() >= KILL_AFTER)
        },
    )
    .await;
    first.kill();
    let at_kill = harness
        .mirrored()
        .list_metadata(&metadata)
        .await
        .expect("list")
        .items
        .len();
    assert!(
        at_kill < total,
        "the first mirror finished ({at_kill} of {total} in {:?}) before the kill; the test \
         proves nothing",
        started.elapsed()
    );

    // While no operator runs, ONTAP rekeys some SAs and drops others: the restarted operator
    // must create the new ones and prune the old, whether or not the first had mirrored them.
    let state = harness.simulator().state();
    for record in records.iter().step_by(97) {
        state
            .rekey_record(record["uuid"].as_str().expect("uuid"))
            .expect("rekeyed");
    }
    for record in records.iter().skip(1).step_by(89) {
        let uuid = record["uuid"].as_str().expect("uuid");
        // A record rekeyed above has a new uuid already; removing the old one again is a no-op.
        let _ = state.remove_record(uuid);
    }
    let expected = ontap_uuids(&state);
    assert_ne!(
        expected.len(),
        total,
        "ONTAP changed while the operator was down"
    );

    let second = OperatorProcess::start(harness.ns(), "second", false);
    second.wait_ready().await;
    wait::until(CONVERGE, "the mirror to match ONTAP", || async {
        Inventory::read(&harness.mirrored(), &harness.clusters(), CLUSTER)
            .await
            .matches(&expected)
    })
    .await;
    let converged = Inventory::read(&harness.mirrored(), &harness.clusters(), CLUSTER).await;
    assert!(
        converged.matches(&expected),
        "{}",
        converged.describe_against(&expected)
    );
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let status = harness
        .clusters()
        .get(CLUSTER)
        .await
        .expect("cluster")
        .status
        .expect("status");
    assert_eq!(
        status.security_associations.map(|counts| counts.total),
        Some(i64::try_from(expected.len()).expect("fits")),
        "the cluster status counts what is mirrored"
    );

    // Converged means stable: another poll neither creates nor deletes anything.
    let polls = || async {
        sample(
            &second.metrics().await,
            "ontap_ipsec_polls_total",
            &[("namespace", harness.ns()), ("outcome", "success")],
        )
        .unwrap_or_default()
    };
    let before = polls().await;
    // Two more: the first may have begun before the inventory above was read.
    wait::until(CONVERGE, "two more successful polls", || async {
        polls().await >= before + 2.0
    })
    .await;
    let after = Inventory::read(&harness.mirrored(), &harness.clusters(), CLUSTER).await;
    assert_eq!(
        after.uids, converged.uids,
        "a later poll recreated or deleted objects"
    );
    drop(second);
    harness.finish().await;
}
