//! `order_by` with `asc`/`desc`, several keys, `%20` or `+`, and paging in that order.

use http::StatusCode;

use crate::support::{Sim, four_records, uuids};

async fn ordered(query: &str) -> Vec<String> {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection(query).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
    reply.uuids()
}

#[tokio::test]
async fn order_by_sorts_ascending_by_default_and_with_asc() {
    assert_eq!(ordered("order_by=remote_address").await, uuids("dabc"));
    assert_eq!(
        ordered("order_by=remote_address%20asc").await,
        uuids("dabc")
    );
}

#[tokio::test]
async fn order_by_desc_reverses_with_percent_twenty_or_plus() {
    assert_eq!(ordered("order_by=lifetime%20desc").await, uuids("dcba"));
    assert_eq!(ordered("order_by=lifetime+desc").await, uuids("dcba"));
}

#[tokio::test]
async fn order_by_several_keys_breaks_ties_in_turn() {
    assert_eq!(
        ordered("order_by=node.name+desc,type+asc").await,
        uuids("cdab")
    );
    assert_eq!(
        ordered("order_by=type,lifetime%20desc").await,
        uuids("cadb")
    );
}

#[tokio::test]
async fn order_by_numbers_is_numeric() {
    assert_eq!(ordered("order_by=lifetime").await, uuids("abcd"));
}

#[tokio::test]
async fn order_by_pages_continue_in_the_sorted_order() {
    let sim = Sim::with_records(four_records()).await;
    let pages = sim.read_all("order_by=lifetime+desc&max_records=3").await;
    assert_eq!(pages.len(), 2);
    let read: Vec<String> = pages
        .iter()
        .flat_map(crate::support::Reply::uuids)
        .collect();
    assert_eq!(read, uuids("dcba"));
    let next = pages[0].next().expect("next link");
    assert!(
        next.ends_with("&order_by=lifetime+desc&max_records=3"),
        "{next}"
    );
}

#[tokio::test]
async fn order_by_unknown_field_is_rejected() {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection("order_by=colour").await;
    let error = reply.ontap_error(StatusCode::BAD_REQUEST, "262197");
    assert_eq!(error["target"], "order_by");
}
