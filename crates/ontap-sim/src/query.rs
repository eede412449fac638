//! Parses the query string of collection and instance GETs into fields, filters, order and paging.

use url::form_urlencoded;

use super::catalog::FieldCatalog;
use super::fields::FieldSelection;
use super::filter::Filter;
use super::ontap_error::OntapError;
use super::order::{self, OrderKey};

pub const FIELDS: &str = "fields";
pub const MAX_RECORDS: &str = "max_records";
pub const RETURN_RECORDS: &str = "return_records";
pub const RETURN_TIMEOUT: &str = "return_timeout";
pub const START_PREFIX: &str = "start.";
pub const START_UUID: &str = "start.uuid";

/// ONTAP's default page size.
pub const DEFAULT_MAX_RECORDS: usize = 10_000;
/// ONTAP's default and maximum `return_timeout`, in seconds.
pub const DEFAULT_RETURN_TIMEOUT: u64 = 15;
pub const MAX_RETURN_TIMEOUT: u64 = 120;

/// A parsed collection GET.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionQuery {
    pub fields: FieldSelection,
    pub filters: Vec<Filter>,
    pub order_by: Vec<OrderKey>,
    pub max_records: usize,
    pub return_records: bool,
    pub return_timeout: u64,
    pub start_uuid: Option<String>,
    /// The request's own query without `start.*`, as received, for the next link.
    pub carried_query: String,
}

impl CollectionQuery {
    /// The `start.uuid=…&<original query>` part of a next link.
    #[must_use]
    pub fn next_query(&self, start_uuid: &str) -> String {
        let start: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(START_UUID, start_uuid)
            .finish();
        if self.carried_query.is_empty() {
            start
        } else {
            format!("{start}&{}", self.carried_query)
        }
    }
}

/// One `key=value` piece: raw as received and decoded.
struct Pair<'a> {
    raw: &'a str,
    key: String,
    value: String,
}

fn pairs(raw_query: Option<&str>) -> impl Iterator<Item = Pair<'_>> {
    raw_query
        .unwrap_or_default()
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|raw| {
            let (key, value) = form_urlencoded::parse(raw.as_bytes())
                .next()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .unwrap_or_default();
            Pair { raw, key, value }
        })
}

/// Parses a collection GET's query against the endpoint's fields.
pub fn parse_collection(
    raw_query: Option<&str>,
    catalog: &FieldCatalog,
) -> Result<CollectionQuery, OntapError> {
    let mut field_values = Vec::new();
    let mut filters = Vec::new();
    let mut order_by = Vec::new();
    let mut max_records = DEFAULT_MAX_RECORDS;
    let mut return_records = true;
    let mut return_timeout = DEFAULT_RETURN_TIMEOUT;
    let mut start_uuid = None;
    let mut carried = Vec::new();
    for pair in pairs(raw_query) {
        if !pair.key.starts_with(START_PREFIX) {
            carried.push(pair.raw);
        }
        match pair.key.as_str() {
            FIELDS => field_values.push(pair.value),
            MAX_RECORDS => {
                max_records = pair
                    .value
                    .parse()
                    .ok()
                    .filter(|count| *count > 0)
                    .ok_or_else(|| OntapError::invalid_value(&pair.value, MAX_RECORDS))?;
            }
            RETURN_RECORDS => {
                return_records = parse_bool(&pair.value)
                    .ok_or_else(|| OntapError::invalid_value(&pair.value, RETURN_RECORDS))?;
            }
            RETURN_TIMEOUT => return_timeout = parse_return_timeout(&pair.value)?,
            order::PARAMETER => order_by.extend(order::parse(&pair.value, catalog)?),
            START_UUID => start_uuid = Some(pair.value),
            key if catalog.is_leaf(key) => filters.push(Filter::parse(key, &pair.value)),
            key => return Err(OntapError::unexpected_argument(key)),
        }
    }
    let fields = FieldSelection::parse(field_values.iter().map(String::as_str), catalog)?
        .with_echoed(filters.iter().map(|filter| filter.path.as_str()));
    Ok(CollectionQuery {
        fields,
        filters,
        order_by,
        max_records,
        return_records,
        return_timeout,
        start_uuid,
        carried_query: carried.join("&"),
    })
}

/// Parses an instance GET's query: only `fields` and `return_timeout` are accepted.
pub fn parse_instance(
    raw_query: Option<&str>,
    catalog: &FieldCatalog,
) -> Result<FieldSelection, OntapError> {
    let mut field_values = Vec::new();
    for pair in pairs(raw_query) {
        match pair.key.as_str() {
            FIELDS => field_values.push(pair.value),
            RETURN_TIMEOUT => {
                parse_return_timeout(&pair.value)?;
            }
            key => return Err(OntapError::unexpected_argument(key)),
        }
    }
    FieldSelection::parse(field_values.iter().map(String::as_str), catalog)
}

fn parse_return_timeout(value: &str) -> Result<u64, OntapError> {
    value
        .parse()
        .ok()
        .filter(|seconds| *seconds <= MAX_RETURN_TIMEOUT)
        .ok_or_else(|| OntapError::invalid_value(value, RETURN_TIMEOUT))
}

fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::OntapVersion;

    fn catalog() -> FieldCatalog {
        FieldCatalog::security_associations(&OntapVersion::default())
    }

    fn parse(raw: &str) -> Result<CollectionQuery, OntapError> {
        parse_collection(Some(raw), &catalog())
    }

    #[test]
    fn empty_query_has_ontap_defaults() {
        let query = parse_collection(None, &catalog()).expect("valid");
        assert_eq!(query.fields, FieldSelection::KeysOnly);
        assert_eq!(query.max_records, 10_000);
        assert!(query.return_records);
        assert_eq!(query.return_timeout, 15);
        assert!(query.filters.is_empty());
        assert_eq!(query.next_query("u9"), "start.uuid=u9");
    }

    #[test]
    fn next_query_drops_start_and_keeps_the_rest_verbatim() {
        let query =
            parse("start.uuid=u1&fields=node.name%2Ctype&max_records=2&type=ipsec").expect("valid");
        assert_eq!(query.start_uuid.as_deref(), Some("u1"));
        assert_eq!(
            query.next_query("u3"),
            "start.uuid=u3&fields=node.name%2Ctype&max_records=2&type=ipsec"
        );
    }

    #[test]
    fn filters_are_collected_and_echoed() {
        let query = parse("type=ipsec&ipsec.state=installed").expect("valid");
        assert_eq!(query.filters.len(), 2);
        assert_eq!(
            query.fields,
            FieldSelection::List(vec!["type".into(), "ipsec.state".into()])
        );
    }

    #[test]
    fn order_by_accepts_plus_and_percent_twenty() {
        for raw in ["order_by=lifetime+desc", "order_by=lifetime%20desc"] {
            let query = parse(raw).expect("valid");
            assert!(query.order_by[0].descending, "{raw}");
        }
    }

    #[test]
    fn unknown_parameter_is_unexpected_argument() {
        let error = parse("bogus=1").expect_err("invalid");
        assert_eq!(error.code, "262179");
        assert_eq!(error.message, "Unexpected argument \"bogus\".");
        assert_eq!(parse("start.name=x").expect_err("invalid").code, "262179");
        assert_eq!(
            parse("ipsec=x").expect_err("objects are not filters").code,
            "262179"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        for raw in [
            "max_records=abc",
            "max_records=0",
            "max_records=-1",
            "return_records=maybe",
            "return_timeout=121",
            "return_timeout=x",
        ] {
            assert!(parse(raw).is_err(), "{raw} accepted");
        }
        assert_eq!(parse("return_timeout=0").expect("valid").return_timeout, 0);
        assert_eq!(
            parse("return_timeout=120").expect("valid").return_timeout,
            120
        );
    }

    #[test]
    fn return_records_false_is_understood() {
        assert!(!parse("return_records=false").expect("valid").return_records);
    }

    #[test]
    fn instance_query_accepts_only_fields() {
        assert_eq!(
            parse_instance(Some("fields=*"), &catalog()).expect("valid"),
            FieldSelection::All
        );
        assert_eq!(
            parse_instance(Some("type=ike"), &catalog())
                .expect_err("filters are not allowed")
                .code,
            "262179"
        );
    }
}
