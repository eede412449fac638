//! `/api/cluster`, `/api/cluster/nodes`, and what the configured ONTAP version changes.

use http::StatusCode;
use ontap_sim::{OntapVersion, SimulatorConfig};
use serde_json::json;

use crate::support::{Sim, four_records, uuid};

async fn sim_at(version: &str) -> Sim {
    Sim::start(SimulatorConfig {
        ontap_version: version.parse().expect("valid version"),
        records: four_records(),
        ..SimulatorConfig::default()
    })
    .await
}

#[tokio::test]
async fn cluster_reports_name_uuid_and_version() {
    let sim = Sim::start(SimulatorConfig {
        ontap_version: "9.12.1".parse().expect("valid version"),
        cluster_name: "prod-east".to_owned(),
        ..SimulatorConfig::default()
    })
    .await;
    let reply = sim.get("/api/cluster?fields=version,name,uuid").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "prod-east");
    assert!(
        reply.body["uuid"]
            .as_str()
            .is_some_and(|uuid| uuid.len() == 36)
    );
    assert_eq!(reply.body["version"]["generation"], 9);
    assert_eq!(reply.body["version"]["major"], 12);
    assert_eq!(reply.body["version"]["minor"], 1);
    assert!(
        reply.body["version"]["full"]
            .as_str()
            .is_some_and(|full| full.starts_with("NetApp Release 9.12.1: "))
    );
}

#[tokio::test]
async fn cluster_fields_can_narrow_the_answer() {
    let sim = sim_at("9.14.1").await;
    let reply = sim.get("/api/cluster?fields=version.full").await;
    assert!(reply.body.get("name").is_none());
    assert!(reply.body["version"].get("major").is_none());
    assert!(reply.body["version"]["full"].is_string());
}

#[tokio::test]
async fn patch_level_appears_only_in_full() {
    let sim = sim_at("9.16.1P3").await;
    let reply = sim.get("/api/cluster").await;
    assert_eq!(reply.body["version"]["minor"], 1);
    assert!(
        reply.body["version"]["full"]
            .as_str()
            .is_some_and(|full| full.starts_with("NetApp Release 9.16.1P3: "))
    );
}

#[tokio::test]
async fn nodes_are_derived_from_the_security_associations() {
    let sim = sim_at("9.14.1").await;
    let reply = sim.get("/api/cluster/nodes?fields=name,state").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["num_records"], 2);
    let names: Vec<_> = reply
        .records()
        .iter()
        .map(|node| node["name"].clone())
        .collect();
    assert_eq!(names, [json!("n1"), json!("n2")]);
    assert!(reply.records().iter().all(|node| node["state"] == "up"));
    let node = sim.get(&format!("/api/cluster/nodes/{}", uuid("e2"))).await;
    assert_eq!(node.body["name"], "n2");
}

#[tokio::test]
async fn generated_nodes_are_named_like_ontap_nodes() {
    let sim = Sim::with_records(ontap_sim::generate(3, 2)).await;
    let reply = sim
        .get("/api/cluster/nodes?fields=name&order_by=name")
        .await;
    let names: Vec<_> = reply
        .records()
        .iter()
        .map(|node| node["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            json!("cluster1-01"),
            json!("cluster1-02"),
            json!("cluster1-03")
        ]
    );
}

#[tokio::test]
async fn ike_version_is_a_string_before_9_11_1_and_an_integer_after() {
    for (version, expected) in [
        ("9.8.0", json!("2")),
        ("9.10.1", json!("2")),
        ("9.11.1", json!(2)),
        ("9.14.1", json!(2)),
    ] {
        let sim = sim_at(version).await;
        let reply = sim.collection("fields=ike.version&type=ike").await;
        assert_eq!(
            reply.records()[0]["ike"]["version"],
            expected,
            "ONTAP {version}"
        );
        let filtered = sim.collection("ike.version=2").await;
        assert_eq!(
            filtered.records().len(),
            2,
            "ONTAP {version} filters on the version"
        );
    }
}

#[tokio::test]
async fn offload_counters_exist_from_9_16_1() {
    let records = ontap_sim::generate(1, 1);
    for (version, present) in [("9.15.1", false), ("9.16.1", true)] {
        let sim = Sim::start(SimulatorConfig {
            ontap_version: version.parse().expect("valid version"),
            records: records.clone(),
            ..SimulatorConfig::default()
        })
        .await;
        let reply = sim.collection("fields=ipsec.inbound&type=ipsec").await;
        let inbound = &reply.records()[0]["ipsec"]["inbound"];
        assert_eq!(
            inbound.get("offload_bytes").is_some(),
            present,
            "ONTAP {version}"
        );
        let asked = sim.collection("fields=ipsec.inbound.offload_bytes").await;
        assert_eq!(
            asked.status == StatusCode::OK,
            present,
            "ONTAP {version} knows offload_bytes"
        );
    }
}

#[tokio::test]
async fn version_parsing_accepts_ontap_spellings() {
    assert_eq!(
        "9.8".parse::<OntapVersion>().expect("valid"),
        OntapVersion::new(9, 8, 0)
    );
    assert!("nine".parse::<OntapVersion>().is_err());
    let sim = sim_at("9.8").await;
    assert_eq!(sim.collection("").await.status, StatusCode::OK);
}
