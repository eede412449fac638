//! The URL paths the simulator serves and links to.

pub const SECURITY_ASSOCIATIONS: &str = "/api/security/ipsec/security-associations";
pub const CLUSTER_NETWORK_ASSOCIATIONS: &str = "/api/security/cluster-network/ipsec/associations";
pub const CLUSTER: &str = "/api/cluster";
pub const NODES: &str = "/api/cluster/nodes";
pub const SVMS: &str = "/api/svm/svms";
pub const API_PREFIX: &str = "/api/";

pub const CONTROL_SECURITY_ASSOCIATIONS: &str = "/_sim/security-associations";
pub const CONTROL_CLUSTER_NETWORK_ASSOCIATIONS: &str = "/_sim/cluster-network/associations";
pub const CONTROL_FAULTS: &str = "/_sim/faults";
pub const CONTROL_STATS: &str = "/_sim/stats";

/// `<collection>/<uuid>`, the `_links.self.href` of a record.
#[must_use]
pub fn instance(collection: &str, uuid: &str) -> String {
    format!("{collection}/{uuid}")
}

/// `<path>?<query>`, or just the path when the query is empty.
#[must_use]
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}
