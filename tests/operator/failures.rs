//! Honest when it cannot see: unreachable ONTAP, faults mid-listing, bad credentials, missing
//! Secrets and invalid specs end as conditions, and nothing is deleted.

use std::time::Duration;

use ontap_ipsec_operator::crd::find_condition;
use ontap_sim::{Fault, FaultScope, SimulatorConfig};
use serde_json::json;

use crate::harness::{CLUSTER, CREDENTIALS, Harness, WAIT};
use crate::support::{k8s, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_turns_conditions_unknown_after_stale_after_polls_and_recovers() {
    let records = ontap_sim::generate(1, 2);
    let mut harness =
        Harness::start("unreachable", records.clone(), json!({"staleAfter": 2})).await;
    harness.wait_for_mirror(records.len()).await;
    let simulator = harness.simulator.take().expect("simulator");
    let address = simulator.local_addr();
    let identity = simulator.tls_identity();
    simulator.shutdown().await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unreachable")
        .await;
    wait::until(WAIT, "a ClusterUnreachable event", || async {
        harness
            .event_reasons(CLUSTER)
            .await
            .contains(&"ClusterUnreachable".to_owned())
    })
    .await;
    assert_eq!(
        harness
            .cluster_condition(CLUSTER, "Stalled")
            .await
            .map(|c| c.0)
            .as_deref(),
        Some("False")
    );
    // staleAfter 2 × pollInterval 10 s from the last success.
    wait::until(WAIT, "SA conditions Unknown", || async {
        let items = harness.list_mirrored().await;
        items.len() == records.len()
            && items.iter().all(|item| {
                item.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .all(|c| c.status == "Unknown" && c.reason == "ClusterUnreachable")
                })
            })
    })
    .await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "Unknown", "ClusterUnreachable")
        .await;
    assert_eq!(
        harness.list_mirrored().await.len(),
        records.len(),
        "nothing deleted"
    );

    harness.simulator = Some(
        ontap_sim::start(SimulatorConfig {
            listen: address,
            records,
            tls_identity: Some(identity),
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator restarts"),
    );
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    wait::until(WAIT, "SAs ready again", || async {
        harness.list_mirrored().await.iter().all(|item| {
            item.status
                .as_ref()
                .and_then(|s| find_condition(&s.conditions, "Ready"))
                .is_some_and(|c| c.status == "True")
        })
    })
    .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_that_cut_a_poll_short_delete_nothing() {
    let records = ontap_sim::generate(1, 10);
    let harness = Harness::start("faults", records.clone(), json!({"timeout": "2s"})).await;
    harness.wait_for_mirror(records.len()).await;
    let state = harness.simulator().state();
    // ONTAP lost half the SAs, and every listing breaks after its first short page.
    for record in records.iter().take(10) {
        state
            .remove_record(record["uuid"].as_str().expect("uuid"))
            .expect("removed");
    }
    let cases = [
        (Fault::error(503).from_page(2), "Unreachable"),
        (Fault::malformed_json().from_page(2), "BadResponse"),
        (
            Fault::latency(Duration::from_secs(5)).from_page(2),
            "Unreachable",
        ),
        (Fault::drop_connection().from_page(2), "Unreachable"),
    ];
    for (fault, reason) in cases {
        state
            .set_fault(Fault::short_pages(3).with_scope(FaultScope::Collection))
            .expect("fault");
        state.set_fault(fault.clone()).expect("fault");
        harness.refresh(CLUSTER).await;
        harness
            .wait_cluster_condition(CLUSTER, "Ready", "False", reason)
            .await;
        assert_eq!(
            harness.list_mirrored().await.len(),
            records.len(),
            "{fault:?} deleted nothing"
        );
        state.clear_faults();
    }
    harness.refresh(CLUSTER).await;
    harness.wait_for_mirror(records.len() - 10).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stalls_without_hammering_ontap() {
    let mut harness = Harness::new("password", ontap_sim::generate(1, 1)).await;
    harness
        .put_secret(
            CREDENTIALS,
            &[
                ("username", ontap_sim::DEFAULT_USERNAME),
                ("password", "wrong"),
            ],
        )
        .await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "Unauthorized")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "Unauthorized")
        .await;
    wait::until(WAIT, "a CredentialsRejected event", || async {
        harness.event_reasons(CLUSTER).await == ["CredentialsRejected"]
    })
    .await;
    let served = harness.simulator().state().request_count();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let more = harness.simulator().state().request_count() - served;
    assert!(
        more <= 1,
        "{more} requests to ONTAP in 40 s after the credentials were rejected"
    );
    assert!(harness.list_mirrored().await.is_empty());
    // A fixed Secret and a refresh recover at once.
    harness
        .put_secret(
            CREDENTIALS,
            &[
                ("username", ontap_sim::DEFAULT_USERNAME),
                ("password", ontap_sim::DEFAULT_PASSWORD),
            ],
        )
        .await;
    harness.refresh(CLUSTER).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "False", "Progressing")
        .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_reported_as_secret_not_found() {
    let mut harness = Harness::new("secret", ontap_sim::generate(1, 1)).await;
    harness
        .create_cluster(CLUSTER, json!({"credentialsSecretRef": {"name": "absent"}}))
        .await;
    harness.start_operator();
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "False", "SecretNotFound")
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "SecretNotFound")
        .await;
    let cluster = harness.clusters().get(CLUSTER).await.expect("cluster");
    let message = find_condition(&cluster.status.expect("status").conditions, "Ready")
        .expect("ready")
        .message
        .clone();
    assert!(message.contains("absent"), "{message}");
    assert_eq!(
        harness.simulator().state().request_count(),
        0,
        "ONTAP is not asked without credentials"
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spec_is_rejected_by_the_api_server_with_a_readable_message() {
    let harness = Harness::new("invalid", vec![]).await;
    let manifest = |spec: serde_json::Value| {
        json!({"apiVersion": "ontap-ipsec.dev/v1alpha1", "kind": "OntapCluster",
            "metadata": {"name": "bad", "namespace": harness.ns()}, "spec": spec})
        .to_string()
    };
    let cases = [
        (
            json!({"endpoint": "http://cluster1", "credentialsSecretRef": {"name": "c"}}),
            "https://",
        ),
        (
            json!({"endpoint": "https://cluster1", "credentialsSecretRef": {"name": "c"}, "pollInterval": "5s"}),
            "between 10s and 24h",
        ),
        (
            json!({"endpoint": "https://cluster1"}),
            "credentialsSecretRef",
        ),
    ];
    for (spec, expected) in cases {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), manifest(spec.clone())).expect("write");
        let output = k8s::kubectl([
            "apply",
            "--server-side",
            "-f",
            &file.path().display().to_string(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{spec} was accepted");
        assert!(stderr.contains(expected), "{spec}: {stderr}");
    }
    harness.finish().await;
}
