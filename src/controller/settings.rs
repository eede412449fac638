//! Turns an `OntapCluster` spec into checked settings for one poll; no client required.

use crate::crd::{OntapClusterSpec, PollTiming, SpecError};
use crate::ontap::Selector;

/// What the reconciler needs from the spec, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub timing: PollTiming,
    pub selector: Selector,
}

impl ClusterSettings {
    /// The API server validates most of this already; this is the defence for objects stored
    /// before a schema change, and for the checks CEL cannot make.
    pub fn from_spec(spec: &OntapClusterSpec) -> Result<Self, SpecError> {
        let timing = spec.validate()?;
        let selector = spec
            .selector
            .as_ref()
            .map(|selector| Selector {
                svms: selector.svms.clone(),
                nodes: selector.nodes.clone(),
                types: selector
                    .types
                    .iter()
                    .map(|sa_type| sa_type.as_str().to_owned())
                    .collect(),
                policies: selector.policies.clone(),
            })
            .unwrap_or_default();
        Ok(Self { timing, selector })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(extra: &serde_json::Value) -> OntapClusterSpec {
        let mut value = serde_json::json!({
            "endpoint": "https://cluster1",
            "credentialsSecretRef": {"name": "creds"}
        });
        if let (Some(target), Some(source)) = (value.as_object_mut(), extra.as_object()) {
            target.extend(source.clone());
        }
        serde_json::from_value(value).expect("spec decodes")
    }

    #[test]
    fn defaults_parse_into_settings() {
        let settings = ClusterSettings::from_spec(&spec(&serde_json::json!({}))).expect("valid");
        assert_eq!(settings.timing.poll_interval, Duration::from_secs(60));
        assert_eq!(settings.timing.stale_threshold(), Duration::from_secs(180));
        assert_eq!(settings.selector, Selector::default());
    }

    #[test]
    fn selector_lists_become_ontap_filters() {
        let settings = ClusterSettings::from_spec(&spec(&serde_json::json!({
            "selector": {"svms": ["vs0", "vs1"], "types": ["ipsec"]}
        })))
        .expect("valid");
        assert_eq!(
            settings.selector.query_filters(),
            vec![
                ("svm.name", "vs0|vs1".to_owned()),
                ("type", "ipsec".to_owned())
            ]
        );
    }

    #[test]
    fn an_invalid_spec_is_an_error_not_a_panic() {
        let result = ClusterSettings::from_spec(&spec(&serde_json::json!({"pollInterval": "5s"})));
        assert!(result.is_err());
    }
}
