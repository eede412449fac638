//! Injected faults: errors, latency, malformed JSON, dropped connections, short, empty and
//! oversized pages, errors inside 200 pages, wrong `num_records`, endless bodies, stalls, 401 for
//! valid credentials, and how `scope`, `from_page`, `skip` and `count` aim them.

use std::time::{Duration, Instant};

use http::StatusCode;
use ontap_sim::{Fault, FaultScope};
use reqwest::Method;
use serde_json::json;

use crate::support::{
    SECURITY_ASSOCIATIONS, Sim, client_trusting, four_records, post_faults, send, uuids,
};

/// Waits until no stalled or endless response holds a connection any more.
async fn wait_until_nothing_hangs(sim: &Sim) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hanging = sim.get("/_sim/stats").await.body["hanging"].as_u64();
        if hanging == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "responses still hanging after the client went away: {hanging:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn error_fault_answers_with_its_status_and_an_ontap_body() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(503))
        .expect("valid fault");
    let reply = sim.collection("").await;
    let error = reply.ontap_error(StatusCode::SERVICE_UNAVAILABLE, "1");
    assert!(error["message"].is_string());
    assert_eq!(reply.content_type.as_deref(), Some("application/hal+json"));
    assert_eq!(
        sim.get("/api/cluster").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn error_fault_carries_a_chosen_code_and_message() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error_with(500, "66257118", "IPsec is not ready."))
        .expect("valid fault");
    let reply = sim.collection("").await;
    let error = reply.ontap_error(StatusCode::INTERNAL_SERVER_ERROR, "66257118");
    assert_eq!(error["message"], "IPsec is not ready.");
}

#[tokio::test]
async fn forbidden_fault_uses_code_6() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(403))
        .expect("valid fault");
    let reply = sim.collection("").await;
    let error = reply.ontap_error(StatusCode::FORBIDDEN, "6");
    assert_eq!(error["message"], "not authorized for that command");
}

#[tokio::test]
async fn error_fault_from_page_two_lets_the_first_page_through() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(500).from_page(2))
        .expect("valid fault");
    let first = sim.collection("max_records=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let second = sim.get(&first.next().expect("next link")).await;
    assert_eq!(second.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(sim.collection("max_records=2").await.status, StatusCode::OK);
    assert_eq!(sim.get("/api/cluster").await.status, StatusCode::OK);
}

#[tokio::test]
async fn error_fault_with_count_expires_and_skip_delays_it() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(502).skip(1).count(2))
        .expect("valid fault");
    let statuses = [
        sim.collection("").await.status,
        sim.collection("").await.status,
        sim.collection("").await.status,
        sim.collection("").await.status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::BAD_GATEWAY,
            StatusCode::BAD_GATEWAY,
            StatusCode::OK
        ]
    );
    assert!(sim.state().faults().is_empty());
}

#[tokio::test]
async fn scoped_fault_leaves_other_endpoints_alone() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(503).with_scope(FaultScope::Collection))
        .expect("valid fault");
    assert_eq!(sim.get("/api/cluster").await.status, StatusCode::OK);
    assert_eq!(
        sim.get(&format!(
            "/api/security/ipsec/security-associations/{}",
            uuids("a")[0]
        ))
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        sim.collection("").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn latency_fault_delays_responses() {
    let sim = Sim::with_records(four_records()).await;
    sim.get("/api/cluster").await;
    sim.state()
        .set_fault(Fault::latency(Duration::from_millis(400)))
        .expect("valid fault");
    let started = Instant::now();
    let reply = sim.collection("").await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    sim.state().clear_faults();
    let started = Instant::now();
    sim.collection("").await;
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn malformed_json_fault_sends_an_unparseable_body() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::malformed_json())
        .expect("valid fault");
    let reply = sim.collection("").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<serde_json::Value>(&reply.text).is_err(),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn drop_connection_fault_closes_without_a_response() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::drop_connection().count(1))
        .expect("valid fault");
    let fresh = client_trusting(&sim.running.certificate_pem());
    let result = fresh
        .get(sim.url("/api/security/ipsec/security-associations"))
        .basic_auth("admin", Some("netapp1!"))
        .send()
        .await;
    let error = result.expect_err("no response arrives");
    assert!(!error.is_status(), "{error:?}");
    assert_eq!(
        sim.collection("").await.status,
        StatusCode::OK,
        "only one drop"
    );
}

#[tokio::test]
async fn short_pages_fault_serves_fewer_records_but_still_links_on() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::short_pages(1))
        .expect("valid fault");
    let pages = sim.read_all("max_records=3").await;
    let sizes: Vec<usize> = pages.iter().map(|page| page.records().len()).collect();
    assert_eq!(sizes, [1, 1, 1, 1]);
    let read: Vec<String> = pages
        .iter()
        .flat_map(crate::support::Reply::uuids)
        .collect();
    assert_eq!(read, uuids("abcd"));
}

#[tokio::test]
async fn empty_pages_fault_serves_empty_pages_that_link_to_the_same_position() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::empty_pages().count(2))
        .expect("valid fault");
    let first = sim.collection("max_records=10").await;
    assert_eq!(first.body["num_records"], 0);
    assert_eq!(first.records().len(), 0);
    let next = first.next().expect("an empty page still links on");
    assert!(
        next.contains(&format!("start.uuid={}", uuids("a")[0])),
        "{next}"
    );
    let second = sim.get(&next).await;
    assert_eq!(second.records().len(), 0);
    assert_eq!(second.next(), Some(next.clone()));
    let third = sim.get(&next).await;
    assert_eq!(third.uuids(), uuids("abcd"));
    assert_eq!(third.next(), None);
}

#[tokio::test]
async fn unauthorized_fault_rejects_valid_credentials() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::unauthorized().count(1))
        .expect("valid fault");
    let reply = sim.collection("").await;
    let error = reply.ontap_error(StatusCode::UNAUTHORIZED, "6691623");
    assert_eq!(error["message"], "User is not authorized.");
    assert_eq!(sim.collection("").await.status, StatusCode::OK);
}

#[tokio::test]
async fn faults_never_touch_the_control_api() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error(503))
        .expect("valid fault");
    sim.state()
        .set_fault(Fault::drop_connection())
        .expect("valid fault");
    let reply = sim.get("/_sim/security-associations").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn invalid_faults_are_refused_in_process() {
    let sim = Sim::with_records(four_records()).await;
    assert!(sim.state().set_fault(Fault::error(204)).is_err());
    assert!(sim.state().set_fault(Fault::error(500).count(0)).is_err());
    assert!(sim.state().faults().is_empty());
}

#[tokio::test]
async fn error_in_ok_fault_reports_an_error_and_leaves_out_the_last_node() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::error_in_ok().count(1))
        .expect("valid fault");
    let reply = sim.collection("fields=node.name").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // Record d (the last in uuid order) is on n2, so n2's records c and d are missing.
    assert_eq!(reply.uuids(), uuids("ab"));
    assert_eq!(reply.body["num_records"], 2);
    assert_eq!(reply.body["error"]["code"], "13");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("n2")),
        "{}",
        reply.text
    );
    let healthy = sim.collection("").await;
    assert_eq!(healthy.uuids(), uuids("abcd"));
    assert!(healthy.body.get("error").is_none());
}

#[tokio::test]
async fn error_in_ok_fault_takes_a_node_code_and_message_over_the_control_api() {
    let sim = Sim::with_records(four_records()).await;
    post_faults(
        &sim,
        &json!({"kind": "error_in_ok", "node": "n1", "code": "66257118", "message": "no answer"}),
    )
    .await;
    let reply = sim.collection("max_records=1").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.uuids(), uuids("c"));
    assert_eq!(
        reply.body["error"],
        json!({"code": "66257118", "message": "no answer"})
    );
    let rest = sim.get(&reply.next().expect("next link")).await;
    assert_eq!(rest.uuids(), uuids("d"));
    let count = sim.collection("return_records=false").await;
    assert_eq!(count.body["num_records"], 2);
    assert!(count.body["error"].is_object());
}

#[tokio::test]
async fn num_records_mismatch_fault_misreports_the_page_size() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::num_records_mismatch(1).count(1))
        .expect("valid fault");
    let reply = sim.collection("").await;
    assert_eq!(reply.uuids(), uuids("abcd"));
    assert_eq!(reply.body["num_records"], 5);
    post_faults(&sim, &json!({"kind": "num_records_mismatch", "delta": -1})).await;
    let reply = sim.collection("max_records=3").await;
    assert_eq!(reply.uuids(), uuids("abc"));
    assert_eq!(reply.body["num_records"], 2);
    let refused = send(
        sim.request(Method::POST, "/_sim/faults")
            .body(json!({"kind": "num_records_mismatch", "delta": 0}).to_string()),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "a delta of 0 is no mismatch"
    );
}

#[tokio::test]
async fn oversized_page_fault_serves_more_than_max_records() {
    let sim = Sim::with_records(four_records()).await;
    post_faults(&sim, &json!({"kind": "oversized_page", "count": 1})).await;
    let first = sim.collection("max_records=2").await;
    assert_eq!(first.uuids(), uuids("abc"));
    assert_eq!(first.body["num_records"], 3);
    let next = first.next().expect("records remain");
    assert!(
        next.contains(&format!("start.uuid={}", uuids("d")[0])),
        "{next}"
    );
    assert_eq!(sim.get(&next).await.uuids(), uuids("d"));
    sim.state()
        .set_fault(Fault::oversized_page(10))
        .expect("valid fault");
    let all = sim.collection("max_records=1").await;
    assert_eq!(all.uuids(), uuids("abcd"), "only as many as the set has");
    assert_eq!(all.next(), None);
}

#[tokio::test]
async fn endless_body_fault_streams_until_the_client_hangs_up() {
    const PREFIX: usize = 10 * 1024 * 1024;
    let sim = Sim::with_records(four_records()).await;
    post_faults(
        &sim,
        &json!({"kind": "endless_body", "scope": "collection", "count": 1}),
    )
    .await;
    let mut response = sim
        .request(Method::GET, SECURITY_ASSOCIATIONS)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .is_none()
    );
    assert_eq!(
        response
            .headers()
            .get(http::header::TRANSFER_ENCODING)
            .and_then(|value| value.to_str().ok()),
        Some("chunked")
    );
    let mut prefix = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while prefix.len() < PREFIX {
            let chunk = response
                .chunk()
                .await
                .expect("the body keeps coming")
                .expect("the body does not end");
            prefix.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("10 MiB arrive in time");
    assert!(prefix.starts_with(b"{\"records\":[{\"uuid\":"));
    assert_eq!(sim.state().hanging_responses(), 1);
    drop(response);
    wait_until_nothing_hangs(&sim).await;
    assert_eq!(sim.collection("").await.uuids(), uuids("abcd"));
}

#[tokio::test]
async fn stall_fault_never_answers_until_the_client_hangs_up() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::stall().with_scope(FaultScope::Collection).count(1))
        .expect("valid fault");
    let started = Instant::now();
    let result = sim
        .request(Method::GET, SECURITY_ASSOCIATIONS)
        .timeout(Duration::from_millis(1500))
        .send()
        .await;
    let error = result.expect_err("nothing arrives");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    wait_until_nothing_hangs(&sim).await;
    assert_eq!(sim.collection("").await.uuids(), uuids("abcd"));
}

#[tokio::test]
async fn stall_fault_holds_the_request_while_the_client_waits() {
    let sim = Sim::with_records(four_records()).await;
    sim.state()
        .set_fault(Fault::stall().count(1))
        .expect("valid fault");
    let request = sim.request(Method::GET, "/api/cluster");
    let waiting = tokio::spawn(async move { request.send().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.state().hanging_responses() == 0 {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a stalled request gets no answer");
    assert_eq!(sim.state().hanging_responses(), 1);
    waiting.abort();
    wait_until_nothing_hangs(&sim).await;
    assert_eq!(sim.get("/api/cluster").await.status, StatusCode::OK);
}
