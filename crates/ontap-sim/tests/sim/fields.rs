//! The `fields` parameter: absent, `*`, `**`, explicit dotted lists, and echoed filter fields.

use http::StatusCode;
use serde_json::json;

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, uuid};

#[tokio::test]
async fn absent_fields_return_only_uuid_and_links() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("").await;
    assert_eq!(
        reply.records()[0],
        json!({
            "uuid": uuid("a"),
            "_links": {"self": {"href": format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a"))}}
        })
    );
}

#[tokio::test]
async fn star_and_double_star_return_the_whole_record_with_links() {
    let sim = Sim::with_records(four_records()).await;
    for fields in ["*", "**"] {
        let reply = sim.collection(&format!("fields={fields}")).await;
        let record = &reply.records()[0];
        let mut expected = four_records()[0].clone();
        expected["_links"] =
            json!({"self": {"href": format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a"))}});
        expected["node"]["_links"] =
            json!({"self": {"href": format!("/api/cluster/nodes/{}", uuid("e1"))}});
        expected["svm"]["_links"] =
            json!({"self": {"href": format!("/api/svm/svms/{}", uuid("f1"))}});
        assert_eq!(record, &expected, "fields={fields}");
    }
}

#[tokio::test]
async fn explicit_dotted_fields_return_just_those_parts() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .collection("fields=node.name,ipsec.inbound,policy_name&type=ipsec&max_records=1")
        .await;
    let record = &reply.records()[0];
    assert_eq!(record["node"], json!({"name": "n1"}));
    assert_eq!(record["policy_name"], "policy_one");
    assert_eq!(
        record["ipsec"]["inbound"]["security_parameter_index"],
        "aaaa0001"
    );
    assert!(record["ipsec"].get("outbound").is_none());
    assert!(record["ipsec"].get("state").is_none());
    assert!(record.get("remote_address").is_none());
    assert_eq!(record["type"], "ipsec", "filter field is echoed");
}

#[tokio::test]
async fn whole_objects_can_be_selected() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("fields=svm&max_records=1").await;
    assert_eq!(reply.records()[0]["svm"]["name"], "vs1");
    assert_eq!(reply.records()[0]["svm"]["uuid"], json!(uuid("f1")));
}

#[tokio::test]
async fn filter_fields_are_echoed_into_records() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("ike.state=established").await;
    assert_eq!(reply.records().len(), 1);
    let record = &reply.records()[0];
    assert_eq!(record["ike"], json!({"state": "established"}));
    assert!(record.get("type").is_none());
}

#[tokio::test]
async fn fields_escaped_as_percent_2c_work_like_commas() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("fields=type%2Cscope&max_records=1").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.records()[0]["type"], "ike");
    assert_eq!(reply.records()[0]["scope"], "svm");
}
