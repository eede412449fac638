//! Collection GETs: filtering, ordering, paging with next links, counting, and the response body.

use serde_json::{Map, Value, json};

use super::fault::{MissingNode, PageShaping};
use super::order::compare_records;
use super::paths;
use super::query::CollectionQuery;

const UUID_FIELD: &str = "uuid";

/// One collection GET as the handler understood it.
#[derive(Debug)]
pub struct CollectionRequest<'a> {
    /// Path of the collection, the base of next links.
    pub path: &'a str,
    /// The request's own path and query, for `_links.self`.
    pub self_href: String,
    pub query: &'a CollectionQuery,
    /// Page faults; a [`MissingNode`] without a node leaves no records out.
    pub shaping: Option<PageShaping>,
}

/// The response body for `request`.
///
/// `source(start)` yields served records in uuid order from uuid `start` (inclusive), or from the
/// first record; in the default (uuid) order a page only touches the records it returns, so a
/// full read costs O(n) however many pages it takes.
pub fn body<I>(request: &CollectionRequest<'_>, source: impl Fn(Option<&str>) -> I) -> Value
where
    I: Iterator<Item = Value>,
{
    let query = request.query;
    let missing = match &request.shaping {
        Some(PageShaping::MissingNode(missing)) => Some(missing),
        _ => None,
    };
    let omitted_node = missing.and_then(|missing| missing.node.as_deref());
    let matches = |record: &Value| {
        query.filters.iter().all(|filter| filter.matches(record))
            && omitted_node.is_none_or(|node| node_name(record) != Some(node))
    };
    let self_link = json!({ "self": { "href": request.self_href } });
    if !query.return_records {
        let total = source(None).filter(|record| matches(record)).count();
        let mut body = json!({
            "num_records": reported_count(total, request.shaping.as_ref()),
            "_links": self_link,
        });
        add_error(&mut body, missing);
        return body;
    }
    let (records, next_start) = if query.order_by.is_empty() {
        let candidates = source(query.start_uuid.as_deref()).filter(|record| matches(record));
        cut_page(candidates, query.max_records, request.shaping.as_ref())
    } else {
        let mut sorted: Vec<Value> = source(None).filter(|record| matches(record)).collect();
        sorted.sort_by(|left, right| compare_records(&query.order_by, left, right));
        // A start uuid that no longer matches (deleted meanwhile) ends the walk.
        let position = match query.start_uuid.as_deref() {
            None => Some(0),
            Some(start) => sorted
                .iter()
                .position(|record| uuid_of(record) == Some(start)),
        };
        let candidates = sorted.into_iter().skip(position.unwrap_or(usize::MAX));
        cut_page(candidates, query.max_records, request.shaping.as_ref())
    };
    let records: Vec<Value> = records
        .into_iter()
        .map(|record| query.fields.project(record))
        .collect();
    let mut links = Map::new();
    links.insert("self".to_owned(), self_link["self"].clone());
    if let Some(start) = next_start {
        let href = paths::with_query(request.path, &query.next_query(&start));
        links.insert("next".to_owned(), json!({ "href": href }));
    }
    let num_records = reported_count(records.len(), request.shaping.as_ref());
    let mut body = json!({
        "records": records,
        "num_records": num_records,
        "_links": links,
    });
    add_error(&mut body, missing);
    body
}

/// `num_records` as served: the true count, or off by a `num_records_mismatch` delta.
fn reported_count(count: usize, shaping: Option<&PageShaping>) -> u64 {
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    match shaping {
        Some(PageShaping::NumRecordsOff(delta)) => count.saturating_add_signed(*delta),
        _ => count,
    }
}

/// The `error` object ONTAP puts next to `records` when a node's records could not be read.
fn add_error(body: &mut Value, missing: Option<&MissingNode>) {
    if let (Some(missing), Some(object)) = (missing, body.as_object_mut()) {
        object.insert("error".to_owned(), missing.error(missing.node.as_deref()));
    }
}

fn node_name(record: &Value) -> Option<&str> {
    record.pointer("/node/name").and_then(Value::as_str)
}

/// Takes one page from the matching records; returns it and the uuid the next page starts at.
fn cut_page(
    mut candidates: impl Iterator<Item = Value>,
    max_records: usize,
    shaping: Option<&PageShaping>,
) -> (Vec<Value>, Option<String>) {
    let limit = match shaping {
        Some(PageShaping::Short(records)) => (*records).min(max_records),
        Some(PageShaping::Empty) => 0,
        Some(PageShaping::Oversized(extra)) => max_records.saturating_add(*extra),
        Some(PageShaping::NumRecordsOff(_) | PageShaping::MissingNode(_)) | None => max_records,
    };
    let page: Vec<Value> = candidates.by_ref().take(limit).collect();
    let next = candidates
        .next()
        .and_then(|record| uuid_of(&record).map(str::to_owned));
    (page, next)
}

fn uuid_of(record: &Value) -> Option<&str> {
    record.get(UUID_FIELD).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FieldCatalog;
    use crate::query::parse_collection;
    use crate::version::OntapVersion;

    fn records() -> Vec<Value> {
        (0..7)
            .map(|i| json!({"uuid": format!("u{i}"), "lifetime": (i * 37) % 10, "type": if i % 2 == 0 { "ike" } else { "ipsec" }}))
            .collect()
    }

    fn run(raw: &str, shaping: Option<PageShaping>) -> Value {
        let catalog = FieldCatalog::security_associations(&OntapVersion::default());
        let query = parse_collection(Some(raw), &catalog).expect("valid query");
        let request = CollectionRequest {
            path: "/api/x",
            self_href: format!("/api/x?{raw}"),
            query: &query,
            shaping,
        };
        let all = records();
        body(&request, |start| {
            let start = start.map(str::to_owned);
            all.clone().into_iter().filter(move |record| {
                start
                    .as_deref()
                    .is_none_or(|start| record["uuid"].as_str() >= Some(start))
            })
        })
    }

    fn uuids(body: &Value) -> Vec<String> {
        body["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["uuid"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn pages_link_to_the_next_uuid_with_the_original_query() {
        let first = run("max_records=3&type=ike|ipsec", None);
        assert_eq!(uuids(&first), ["u0", "u1", "u2"]);
        assert_eq!(first["num_records"], 3);
        assert_eq!(
            first["_links"]["next"]["href"],
            "/api/x?start.uuid=u3&max_records=3&type=ike|ipsec"
        );
        let last = run("start.uuid=u6&max_records=3", None);
        assert_eq!(uuids(&last), ["u6"]);
        assert!(last["_links"].get("next").is_none());
    }

    #[test]
    fn exact_fit_has_no_next_link() {
        let body = run("max_records=7", None);
        assert_eq!(body["num_records"], 7);
        assert!(body["_links"].get("next").is_none());
    }

    #[test]
    fn count_only_reports_the_total_of_matches() {
        let body = run("return_records=false&type=ike&max_records=1", None);
        assert_eq!(body["num_records"], 4);
        assert!(body.get("records").is_none());
    }

    #[test]
    fn order_by_pages_through_the_sorted_matches() {
        let first = run("order_by=lifetime desc&max_records=4", None);
        let next = first["_links"]["next"]["href"]
            .as_str()
            .expect("next link")
            .to_owned();
        let raw = next.trim_start_matches("/api/x?");
        let second = run(raw, None);
        let mut all = uuids(&first);
        all.extend(uuids(&second));
        assert_eq!(all.len(), 7);
        let lifetimes: Vec<i64> = all
            .iter()
            .map(|uuid| {
                records()
                    .into_iter()
                    .find(|r| r["uuid"] == uuid.as_str())
                    .and_then(|r| r["lifetime"].as_i64())
                    .unwrap_or_default()
            })
            .collect();
        assert!(
            lifetimes.windows(2).all(|pair| pair[0] >= pair[1]),
            "{lifetimes:?}"
        );
    }

    #[test]
    fn short_pages_still_link_onward() {
        let body = run("max_records=5", Some(PageShaping::Short(2)));
        assert_eq!(uuids(&body), ["u0", "u1"]);
        assert!(
            body["_links"]["next"]["href"]
                .as_str()
                .is_some_and(|href| href.starts_with("/api/x?start.uuid=u2&"))
        );
    }

    #[test]
    fn empty_pages_link_to_the_same_position() {
        let body = run("start.uuid=u3&max_records=5", Some(PageShaping::Empty));
        assert_eq!(body["num_records"], 0);
        assert_eq!(
            body["_links"]["next"]["href"],
            "/api/x?start.uuid=u3&max_records=5"
        );
    }

    #[test]
    fn oversized_pages_serve_extra_records_and_link_after_them() {
        let body = run("max_records=2", Some(PageShaping::Oversized(3)));
        assert_eq!(uuids(&body), ["u0", "u1", "u2", "u3", "u4"]);
        assert_eq!(body["num_records"], 5);
        assert!(
            body["_links"]["next"]["href"]
                .as_str()
                .is_some_and(|href| href.starts_with("/api/x?start.uuid=u5&"))
        );
        let tail = run(
            "start.uuid=u5&max_records=2",
            Some(PageShaping::Oversized(3)),
        );
        assert_eq!(uuids(&tail), ["u5", "u6"]);
    }

    #[test]
    fn num_records_can_disagree_with_the_page() {
        let more = run("max_records=3", Some(PageShaping::NumRecordsOff(1)));
        assert_eq!(uuids(&more).len(), 3);
        assert_eq!(more["num_records"], 4);
        let fewer = run("max_records=3", Some(PageShaping::NumRecordsOff(-5)));
        assert_eq!(fewer["num_records"], 0);
        let count = run("return_records=false", Some(PageShaping::NumRecordsOff(2)));
        assert_eq!(count["num_records"], 9);
    }

    #[test]
    fn missing_node_pages_leave_its_records_out_and_carry_an_error() {
        let catalog = FieldCatalog::security_associations(&OntapVersion::default());
        let query = parse_collection(Some("max_records=10"), &catalog).expect("valid query");
        let missing = MissingNode {
            node: Some("n2".to_owned()),
            code: None,
            message: None,
        };
        let request = CollectionRequest {
            path: "/api/x",
            self_href: "/api/x".to_owned(),
            query: &query,
            shaping: Some(PageShaping::MissingNode(missing)),
        };
        let all: Vec<Value> = (0..4)
            .map(|i| json!({"uuid": format!("u{i}"), "node": {"name": format!("n{}", i % 2 + 1)}}))
            .collect();
        let body = body(&request, |_| all.clone().into_iter());
        assert_eq!(uuids(&body), ["u0", "u2"]);
        assert_eq!(body["num_records"], 2);
        assert_eq!(body["error"]["code"], "13");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("n2")),
            "{body}"
        );
    }
}
