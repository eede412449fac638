//! Query filters (`field=value`) with ONTAP's operators: `!`, `<`, `>`, `<=`, `>=`, `*`, `|`,
//! `null`, `!null` and the CLI's `a..b` ranges.

use std::cmp::Ordering;

use serde_json::Value;

use super::fields::lookup;

const NULL: &str = "null";
const NOT_NULL: &str = "!null";
const OR: char = '|';
const NOT: char = '!';
const WILDCARD: char = '*';
const RANGE: &str = "..";

/// One `field=value` query parameter; any of its alternatives (split on `|`) may match.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub path: String,
    alternatives: Vec<Predicate>,
}

#[derive(Debug, Clone, PartialEq)]
enum Predicate {
    Null,
    NotNull,
    Equals(String),
    NotEquals(String),
    Wildcard(String),
    NotWildcard(String),
    Less(String),
    LessOrEqual(String),
    Greater(String),
    GreaterOrEqual(String),
    Range(String, String),
}

impl Filter {
    /// Parses the (already percent-decoded) value of a filter parameter.
    #[must_use]
    pub fn parse(path: &str, value: &str) -> Self {
        Self {
            path: path.to_owned(),
            alternatives: value.split(OR).map(Predicate::parse).collect(),
        }
    }

    /// True when any alternative holds for the record's value at `path`.
    #[must_use]
    pub fn matches(&self, record: &Value) -> bool {
        let value = lookup(record, &self.path).filter(|value| !value.is_null());
        self.alternatives
            .iter()
            .any(|predicate| predicate.holds(value))
    }
}

impl Predicate {
    fn parse(text: &str) -> Self {
        if text.eq_ignore_ascii_case(NULL) {
            return Self::Null;
        }
        if text.eq_ignore_ascii_case(NOT_NULL) {
            return Self::NotNull;
        }
        if let Some(rest) = text.strip_prefix("<=") {
            return Self::LessOrEqual(rest.to_owned());
        }
        if let Some(rest) = text.strip_prefix(">=") {
            return Self::GreaterOrEqual(rest.to_owned());
        }
        if let Some(rest) = text.strip_prefix('<') {
            return Self::Less(rest.to_owned());
        }
        if let Some(rest) = text.strip_prefix('>') {
            return Self::Greater(rest.to_owned());
        }
        if let Some(rest) = text.strip_prefix(NOT) {
            return if rest.contains(WILDCARD) {
                Self::NotWildcard(rest.to_lowercase())
            } else {
                Self::NotEquals(rest.to_owned())
            };
        }
        if let Some((low, high)) = text.split_once(RANGE)
            && !low.is_empty()
            && !high.is_empty()
        {
            return Self::Range(low.to_owned(), high.to_owned());
        }
        if text.contains(WILDCARD) {
            return Self::Wildcard(text.to_lowercase());
        }
        Self::Equals(text.to_owned())
    }

    /// `value` is `None` for a missing field or JSON null.
    ///
    /// Only `null` matches an unset field: ONTAP leaves unset fields out of every other query,
    /// `!x` included (`svm.name=!svm1` does not return cluster-scoped SAs, which have no `svm`).
    fn holds(&self, value: Option<&Value>) -> bool {
        if let Some(Value::Array(items)) = value {
            return match self {
                // A list is "not x" only if no element is x.
                Self::NotEquals(_) | Self::NotWildcard(_) => {
                    items.iter().all(|item| self.holds(Some(item)))
                }
                Self::Null => items.is_empty(),
                Self::NotNull => !items.is_empty(),
                _ => items.iter().any(|item| self.holds(Some(item))),
            };
        }
        match self {
            Self::Null => value.is_none(),
            Self::NotNull => value.is_some(),
            Self::Equals(operand) => value.is_some_and(|value| equals(value, operand)),
            Self::NotEquals(operand) => value.is_some_and(|value| !equals(value, operand)),
            Self::Wildcard(pattern) => value
                .and_then(scalar_text)
                .is_some_and(|text| glob(pattern, &text.to_lowercase())),
            Self::NotWildcard(pattern) => value.is_some_and(|value| {
                !scalar_text(value).is_some_and(|text| glob(pattern, &text.to_lowercase()))
            }),
            Self::Less(operand) => compare(value, operand) == Some(Ordering::Less),
            Self::LessOrEqual(operand) => {
                matches!(
                    compare(value, operand),
                    Some(Ordering::Less | Ordering::Equal)
                )
            }
            Self::Greater(operand) => compare(value, operand) == Some(Ordering::Greater),
            Self::GreaterOrEqual(operand) => {
                matches!(
                    compare(value, operand),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            }
            Self::Range(low, high) => {
                matches!(
                    compare(value, low),
                    Some(Ordering::Greater | Ordering::Equal)
                ) && matches!(compare(value, high), Some(Ordering::Less | Ordering::Equal))
            }
        }
    }
}

/// Strings match case-insensitively (as ONTAP's CLI queries do), numbers numerically.
fn equals(value: &Value, operand: &str) -> bool {
    match value {
        Value::Bool(flag) => {
            operand.parse::<bool>().is_ok_and(|wanted| wanted == *flag)
                || operand.eq_ignore_ascii_case(if *flag { "true" } else { "false" })
        }
        Value::Number(_) | Value::String(_) => {
            compare(Some(value), operand) == Some(Ordering::Equal)
        }
        _ => false,
    }
}

/// Orders a record value against an operand: numerically when both are numbers (a numeric
/// string counts, for `ike.version` before 9.11.1), otherwise as case-folded text.
fn compare(value: Option<&Value>, operand: &str) -> Option<Ordering> {
    let text = scalar_text(value?)?;
    if let Some(ordering) = compare_numbers(&text, operand) {
        return Some(ordering);
    }
    if matches!(value, Some(Value::Number(_))) {
        return None;
    }
    Some(text.to_lowercase().cmp(&operand.to_lowercase()))
}

/// Exact for integers (counters exceed f64's 2^53), f64 otherwise.
pub fn compare_numbers(left: &str, right: &str) -> Option<Ordering> {
    if let (Ok(left), Ok(right)) = (left.parse::<i128>(), right.parse::<i128>()) {
        return Some(left.cmp(&right));
    }
    let (left, right) = (left.parse::<f64>().ok()?, right.parse::<f64>().ok()?);
    left.partial_cmp(&right)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == WILDCARD {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == WILDCARD)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record() -> Value {
        json!({
            "uuid": "u1",
            "type": "ipsec",
            "remote_address": "192.168.10.7",
            "lifetime": 28800,
            "node": {"name": "cluster1-02"},
            "ike": {"is_initiator": true, "version": "2"},
            "ipsec": {"inbound": {"bytes": 18_446_744_073_709_551_000_u64}},
            "svm": null
        })
    }

    fn holds(path: &str, value: &str) -> bool {
        Filter::parse(path, value).matches(&record())
    }

    #[test]
    fn equality_is_case_insensitive_for_strings() {
        assert!(holds("type", "ipsec"));
        assert!(holds("type", "IPsec"));
        assert!(!holds("type", "ike"));
    }

    #[test]
    fn not_operator_negates_but_never_matches_unset_fields() {
        assert!(holds("type", "!ike"));
        assert!(!holds("type", "!ipsec"));
        assert!(!holds("policy_name", "!anything"));
        assert!(!holds("policy_name", "!any*"));
        // `svm` is JSON null in the record: unset as well.
        assert!(!holds("svm.name", "!svm1"));
        assert!(!holds("svm", "!svm1"));
        assert!(holds("node.name", "!cluster1-01"));
        assert!(!holds("node.name", "!cluster1-02"));
    }

    #[test]
    fn unset_fields_match_only_null() {
        assert!(holds("policy_name", "null"));
        assert!(!holds("policy_name", "!null"));
        assert!(holds("policy_name", "!x|null"));
        for operand in ["x", "!x", "*", "!*x*", "<1", ">1", "<=1", ">=1", "1..2"] {
            assert!(!holds("policy_name", operand), "{operand}");
        }
    }

    #[test]
    fn not_on_a_list_needs_every_element_to_differ() {
        let record = json!({"tags": ["a", "b"], "none": []});
        assert!(Filter::parse("tags", "!c").matches(&record));
        assert!(!Filter::parse("tags", "!a").matches(&record));
        assert!(Filter::parse("none", "null").matches(&record));
        assert!(!Filter::parse("none", "!null").matches(&record));
    }

    #[test]
    fn comparisons_are_numeric_for_numbers() {
        assert!(holds("lifetime", ">9999"));
        assert!(holds("lifetime", ">=28800"));
        assert!(holds("lifetime", "<=28800"));
        assert!(!holds("lifetime", "<28800"));
        assert!(holds("lifetime", "<100000"));
        assert!(holds("ipsec.inbound.bytes", ">18446744073709550999"));
    }

    #[test]
    fn numeric_strings_compare_numerically() {
        assert!(holds("ike.version", "2"));
        assert!(holds("ike.version", "<10"));
    }

    #[test]
    fn wildcards_match_anywhere() {
        assert!(holds("node.name", "cluster1-*"));
        assert!(holds("node.name", "*-02"));
        assert!(holds("remote_address", "192.168.*.7"));
        assert!(holds("node.name", "*"));
        assert!(!holds("node.name", "cluster2*"));
        assert!(holds("node.name", "!cluster2*"));
    }

    #[test]
    fn alternatives_are_ored() {
        assert!(holds("type", "ike|ipsec"));
        assert!(!holds("type", "ike|none"));
    }

    #[test]
    fn null_and_not_null_test_presence() {
        assert!(holds("svm.name", "null"));
        assert!(holds("svm", "null"));
        assert!(!holds("type", "null"));
        assert!(holds("type", "!null"));
        assert!(!holds("policy_name", "!null"));
    }

    #[test]
    fn booleans_match_true_and_false() {
        assert!(holds("ike.is_initiator", "true"));
        assert!(!holds("ike.is_initiator", "false"));
        assert!(holds("ike.is_initiator", "!false"));
    }

    #[test]
    fn ranges_are_inclusive() {
        assert!(holds("lifetime", "28800..30000"));
        assert!(holds("lifetime", "1..28800"));
        assert!(!holds("lifetime", "1..100"));
    }

    #[test]
    fn numbers_do_not_match_text() {
        assert!(!holds("lifetime", "abc"));
        assert!(!holds("lifetime", ">abc"));
    }

    #[test]
    fn glob_handles_backtracking() {
        assert!(glob("a*b*c", "axxbyybzc"));
        assert!(!glob("a*b*c", "axxbyybz"));
        assert!(glob("**", ""));
    }
}
