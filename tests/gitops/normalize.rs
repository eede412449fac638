//! Turns live objects into stable test data: the parts that differ between runs (namespace,
//! simulator port, uids, resource versions, times, managed fields) get fixed values; everything
//! the operator decides (conditions, reasons, messages, counts, peers, labels) is kept verbatim.

use serde_json::Value;

use ontap_ipsec_operator::crd::REFRESH_ANNOTATION;

/// The namespace written to test data in place of the test's random one.
pub const NAMESPACE: &str = "storage";
/// The simulator's address written to test data in place of its random port.
pub const SIMULATOR_AUTHORITY: &str = "127.0.0.1:8443";
/// Every timestamp in test data.
pub const FIXED_TIME: &str = "2025-01-01T00:00:00Z";
/// Every uid in test data.
pub const FIXED_UID: &str = "00000000-0000-4000-8000-000000000000";
/// Every resource version in test data.
pub const FIXED_RESOURCE_VERSION: &str = "1";
/// The refresh annotation's value in test data; the value means nothing to the operator.
pub const FIXED_REFRESH: &str = "0";

/// What differs between runs of one test.
#[derive(Debug, Clone)]
pub struct Normalizer {
    pub namespace: String,
    pub simulator_authority: String,
}

impl Normalizer {
    /// `text` with the run's namespace and simulator address replaced.
    pub fn text(&self, text: &str) -> String {
        text.replace(&self.simulator_authority, SIMULATOR_AUTHORITY)
            .replace(&self.namespace, NAMESPACE)
    }

    /// `object` as it is written to test data.
    pub fn object(&self, object: &Value) -> Value {
        let text = serde_json::to_string(object).expect("objects serialise");
        let mut value: Value =
            serde_json::from_str(&self.text(&text)).expect("normalised text is JSON");
        fix(&mut value);
        value
    }
}

fn fix(value: &mut Value) {
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
        for (key, fixed) in [
            ("uid", FIXED_UID),
            ("resourceVersion", FIXED_RESOURCE_VERSION),
            ("creationTimestamp", FIXED_TIME),
        ] {
            if metadata.contains_key(key) {
                metadata.insert(key.into(), fixed.into());
            }
        }
        if let Some(owners) = metadata
            .get_mut("ownerReferences")
            .and_then(Value::as_array_mut)
        {
            for owner in owners {
                owner["uid"] = FIXED_UID.into();
            }
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            && annotations.contains_key(REFRESH_ANNOTATION)
        {
            annotations.insert(REFRESH_ANNOTATION.into(), FIXED_REFRESH.into());
        }
    }
    if let Some(status) = value.get_mut("status").and_then(Value::as_object_mut) {
        if status.contains_key("countersObservedAt") {
            status.insert("countersObservedAt".into(), FIXED_TIME.into());
        }
        if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
            for condition in conditions {
                condition["lastTransitionTime"] = FIXED_TIME.into();
            }
        }
    }
}

/// YAML for a test data file: a header saying where it came from, then the object.
pub fn testdata_yaml(object: &Value) -> String {
    let body = serde_norway::to_string(object).expect("objects render as YAML");
    format!(
        "# Captured from the operator on the control plane by tests/gitops; regenerate with\n\
         # `UPDATE_GITOPS_TESTDATA=1 cargo test --test gitops`. Namespace, simulator port, uids,\n\
         # resource versions and times are normalised; everything else is what the operator wrote.\n{body}"
    )
}
