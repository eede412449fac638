//! The `/_sim/` control API over HTTP, and the same operations through the in-process state.

use http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{JsonBody, SECURITY_ASSOCIATIONS, Sim, four_records, send, uuid, uuids};

const RECORDS: &str = "/_sim/security-associations";
const FAULTS: &str = "/_sim/faults";

#[tokio::test]
async fn control_get_lists_every_record_without_links() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.get(RECORDS).await;
    assert_eq!(reply.status, StatusCode::OK);
    let records = reply.body.as_array().expect("array");
    assert_eq!(records.len(), 4);
    assert_eq!(records[0], four_records()[0]);
}

#[tokio::test]
async fn control_put_replaces_the_whole_set() {
    let sim = Sim::with_records(four_records()).await;
    let replacement = vec![four_records()[2].clone()];
    let reply = send(sim.request(Method::PUT, RECORDS).json_body(&replacement)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["num_records"], 1);
    assert_eq!(sim.collection("").await.uuids(), uuids("c"));
}

#[tokio::test]
async fn control_put_refuses_invalid_sets_and_keeps_the_old_one() {
    let sim = Sim::with_records(four_records()).await;
    for (body, status) in [
        ("{\"not\": \"an array\"}", StatusCode::BAD_REQUEST),
        (
            "[{\"uuid\": \"x\"}, {\"uuid\": \"x\"}]",
            StatusCode::CONFLICT,
        ),
        ("[{\"type\": \"ike\"}]", StatusCode::BAD_REQUEST),
        ("not json", StatusCode::BAD_REQUEST),
    ] {
        let reply = send(sim.request(Method::PUT, RECORDS).body(body)).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(reply.body["error"]["message"].is_string());
    }
    assert_eq!(sim.collection("").await.uuids(), uuids("abcd"));
}

#[tokio::test]
async fn control_patch_merges_into_one_record() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.request(Method::PATCH, &format!("{RECORDS}/{}", uuid("a")))
            .json_body(&json!({"ike": {"state": "connecting"}, "policy_name": null})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["ike"]["state"], "connecting");
    assert_eq!(
        reply.body["ike"]["authentication"], "psk",
        "other ike fields stay"
    );
    let served = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a")))
        .await;
    assert_eq!(served.body["ike"]["state"], "connecting");
    assert!(served.body.get("policy_name").is_none(), "null removes");
}

#[tokio::test]
async fn control_patch_serves_undocumented_ipsec_states() {
    let sim = Sim::with_records(four_records()).await;
    let path = format!("{RECORDS}/{}", uuid("b"));
    for state in [
        "rekeying",
        "rekeyed",
        "updating",
        "installing",
        "retrying",
        "deleting",
        "deleted",
    ] {
        let reply = send(
            sim.request(Method::PATCH, &path)
                .json_body(&json!({"ipsec": {"state": state}})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{state}: {}", reply.text);
        let served = sim
            .get(&format!("{SECURITY_ASSOCIATIONS}/{}", uuid("b")))
            .await;
        assert_eq!(served.body["ipsec"]["state"], state);
        assert_eq!(served.body["ipsec"]["action"], "esp_transport");
        let filtered = sim.collection(&format!("ipsec.state={state}")).await;
        assert_eq!(filtered.uuids(), uuids("b"), "{state}");
    }
}

#[tokio::test]
async fn control_patch_of_a_missing_record_is_not_found() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.request(Method::PATCH, &format!("{RECORDS}/{}", uuid("9")))
            .json_body(&json!({"type": "ike"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_delete_removes_a_record() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(sim.request(Method::DELETE, &format!("{RECORDS}/{}", uuid("b")))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(sim.collection("").await.uuids(), uuids("acd"));
    let again = send(sim.request(Method::DELETE, &format!("{RECORDS}/{}", uuid("b")))).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_post_adds_a_record() {
    let sim = Sim::with_records(four_records()).await;
    let mut record = four_records()[0].clone();
    record["uuid"] = json!(uuid("e"));
    let reply = send(sim.request(Method::POST, RECORDS).json_body(&record)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(sim.collection("").await.uuids(), uuids("abcde"));
}

#[tokio::test]
async fn control_rekey_replaces_uuid_spis_and_counters() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(sim.request(Method::POST, &format!("{RECORDS}/{}/rekey", uuid("b")))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let new_uuid = reply.body["uuid"].as_str().expect("uuid").to_owned();
    assert_ne!(new_uuid, uuid("b"));
    assert_ne!(
        reply.body["ipsec"]["inbound"]["security_parameter_index"],
        "aaaa0001"
    );
    assert_eq!(reply.body["ipsec"]["inbound"]["bytes"], 0);
    assert_eq!(reply.body["policy_name"], "policy_one");
    let served = sim.collection("").await.uuids();
    assert!(served.contains(&new_uuid));
    assert!(!served.contains(&uuid("b")));
}

#[tokio::test]
async fn control_faults_can_be_added_listed_and_cleared() {
    let sim = Sim::with_records(four_records()).await;
    let added = send(sim.request(Method::POST, FAULTS).json_body(
        &json!([{"kind": "error", "status": 503, "count": 2}, {"kind": "latency", "millis": 1}]),
    ))
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body.as_array().map(Vec::len), Some(2));
    assert_eq!(
        sim.collection("").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let listed = sim.get(FAULTS).await;
    assert_eq!(listed.body[0]["count"], 1, "one use left");
    let cleared = send(sim.request(Method::DELETE, FAULTS)).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(sim.get(FAULTS).await.body, json!([]));
    assert_eq!(sim.collection("").await.status, StatusCode::OK);
}

#[tokio::test]
async fn control_rejects_invalid_faults_without_adding_any() {
    let sim = Sim::with_records(four_records()).await;
    for body in [
        json!({"kind": "explode"}),
        json!({"kind": "error", "status": 200}),
        json!([{"kind": "latency", "millis": 5}, {"kind": "error", "count": 0}]),
        json!({"kind": "latency"}),
    ] {
        let reply = send(sim.request(Method::POST, FAULTS).json_body(&body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(sim.get(FAULTS).await.body, json!([]));
}

#[tokio::test]
async fn control_api_needs_the_same_credentials() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.client
            .delete(sim.url(&format!("{RECORDS}/{}", uuid("a"))))
            .basic_auth("admin", Some("guess")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sim.state().records().len(), 4);
}

#[tokio::test]
async fn control_requests_are_not_counted_as_api_requests() {
    let sim = Sim::with_records(four_records()).await;
    sim.get(RECORDS).await;
    sim.get("/_sim/stats").await;
    assert_eq!(sim.state().request_count(), 0);
    sim.collection("").await;
    sim.get("/api/cluster").await;
    send(sim.client.get(sim.url("/api/cluster"))).await;
    assert_eq!(
        sim.state().request_count(),
        3,
        "unauthenticated requests count too"
    );
    let stats = sim.get("/_sim/stats").await;
    assert_eq!(
        stats.body,
        json!({
            "requests": 3, "records": 4, "hanging": 0,
            "cluster_network_requests": 0, "cluster_network_records": 0
        })
    );
}

#[tokio::test]
async fn in_process_state_changes_are_served_immediately() {
    let sim = Sim::with_records(Vec::new()).await;
    let state = sim.state();
    assert_eq!(sim.collection("").await.records().len(), 0);
    state
        .replace_records(four_records())
        .expect("valid records");
    assert_eq!(sim.collection("").await.uuids(), uuids("abcd"));
    state
        .patch_record(&uuid("c"), &json!({"ike": {"state": "established"}}))
        .expect("record exists");
    assert_eq!(
        sim.collection("ike.state=established").await.uuids(),
        uuids("ac")
    );
    state.remove_record(&uuid("a")).expect("record exists");
    assert_eq!(sim.collection("").await.uuids(), uuids("bcd"));
    let records: Vec<Value> = state.records();
    assert_eq!(records.len(), 3);
}
