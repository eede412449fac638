//! Two replicas with `--leader-elect`: one writes, the other takes over when it dies or leaves.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use ontap_ipsec_operator::leader::{LEASE_DURATION_SECONDS, LEASE_NAME};
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::process::{OperatorProcess, sample};
use crate::support::wait;

async fn holder(harness: &Harness) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(harness.client.clone(), harness.ns());
    leases
        .get_opt(LEASE_NAME)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn writes(operator: &OperatorProcess) -> f64 {
    let text = operator.metrics().await;
    text.lines()
        .filter(|line| line.starts_with("ontap_ipsec_api_writes_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn assert_complete_mirror(harness: &Harness, expected: usize) {
    let items = harness.wait_for_mirror(expected).await;
    let uuids: HashSet<String> = items.iter().map(|item| item.spec.uuid.clone()).collect();
    assert_eq!(uuids.len(), expected, "no duplicates");
    let in_ontap: HashSet<String> = harness
        .simulator()
        .state()
        .records()
        .iter()
        .map(|r| r["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    assert_eq!(uuids, in_ontap, "exactly what ONTAP has");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over_after_the_leader_is_killed() {
    let records = ontap_sim::generate(1, 4);
    let harness = Harness::new("leader", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    let mut first = OperatorProcess::start(harness.ns(), "replica-a", true);
    wait::until(WAIT, "a leader", || async {
        holder(&harness).await.is_some()
    })
    .await;
    let second = OperatorProcess::start(harness.ns(), "replica-b", true);
    first.wait_ready().await;
    second.wait_ready().await;
    assert_complete_mirror(&harness, records.len()).await;
    let leader_name = holder(&harness).await.expect("held");
    assert_eq!(leader_name, "replica-a");
    assert!(writes(&first).await > 0.0);
    assert!(writes(&second).await < 0.5, "the standby writes nothing");
    assert_eq!(
        sample(
            &second.metrics().await,
            "ontap_ipsec_cluster_reachable",
            &[]
        ),
        None,
        "the standby does not poll"
    );

    first.kill();
    let killed = Instant::now();
    wait::until(
        Duration::from_secs(LEASE_DURATION_SECONDS * 3),
        "the standby takes over",
        || async { holder(&harness).await.as_deref() == Some("replica-b") },
    )
    .await;
    let takeover = killed.elapsed();
    assert!(
        takeover <= Duration::from_secs(LEASE_DURATION_SECONDS + 10),
        "took over in {takeover:?}"
    );
    let state = harness.simulator().state();
    let removed = records[0]["uuid"].as_str().expect("uuid");
    state.remove_record(removed).expect("removed");
    state
        .rekey_record(records[1]["uuid"].as_str().expect("uuid"))
        .expect("rekeyed");
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "the new leader mirrors", || async {
        let names: Vec<String> = harness
            .list_mirrored()
            .await
            .iter()
            .map(kube::ResourceExt::name_any)
            .collect();
        names.len() == records.len() - 1 && !names.iter().any(|n| n.ends_with(removed))
    })
    .await;
    assert_complete_mirror(&harness, records.len() - 1).await;
    assert!(writes(&second).await > 0.0);
    drop(second);
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_makes_the_leader_release_the_lease_and_exit_within_seconds() {
    let harness = Harness::new("sigterm", ontap_sim::generate(1, 1)).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    let mut leader = OperatorProcess::start(harness.ns(), "leaving", true);
    wait::until(WAIT, "leader", || async {
        holder(&harness).await.as_deref() == Some("leaving")
    })
    .await;
    let mut standby = OperatorProcess::start(harness.ns(), "staying", true);
    standby.wait_ready().await;
    harness.wait_for_mirror(2).await;
    let took = leader.terminate();
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    // Released, not left to expire: the holder is cleared at once.
    wait::until(Duration::from_secs(3), "the lease is released", || async {
        holder(&harness).await.as_deref() != Some("leaving")
    })
    .await;
    // The standby notices at its next look, within one lease duration.
    wait::until(
        Duration::from_secs(LEASE_DURATION_SECONDS + 5),
        "the standby holds the lease",
        || async { holder(&harness).await.as_deref() == Some("staying") },
    )
    .await;
    assert!(
        leader.log_text().contains("lease released"),
        "{}",
        leader.log_text()
    );
    standby.terminate();
    harness.finish().await;
}
