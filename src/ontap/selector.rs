//! Which SAs to read: turns a selector into ONTAP query filters.

/// Limits a listing to some SVMs, nodes, SA types or policies; empty lists mean "all".
/// Each non-empty list becomes one ONTAP filter whose values are ORed with `|`; filters are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    pub svms: Vec<String>,
    pub nodes: Vec<String>,
    pub types: Vec<String>,
    pub policies: Vec<String>,
}

/// ONTAP field each selector list filters on.
const SVM_FILTER: &str = "svm.name";
const NODE_FILTER: &str = "node.name";
const TYPE_FILTER: &str = "type";
const POLICY_FILTER: &str = "policy_name";

impl Selector {
    /// The `(field, value)` query parameters for this selector, in a stable order.
    #[must_use]
    pub fn query_filters(&self) -> Vec<(&'static str, String)> {
        [
            (SVM_FILTER, &self.svms),
            (NODE_FILTER, &self.nodes),
            (TYPE_FILTER, &self.types),
            (POLICY_FILTER, &self.policies),
        ]
        .into_iter()
        .filter_map(|(field, values)| {
            let values: Vec<&str> = values
                .iter()
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
                .collect();
            (!values.is_empty()).then(|| (field, values.join("|")))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_selector_sends_no_filter() {
        assert!(Selector::default().query_filters().is_empty());
    }

    #[test]
    fn lists_become_or_filters_in_stable_order() {
        let selector = Selector {
            svms: vec!["vs0".into(), " vs1 ".into(), String::new()],
            types: vec!["ipsec".into()],
            policies: vec!["p1".into()],
            nodes: vec![],
        };
        assert_eq!(
            selector.query_filters(),
            vec![
                ("svm.name", "vs0|vs1".to_owned()),
                ("type", "ipsec".to_owned()),
                ("policy_name", "p1".to_owned()),
            ]
        );
    }
}
