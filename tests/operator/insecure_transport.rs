//! An OntapCluster whose spec turns TLS verification off says so in a condition and a warning
//! Event, and an operator told to forbid that refuses to poll it.

use serde_json::json;

use crate::harness::{CLUSTER, Harness};

const UNVERIFIED: &str = "unverified";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_tls_is_visible_in_a_condition_and_one_warning_event() {
    let records = ontap_sim::generate(1, 2);
    let mut harness = Harness::new("insecure-visible", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness
        .create_cluster(UNVERIFIED, json!({"tls": {"insecureSkipVerify": true}}))
        .await;
    harness.start_operator();
    harness
        .wait_cluster_condition(
            UNVERIFIED,
            "InsecureTransport",
            "True",
            "InsecureSkipVerify",
        )
        .await;
    harness
        .wait_cluster_condition(CLUSTER, "InsecureTransport", "False", "TlsVerified")
        .await;
    // It still polls: the condition informs, the flag below forbids.
    harness
        .wait_cluster_condition(UNVERIFIED, "Ready", "True", "Synced")
        .await;
    harness.wait_for_polls(2).await;
    let warnings = harness
        .event_reasons(UNVERIFIED)
        .await
        .into_iter()
        .filter(|reason| reason == "InsecureTransport")
        .count();
    assert_eq!(warnings, 1, "one warning, not one per poll");
    assert!(
        !harness
            .event_reasons(CLUSTER)
            .await
            .contains(&"InsecureTransport".to_owned())
    );
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_that_forbids_insecure_transport_stalls_such_a_cluster_and_polls_the_others() {
    let records = ontap_sim::generate(1, 2);
    let mut harness = Harness::new("insecure-forbidden", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness
        .create_cluster(UNVERIFIED, json!({"tls": {"insecureSkipVerify": true}}))
        .await;
    harness.start_operator_with(|options| options.forbid_insecure_transport = true);
    harness
        .wait_cluster_condition(UNVERIFIED, "Stalled", "True", "InsecureTransportForbidden")
        .await;
    harness
        .wait_cluster_condition(UNVERIFIED, "Ready", "False", "InsecureTransportForbidden")
        .await;
    harness.wait_for_mirror(records.len()).await;
    let unverified_mirrors = harness
        .list_mirrored()
        .await
        .iter()
        .filter(|object| object.spec.cluster_ref.name == UNVERIFIED)
        .count();
    assert_eq!(
        unverified_mirrors, 0,
        "nothing of the refused cluster is mirrored"
    );
    harness.finish().await;
}
