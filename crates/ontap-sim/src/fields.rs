//! The `fields` query parameter: which parts of each record a response carries.

use serde_json::{Map, Value};

use super::catalog::FieldCatalog;
use super::ontap_error::{OntapError, TARGET_FIELDS};

/// Every record carries its key and its links, whatever `fields` says.
const KEY_FIELD: &str = "uuid";
const LINKS_FIELD: &str = "_links";
/// `*` asks for the common fields, `**` for all; no SA field is documented as expensive, so
/// both return everything.
const ALL_COMMON: &str = "*";
const ALL_FIELDS: &str = "**";

/// The parsed `fields` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSelection {
    /// `fields` absent: key fields and `_links` only.
    KeysOnly,
    /// `*` or `**`.
    All,
    /// An explicit comma list, possibly with dotted paths.
    List(Vec<String>),
}

impl FieldSelection {
    /// Parses the comma-separated values of every `fields` parameter of a request.
    pub fn parse<'a>(
        values: impl IntoIterator<Item = &'a str>,
        catalog: &FieldCatalog,
    ) -> Result<Self, OntapError> {
        let mut list = Vec::new();
        let mut all = false;
        for name in values
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if name == ALL_COMMON || name == ALL_FIELDS {
                all = true;
            } else if catalog.is_known(name) {
                list.push(name.to_owned());
            } else {
                return Err(OntapError::invalid_field(name, TARGET_FIELDS));
            }
        }
        Ok(if all {
            Self::All
        } else if list.is_empty() {
            Self::KeysOnly
        } else {
            Self::List(list)
        })
    }

    /// Adds the fields a filter used: ONTAP echoes them into the records.
    #[must_use]
    pub fn with_echoed<'a>(self, paths: impl IntoIterator<Item = &'a str>) -> Self {
        let echoed: Vec<String> = paths.into_iter().map(str::to_owned).collect();
        match self {
            Self::All => Self::All,
            _ if echoed.is_empty() => self,
            Self::KeysOnly => Self::List(echoed),
            Self::List(mut list) => {
                list.extend(echoed);
                Self::List(list)
            }
        }
    }

    /// The part of a rendered record this selection returns.
    #[must_use]
    pub fn project(&self, record: Value) -> Value {
        let list = match self {
            Self::All => return record,
            Self::KeysOnly => &[][..],
            Self::List(list) => list.as_slice(),
        };
        let mut projected = Value::Object(Map::new());
        for path in [KEY_FIELD, LINKS_FIELD]
            .into_iter()
            .chain(list.iter().map(String::as_str))
        {
            if let Some(value) = lookup(&record, path) {
                insert(&mut projected, path, value.clone());
            }
        }
        projected
    }
}

/// The value at a dotted path, if every step exists.
#[must_use]
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(record, |value, step| value.as_object()?.get(step))
}

/// Sets the value at a dotted path, creating objects on the way and merging into existing ones.
fn insert(target: &mut Value, path: &str, value: Value) {
    let mut current = target;
    let mut steps = path.split('.').peekable();
    while let Some(step) = steps.next() {
        let Some(object) = current.as_object_mut() else {
            return;
        };
        if steps.peek().is_none() {
            match (object.get_mut(step), value) {
                (Some(Value::Object(existing)), Value::Object(incoming)) => {
                    existing.extend(incoming);
                }
                (_, value) => {
                    object.insert(step.to_owned(), value);
                }
            }
            return;
        }
        current = object
            .entry(step.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
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

    fn record() -> Value {
        json!({
            "uuid": "u1",
            "type": "ipsec",
            "node": {"name": "n1", "uuid": "nu", "_links": {"self": {"href": "/api/cluster/nodes/nu"}}},
            "ipsec": {"state": "installed", "inbound": {"bytes": 5, "packets": 1}},
            "_links": {"self": {"href": "/api/x/u1"}}
        })
    }

    #[test]
    fn absent_fields_keep_key_and_links() {
        let selection = FieldSelection::parse([], &catalog()).expect("valid");
        assert_eq!(selection, FieldSelection::KeysOnly);
        assert_eq!(
            selection.project(record()),
            json!({"uuid": "u1", "_links": {"self": {"href": "/api/x/u1"}}})
        );
    }

    #[test]
    fn star_and_double_star_return_everything() {
        for value in ["*", "**", "uuid,*"] {
            let selection = FieldSelection::parse([value], &catalog()).expect("valid");
            assert_eq!(selection.project(record()), record());
        }
    }

    #[test]
    fn dotted_paths_pick_subfields() {
        let selection =
            FieldSelection::parse(["node.name,ipsec.inbound"], &catalog()).expect("valid");
        assert_eq!(
            selection.project(record()),
            json!({
                "uuid": "u1",
                "_links": {"self": {"href": "/api/x/u1"}},
                "node": {"name": "n1"},
                "ipsec": {"inbound": {"bytes": 5, "packets": 1}}
            })
        );
    }

    #[test]
    fn unknown_field_is_error_262197_with_target_fields() {
        let error = FieldSelection::parse(["uuid,nope"], &catalog()).expect_err("invalid");
        assert_eq!(error.code, "262197");
        assert_eq!(error.target.as_deref(), Some("fields"));
        assert!(error.message.contains("\"nope\""));
    }

    #[test]
    fn echoed_filter_fields_join_the_selection() {
        let selection = FieldSelection::parse([], &catalog())
            .expect("valid")
            .with_echoed(["ipsec.state"]);
        assert_eq!(
            selection.project(record())["ipsec"],
            json!({"state": "installed"})
        );
    }

    #[test]
    fn missing_values_are_left_out() {
        let selection = FieldSelection::parse(["svm.name"], &catalog()).expect("valid");
        assert!(selection.project(record()).get("svm").is_none());
    }
}
