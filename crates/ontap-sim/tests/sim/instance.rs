//! Instance GET: the bare record, `fields` on an instance, and the same data as the collection.

use http::StatusCode;
use serde_json::json;

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, uuid};

#[tokio::test]
async fn instance_get_returns_the_bare_record() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/{}", uuid("c")))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.get("records").is_none());
    assert_eq!(reply.body["uuid"], uuid("c"));
    assert_eq!(reply.body["ike"]["state"], "connecting");
    assert_eq!(
        reply.body["_links"]["self"]["href"],
        json!(format!("{SECURITY_ASSOCIATIONS}/{}", uuid("c")))
    );
}

#[tokio::test]
async fn instance_equals_the_record_in_the_collection() {
    let sim = Sim::with_records(four_records()).await;
    let collection = sim.collection("fields=*&type=ike").await;
    for record in collection.records() {
        let uuid = record["uuid"].as_str().expect("uuid");
        let instance = sim.get(&format!("{SECURITY_ASSOCIATIONS}/{uuid}")).await;
        assert_eq!(&instance.body, record);
    }
}

#[tokio::test]
async fn instance_fields_select_parts() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .get(&format!(
            "{SECURITY_ASSOCIATIONS}/{}?fields=ike.state,node.name",
            uuid("a")
        ))
        .await;
    assert_eq!(reply.body["ike"], json!({"state": "established"}));
    assert_eq!(reply.body["node"], json!({"name": "n1"}));
    assert!(reply.body.get("remote_address").is_none());
}

#[tokio::test]
async fn instance_rejects_filters() {
    let sim = Sim::with_records(four_records()).await;
    sim.get(&format!("{SECURITY_ASSOCIATIONS}/{}?type=ike", uuid("a")))
        .await
        .ontap_error(StatusCode::BAD_REQUEST, "262179");
}

#[tokio::test]
async fn fixture_records_with_unusual_keys_are_still_reachable() {
    let mut record = four_records()[0].clone();
    record["uuid"] = json!("legacy-key-1");
    let sim = Sim::with_records(vec![record]).await;
    let reply = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/legacy-key-1"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["uuid"], "legacy-key-1");
}
