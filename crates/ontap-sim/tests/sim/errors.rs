//! ONTAP's error responses: status, string code, message and target for each attested case.

use http::StatusCode;
use ontap_sim::{OntapVersion, SimulatorConfig};
use reqwest::Method;
use serde_json::json;

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, send, uuid};

#[tokio::test]
async fn wrong_password_is_unauthorized_with_an_ontap_body() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.client
            .get(sim.url(SECURITY_ASSOCIATIONS))
            .basic_auth("admin", Some("wrong")),
    )
    .await;
    let error = reply.ontap_error(StatusCode::UNAUTHORIZED, "6691623");
    assert_eq!(error["message"], "User is not authorized.");
    assert_eq!(reply.content_type.as_deref(), Some("application/hal+json"));
}

#[tokio::test]
async fn missing_credentials_are_unauthorized_everywhere() {
    let sim = Sim::with_records(four_records()).await;
    for path in [
        SECURITY_ASSOCIATIONS,
        "/api/cluster",
        "/api/nothing",
        "/_sim/faults",
    ] {
        let reply = send(sim.client.get(sim.url(path))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.body["error"]["message"], "User is not authorized.");
    }
}

#[tokio::test]
async fn wrong_user_name_is_unauthorized() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(
        sim.client
            .get(sim.url("/api/cluster"))
            .basic_auth("root", Some("netapp1!")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_query_parameter_is_unexpected_argument_262179() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("colour=blue").await;
    let error = reply.ontap_error(StatusCode::BAD_REQUEST, "262179");
    assert_eq!(error["message"], "Unexpected argument \"colour\".");
}

#[tokio::test]
async fn unknown_field_is_invalid_field_262197_with_target_fields() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("fields=uuid,colour").await;
    let error = reply.ontap_error(StatusCode::BAD_REQUEST, "262197");
    assert_eq!(error["target"], "fields");
    assert_eq!(
        error["message"],
        "The value \"colour\" is invalid for field \"fields\" (<field,...>)"
    );
}

#[tokio::test]
async fn malformed_uuid_is_not_found_with_code_2() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/not-a-uuid"))
        .await;
    let error = reply.ontap_error(StatusCode::NOT_FOUND, "2");
    assert_eq!(error["target"], "uuid");
}

#[tokio::test]
async fn undecodable_uuid_is_not_found_with_code_2() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.get(&format!("{SECURITY_ASSOCIATIONS}/%FF%FE")).await;
    reply.ontap_error(StatusCode::NOT_FOUND, "2");
}

#[tokio::test]
async fn missing_entry_is_not_found_with_code_4() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/{}", uuid("999")))
        .await;
    let error = reply.ontap_error(StatusCode::NOT_FOUND, "4");
    assert_eq!(error["message"], "entry doesn't exist");
    assert_eq!(error["target"], "uuid");
}

#[tokio::test]
async fn extra_path_segment_is_not_found_with_code_262179() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .get(&format!("{SECURITY_ASSOCIATIONS}/{}/extra", uuid("a")))
        .await;
    let error = reply.ontap_error(StatusCode::NOT_FOUND, "262179");
    assert_eq!(error["message"], "Unexpected argument \"extra\".");
}

#[tokio::test]
async fn endpoint_before_9_8_is_not_found_with_code_3() {
    let sim = Sim::start(SimulatorConfig {
        ontap_version: OntapVersion::new(9, 7, 0),
        records: four_records(),
        ..SimulatorConfig::default()
    })
    .await;
    sim.collection("")
        .await
        .ontap_error(StatusCode::NOT_FOUND, "3");
    sim.get(&format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a")))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "3");
    assert_eq!(sim.get("/api/cluster").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_path_is_not_found_with_code_3() {
    let sim = Sim::with_records(four_records()).await;
    sim.get("/api/storage/volumes")
        .await
        .ontap_error(StatusCode::NOT_FOUND, "3");
}

#[tokio::test]
async fn writes_to_the_read_only_endpoint_are_not_allowed() {
    let sim = Sim::with_records(four_records()).await;
    let reply = send(sim.request(Method::POST, SECURITY_ASSOCIATIONS).body("{}")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.body["error"]["code"].is_string());
}

#[tokio::test]
async fn invalid_parameter_values_are_rejected() {
    let sim = Sim::with_records(four_records()).await;
    for (query, target) in [
        ("max_records=lots", "max_records"),
        ("max_records=0", "max_records"),
        ("return_records=perhaps", "return_records"),
        ("return_timeout=121", "return_timeout"),
        ("return_timeout=-1", "return_timeout"),
    ] {
        let reply = sim.collection(query).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.body["error"]["target"], json!(target), "{query}");
    }
}
