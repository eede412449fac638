//! `/metrics` (`--metrics-addr`), `/healthz` and `/readyz` (`--health-addr`) of a running operator.

use std::time::Duration;

use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::process::{OperatorProcess, count, sample};
use crate::support::wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_hold_one_up_series_per_sa_with_its_state_and_follow_the_simulator() {
    let records = ontap_sim::generate(1, 3);
    let down = records.iter().find(|r| r["type"] == "ike").expect("ike")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let gone = records
        .iter()
        .find(|r| r["type"] == "ipsec")
        .expect("ipsec")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let mut harness = Harness::new("metrics", records.clone()).await;
    harness
        .simulator()
        .state()
        .patch_record(&down, &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    harness.create_cluster(CLUSTER, json!({})).await;
    let operator = OperatorProcess::start(harness.ns(), "solo", false);
    assert!(matches!(
        operator.get("/healthz").await,
        None | Some((200, _))
    ));
    operator.wait_ready().await;
    let ns = harness.ns().to_owned();
    // SA series appear before the poll that produced them has finished its writes; the poll
    // itself is counted (and its duration observed) once they are done.
    wait::until(
        WAIT,
        "one sa_up series per SA and the poll counted",
        || async {
            let text = operator.metrics().await;
            count(&text, "ontap_ipsec_sa_up", ("namespace", &ns)) == records.len()
                && sample(
                    &text,
                    "ontap_ipsec_polls_total",
                    &[("namespace", &ns), ("outcome", "success")],
                )
                .is_some_and(|n| n >= 1.0)
        },
    )
    .await;
    let text = operator.metrics().await;
    for record in &records {
        let uuid = record["uuid"].as_str().expect("uuid");
        let name = format!("{CLUSTER}-{uuid}");
        let expected = if uuid == down { 0.0 } else { 1.0 };
        assert_eq!(
            sample(&text, "ontap_ipsec_sa_up", &[("name", &name)]),
            Some(expected),
            "{name}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "ontap_ipsec_cluster_reachable",
            &[("namespace", &ns)]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "ontap_ipsec_last_successful_poll_timestamp_seconds",
            &[("namespace", &ns)]
        )
        .is_some()
    );
    assert!(
        sample(
            &text,
            "ontap_ipsec_ontap_requests_total",
            &[("namespace", &ns), ("status", "200")]
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        text.contains("ontap_ipsec_poll_duration_seconds_bucket{"),
        "{text}"
    );
    let gone_name = format!("{CLUSTER}-{gone}");
    let bytes = |text: &str| {
        sample(
            text,
            "ontap_ipsec_sa_bytes_total",
            &[("name", &gone_name), ("direction", "inbound")],
        )
    };
    let first = bytes(&text).expect("counter exported");
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "counters grow", || async {
        bytes(&operator.metrics().await).is_some_and(|b| b > first)
    })
    .await;

    harness
        .simulator()
        .state()
        .remove_record(&gone)
        .expect("removed");
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "series of a removed SA are gone", || async {
        let text = operator.metrics().await;
        count(&text, "ontap_ipsec_sa_up", ("name", &gone_name)) == 0
            && count(&text, "ontap_ipsec_sa_bytes_total", ("name", &gone_name)) == 0
    })
    .await;

    harness
        .simulator
        .take()
        .expect("simulator")
        .shutdown()
        .await;
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "reachability drops", || async {
        sample(
            &operator.metrics().await,
            "ontap_ipsec_cluster_reachable",
            &[("namespace", &ns)],
        ) == Some(0.0)
    })
    .await;
    assert!(
        !operator.log_text().contains(ontap_sim::DEFAULT_PASSWORD),
        "no credential in the logs"
    );
    drop(operator);
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_answer_and_readyz_waits_for_the_caches() {
    let harness = Harness::new("health", vec![]).await;
    let operator = OperatorProcess::start(harness.ns(), "health", false);
    wait::until(Duration::from_secs(30), "healthz", || async {
        matches!(operator.get("/healthz").await, Some((200, _)))
    })
    .await;
    operator.wait_ready().await;
    assert!(
        operator.log_text().contains("mirrored objects cached"),
        "{}",
        operator.log_text()
    );
    // Each port serves only its own paths: the kubelet's probes never reach /metrics, and
    // /metrics can be locked down without touching the probes.
    let (metrics_port, health_port) = (operator.metrics_port, operator.health_port);
    assert_ne!(metrics_port, health_port);
    for path in ["/healthz", "/readyz"] {
        assert!(
            matches!(operator.get_from(metrics_port, path).await, Some((404, _))),
            "{path} is not on the metrics port"
        );
    }
    assert!(
        matches!(
            operator.get_from(health_port, "/metrics").await,
            Some((404, _))
        ),
        "/metrics is not on the health port"
    );
    assert!(matches!(
        operator.get_from(metrics_port, "/metrics").await,
        Some((200, _))
    ));
    drop(operator);
    harness.finish().await;
}
