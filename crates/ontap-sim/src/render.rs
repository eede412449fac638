//! Turns a stored record into what the configured ONTAP version serves: links and version quirks.

use serde_json::{Value, json};

use super::catalog::OFFLOAD_FIELDS;
use super::paths;
use super::record_set::RecordSet;
use super::version::OntapVersion;

const LINKS: &str = "_links";
const NEXT: &str = "next";

/// The served form of a stored SA record of `set`.
#[must_use]
pub fn security_association(mut record: Value, set: RecordSet, version: &OntapVersion) -> Value {
    if let Some(uuid) = record["uuid"].as_str().map(str::to_owned) {
        add_self_link(&mut record, &paths::instance(set.api_path(), &uuid));
    }
    for (field, collection) in [("node", paths::NODES), ("svm", paths::SVMS)] {
        if let Some(uuid) = record[field]["uuid"].as_str().map(str::to_owned) {
            add_self_link(&mut record[field], &paths::instance(collection, &uuid));
        }
    }
    // ike.version became an integer in 9.11.1; older releases send the same number as a string.
    if let Some(version_field) = record.pointer_mut("/ike/version") {
        if version.is_at_least(9, 11, 1) {
            if let Some(number) = version_field
                .as_str()
                .and_then(|text| text.parse::<u64>().ok())
            {
                *version_field = Value::from(number);
            }
        } else if let Some(number) = version_field.as_u64() {
            *version_field = Value::String(number.to_string());
        }
    }
    if !version.is_at_least(9, 16, 1) {
        for path in OFFLOAD_FIELDS {
            if let Some((parent, leaf)) = path.rsplit_once('.') {
                let parent = parent.split('.').try_fold(&mut record, |value, step| {
                    value.as_object_mut()?.get_mut(step)
                });
                if let Some(parent) = parent {
                    remove(parent, leaf);
                }
            }
        }
    }
    record
}

/// The served form of a node derived from the SA records.
#[must_use]
pub fn node(name: &str, uuid: &str) -> Value {
    let mut node = json!({ "uuid": uuid, "name": name, "state": "up" });
    add_self_link(&mut node, &paths::instance(paths::NODES, uuid));
    node
}

/// Removes every `_links` except the top-level `next`, for clients that asked for plain JSON.
pub fn strip_links(body: &mut Value) {
    let next = body.get(LINKS).and_then(|links| links.get(NEXT)).cloned();
    strip_all_links(body);
    if let (Some(next), Some(object)) = (next, body.as_object_mut()) {
        object.insert(LINKS.to_owned(), json!({ NEXT: next }));
    }
}

fn strip_all_links(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove(LINKS);
            object.values_mut().for_each(strip_all_links);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_all_links),
        _ => {}
    }
}

fn add_self_link(value: &mut Value, href: &str) {
    if let Some(object) = value.as_object_mut() {
        object.insert(LINKS.to_owned(), json!({ "self": { "href": href } }));
    }
}

fn remove(value: &mut Value, key: &str) {
    if let Some(object) = value.as_object_mut() {
        object.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SA: RecordSet = RecordSet::SecurityAssociations;

    fn stored() -> Value {
        json!({
            "uuid": "u1",
            "type": "ike",
            "node": {"name": "n1", "uuid": "nu"},
            "svm": {"name": "s1", "uuid": "su"},
            "ike": {"version": 2},
            "ipsec": {"inbound": {"bytes": 1, "offload_bytes": 0}}
        })
    }

    #[test]
    fn records_carry_self_node_and_svm_links() {
        let record = security_association(stored(), SA, &OntapVersion::default());
        assert_eq!(
            record["_links"]["self"]["href"],
            "/api/security/ipsec/security-associations/u1"
        );
        assert_eq!(
            record["node"]["_links"]["self"]["href"],
            "/api/cluster/nodes/nu"
        );
        assert_eq!(record["svm"]["_links"]["self"]["href"], "/api/svm/svms/su");
    }

    #[test]
    fn cluster_network_records_link_to_their_own_endpoint() {
        let record = security_association(
            stored(),
            RecordSet::ClusterNetwork,
            &OntapVersion::new(9, 19, 0),
        );
        assert_eq!(
            record["_links"]["self"]["href"],
            "/api/security/cluster-network/ipsec/associations/u1"
        );
    }

    #[test]
    fn ike_version_is_a_string_before_9_11_1() {
        let old = security_association(stored(), SA, &OntapVersion::new(9, 10, 1));
        assert_eq!(old["ike"]["version"], json!("2"));
        let new = security_association(stored(), SA, &OntapVersion::new(9, 11, 1));
        assert_eq!(new["ike"]["version"], json!(2));
    }

    #[test]
    fn records_without_ike_or_node_stay_without_them() {
        let record = security_association(
            json!({"uuid": "u2", "type": "ipsec", "ipsec": {"state": "installed"}}),
            SA,
            &OntapVersion::new(9, 10, 1),
        );
        assert!(record.get("ike").is_none());
        assert!(record.get("node").is_none());
        assert!(record.get("svm").is_none());
    }

    #[test]
    fn offload_counters_appear_from_9_16_1() {
        let old = security_association(stored(), SA, &OntapVersion::new(9, 15, 1));
        assert!(old["ipsec"]["inbound"].get("offload_bytes").is_none());
        let new = security_association(stored(), SA, &OntapVersion::new(9, 16, 1));
        assert_eq!(new["ipsec"]["inbound"]["offload_bytes"], 0);
    }

    #[test]
    fn plain_json_keeps_only_the_next_link() {
        let mut body = json!({
            "records": [security_association(stored(), SA, &OntapVersion::default())],
            "_links": {"self": {"href": "/a"}, "next": {"href": "/b"}}
        });
        strip_links(&mut body);
        assert_eq!(body["_links"], json!({"next": {"href": "/b"}}));
        assert!(body["records"][0].get("_links").is_none());
        assert!(body["records"][0]["node"].get("_links").is_none());
    }
}
