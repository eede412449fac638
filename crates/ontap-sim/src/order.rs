//! The `order_by` query parameter: `field [asc|desc]` keys, comma-separated, ties broken by uuid.

use std::cmp::Ordering;

use serde_json::Value;

use super::catalog::FieldCatalog;
use super::fields::lookup;
use super::filter::compare_numbers;
use super::ontap_error::OntapError;

pub const PARAMETER: &str = "order_by";
const ASCENDING: &str = "asc";
const DESCENDING: &str = "desc";
const KEY_FIELD: &str = "uuid";

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    pub path: String,
    pub descending: bool,
}

/// Parses `order_by` after percent-decoding (`%20` and `+` both arrive as a space).
pub fn parse(value: &str, catalog: &FieldCatalog) -> Result<Vec<OrderKey>, OntapError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| {
            let mut words = key.split_whitespace();
            let path = words.next().unwrap_or_default();
            if !catalog.is_leaf(path) {
                return Err(OntapError::invalid_field(path, PARAMETER));
            }
            let descending = match words.next() {
                None => false,
                Some(direction) if direction.eq_ignore_ascii_case(ASCENDING) => false,
                Some(direction) if direction.eq_ignore_ascii_case(DESCENDING) => true,
                Some(_) => return Err(OntapError::invalid_value(key, PARAMETER)),
            };
            if words.next().is_some() {
                return Err(OntapError::invalid_value(key, PARAMETER));
            }
            Ok(OrderKey {
                path: path.to_owned(),
                descending,
            })
        })
        .collect()
}

/// Compares two records by the keys, then by uuid so the order is total and stable.
#[must_use]
pub fn compare_records(keys: &[OrderKey], left: &Value, right: &Value) -> Ordering {
    keys.iter()
        .map(|key| {
            let ordering = compare_values(lookup(left, &key.path), lookup(right, &key.path));
            if key.descending {
                ordering.reverse()
            } else {
                ordering
            }
        })
        .find(|ordering| ordering.is_ne())
        .unwrap_or_else(|| compare_values(lookup(left, KEY_FIELD), lookup(right, KEY_FIELD)))
}

/// Missing and null sort first; numbers numerically; text byte-wise; mixed kinds by kind.
fn compare_values(left: Option<&Value>, right: Option<&Value>) -> Ordering {
    let left = left.filter(|value| !value.is_null());
    let right = right.filter(|value| !value.is_null());
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            compare_numbers(&a.to_string(), &b.to_string()).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(a)), Some(Value::String(b))) => a.cmp(b),
        (Some(Value::Bool(a)), Some(Value::Bool(b))) => a.cmp(b),
        (Some(a), Some(b)) => kind_rank(a).cmp(&kind_rank(b)),
    }
}

fn kind_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::version::OntapVersion;

    fn catalog() -> FieldCatalog {
        FieldCatalog::security_associations(&OntapVersion::default())
    }

    #[test]
    fn keys_with_directions_parse() {
        let keys = parse("node.name desc, lifetime,uuid ASC", &catalog()).expect("valid");
        assert_eq!(
            keys,
            vec![
                OrderKey {
                    path: "node.name".into(),
                    descending: true
                },
                OrderKey {
                    path: "lifetime".into(),
                    descending: false
                },
                OrderKey {
                    path: "uuid".into(),
                    descending: false
                },
            ]
        );
    }

    #[test]
    fn unknown_field_and_bad_direction_are_rejected() {
        assert_eq!(parse("nope", &catalog()).expect_err("bad").code, "262197");
        assert!(parse("lifetime sideways", &catalog()).is_err());
        assert!(parse("lifetime asc extra", &catalog()).is_err());
    }

    #[test]
    fn sorting_uses_keys_then_uuid() {
        let keys = parse("lifetime desc", &catalog()).expect("valid");
        let mut records = [
            json!({"uuid": "b", "lifetime": 10}),
            json!({"uuid": "a", "lifetime": 10}),
            json!({"uuid": "c", "lifetime": 900}),
            json!({"uuid": "d"}),
        ];
        records.sort_by(|l, r| compare_records(&keys, l, r));
        let order: Vec<_> = records.iter().map(|r| r["uuid"].as_str()).collect();
        assert_eq!(order, [Some("c"), Some("a"), Some("b"), Some("d")]);
    }
}
