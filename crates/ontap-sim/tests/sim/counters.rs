//! Traffic counters of installed `ipsec` SAs grow on every read; other SAs stay put.

use serde_json::{Value, json};

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, uuid};

fn bytes(record: &Value, direction: &str) -> u64 {
    record["ipsec"][direction]["bytes"].as_u64().expect("bytes")
}

fn packets(record: &Value, direction: &str) -> u64 {
    record["ipsec"][direction]["packets"]
        .as_u64()
        .expect("packets")
}

#[tokio::test]
async fn installed_ipsec_counters_grow_on_every_collection_read() {
    let sim = Sim::with_records(four_records()).await;
    let query = format!("fields=ipsec&uuid={}", uuid("b"));
    let mut previous = sim.collection(&query).await.records()[0].clone();
    for _ in 0..3 {
        let current = sim.collection(&query).await.records()[0].clone();
        for direction in ["inbound", "outbound"] {
            assert!(bytes(&current, direction) > bytes(&previous, direction));
            assert!(packets(&current, direction) > packets(&previous, direction));
        }
        previous = current;
    }
}

#[tokio::test]
async fn instance_reads_also_move_counters() {
    let sim = Sim::with_records(four_records()).await;
    let path = format!("{SECURITY_ASSOCIATIONS}/{}", uuid("b"));
    let first = sim.get(&path).await.body;
    let second = sim.get(&path).await.body;
    assert!(bytes(&second, "inbound") > bytes(&first, "inbound"));
}

#[tokio::test]
async fn ike_and_not_installed_sas_do_not_move() {
    let sim = Sim::with_records(four_records()).await;
    let read = |reply: &crate::support::Reply| -> Vec<Value> {
        reply
            .records()
            .iter()
            .filter(|record| record["uuid"] != json!(uuid("b")))
            .cloned()
            .collect()
    };
    let before = read(&sim.collection("fields=*").await);
    let after = read(&sim.collection("fields=*").await);
    assert_eq!(before, after);
    assert_eq!(
        bytes(&after[2], "inbound"),
        5,
        "the SA in state none keeps its counters"
    );
}

#[tokio::test]
async fn counters_stop_when_the_sa_leaves_installed() {
    let sim = Sim::with_records(four_records()).await;
    let query = format!("fields=ipsec&uuid={}", uuid("b"));
    sim.collection(&query).await;
    sim.state()
        .patch_record(&uuid("b"), &json!({"ipsec": {"state": "none"}}))
        .expect("record exists");
    let first = sim.collection(&query).await.records()[0].clone();
    let second = sim.collection(&query).await.records()[0].clone();
    assert_eq!(first, second);
    assert!(bytes(&first, "inbound") > 1000, "growth so far is kept");
}

#[tokio::test]
async fn counter_filters_see_the_grown_values() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("ipsec.inbound.bytes=>1000").await;
    assert_eq!(reply.records().len(), 1);
    assert_eq!(reply.records()[0]["uuid"], uuid("b"));
}
