//! Collection shape, `max_records` paging with next links, counting and speed.

use std::collections::BTreeSet;
use std::time::Instant;

use http::StatusCode;
use serde_json::json;

use crate::support::{SECURITY_ASSOCIATIONS, Sim, four_records, uuids};

#[tokio::test]
async fn collection_without_max_records_returns_everything_in_one_page() {
    let sim = Sim::generated(2, 3).await;
    let reply = sim.collection("").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["num_records"], 12);
    assert_eq!(reply.records().len(), 12);
    assert_eq!(reply.next(), None);
    assert_eq!(
        reply.body["_links"]["self"]["href"],
        json!(SECURITY_ASSOCIATIONS)
    );
}

#[tokio::test]
async fn pages_follow_next_links_until_every_record_is_read_once() {
    let sim = Sim::generated(2, 3).await;
    let pages = sim.read_all("max_records=5&fields=type").await;
    let sizes: Vec<_> = pages
        .iter()
        .map(|page| page.body["num_records"].clone())
        .collect();
    assert_eq!(sizes, [json!(5), json!(5), json!(2)]);
    let read: Vec<String> = pages
        .iter()
        .flat_map(crate::support::Reply::uuids)
        .collect();
    let mut expected: Vec<String> = sim
        .state()
        .records()
        .iter()
        .map(|record| record["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    expected.sort();
    assert_eq!(read, expected, "all records, once each, in uuid order");
    for page in &pages[..2] {
        let next = page.next().expect("a full page has a next link");
        assert!(
            next.starts_with(&format!("{SECURITY_ASSOCIATIONS}?start.uuid=")),
            "{next}"
        );
        assert!(next.ends_with("&max_records=5&fields=type"), "{next}");
    }
}

#[tokio::test]
async fn next_link_is_start_uuid_of_the_next_record_then_the_original_query() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim
        .collection("max_records=2&fields=node.name&type=ike|ipsec")
        .await;
    assert_eq!(reply.uuids(), uuids("ab"));
    assert_eq!(
        reply.next().expect("next link"),
        format!(
            "{SECURITY_ASSOCIATIONS}?start.uuid={}&max_records=2&fields=node.name&type=ike|ipsec",
            uuids("c")[0]
        )
    );
    let last = sim.get(&reply.next().expect("next link")).await;
    assert_eq!(last.uuids(), uuids("cd"));
    assert_eq!(
        last.next(),
        None,
        "an exactly full last page has no next link"
    );
}

#[tokio::test]
async fn num_records_counts_the_page_not_the_total() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("max_records=3").await;
    assert_eq!(reply.body["num_records"], 3);
}

#[tokio::test]
async fn order_is_by_uuid_and_stable_across_reads() {
    let mut records = four_records();
    records.reverse();
    let sim = Sim::with_records(records).await;
    let first = sim.collection("").await.uuids();
    let second = sim.collection("fields=*").await.uuids();
    assert_eq!(first, uuids("abcd"));
    assert_eq!(first, second);
}

#[tokio::test]
async fn return_records_false_counts_every_match_without_records() {
    let sim = Sim::with_records(four_records()).await;
    let all = sim.collection("return_records=false").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["num_records"], 4);
    assert!(all.body.get("records").is_none(), "{}", all.text);
    let filtered = sim
        .collection("return_records=false&type=ipsec&max_records=1")
        .await;
    assert_eq!(filtered.body["num_records"], 2);
    assert_eq!(filtered.next(), None);
}

#[tokio::test]
async fn return_timeout_within_zero_to_120_is_accepted() {
    let sim = Sim::with_records(four_records()).await;
    for timeout in ["0", "15", "120"] {
        let reply = sim.collection(&format!("return_timeout={timeout}")).await;
        assert_eq!(reply.status, StatusCode::OK, "return_timeout={timeout}");
        assert_eq!(reply.records().len(), 4);
    }
}

#[tokio::test]
async fn paging_continues_when_the_next_start_record_was_deleted() {
    let sim = Sim::with_records(four_records()).await;
    let first = sim.collection("max_records=2").await;
    sim.state()
        .remove_record(&uuids("c")[0])
        .expect("record exists");
    let second = sim.get(&first.next().expect("next link")).await;
    assert_eq!(second.uuids(), uuids("d"));
}

#[tokio::test]
async fn ten_thousand_records_read_in_pages_of_500_quickly() {
    let sim = Sim::generated(10, 500).await;
    let started = Instant::now();
    let pages = sim.read_all("max_records=500&fields=*").await;
    let elapsed = started.elapsed();
    let uuids: BTreeSet<String> = pages
        .iter()
        .flat_map(crate::support::Reply::uuids)
        .collect();
    assert_eq!(uuids.len(), 10_000);
    assert_eq!(pages.len(), 20);
    println!("read 10,000 SAs in {} pages in {elapsed:?}", pages.len());
    // Generous for an unoptimised build on a busy machine; a release build takes a fraction.
    assert!(elapsed.as_secs() < 20, "full read took {elapsed:?}");
}

#[tokio::test]
async fn later_pages_cost_no_more_than_early_pages() {
    let sim = Sim::generated(20, 1_000).await;
    // Paging by start.uuid must not rescan the records before the page.
    sim.get("/api/cluster").await; // connect and handshake outside the measurement
    let first = Instant::now();
    let page = sim.collection("max_records=100").await;
    let first = first.elapsed();
    assert_eq!(page.records().len(), 100);
    let last_uuid = {
        let mut all: Vec<String> = sim
            .state()
            .records()
            .iter()
            .map(|record| record["uuid"].as_str().expect("uuid").to_owned())
            .collect();
        all.sort();
        all[all.len() - 100].clone()
    };
    let last = Instant::now();
    let page = sim
        .collection(&format!("start.uuid={last_uuid}&max_records=100"))
        .await;
    let last = last.elapsed();
    assert_eq!(page.records().len(), 100);
    assert_eq!(page.next(), None);
    println!("first page {first:?}, last page {last:?} of 40,000 records");
    assert!(
        last < first * 10 + std::time::Duration::from_millis(50),
        "last page {last:?} vs first {first:?}"
    );
}
