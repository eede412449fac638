//! The field names each simulated endpoint knows, used to validate `fields`, filters and `order_by`.

use super::version::OntapVersion;

/// Security-association fields present since the endpoint appeared (9.8).
const SECURITY_ASSOCIATION_FIELDS: &[&str] = &[
    "uuid",
    "type",
    "scope",
    "policy_name",
    "local_address",
    "remote_address",
    "cipher_suite",
    "lifetime",
    "node.name",
    "node.uuid",
    "svm.name",
    "svm.uuid",
    "ike.state",
    "ike.authentication",
    "ike.version",
    "ike.is_initiator",
    "ike.initiator_security_parameter_index",
    "ike.responder_security_parameter_index",
    "ipsec.state",
    "ipsec.action",
    "ipsec.inbound.security_parameter_index",
    "ipsec.inbound.bytes",
    "ipsec.inbound.packets",
    "ipsec.outbound.security_parameter_index",
    "ipsec.outbound.bytes",
    "ipsec.outbound.packets",
];

/// SA fields the cluster-network endpoint leaves out: its SAs belong to no SVM.
const NOT_ON_CLUSTER_NETWORK: &[&str] = &["scope", "svm.name", "svm.uuid"];

/// Hardware-offload counters added in ONTAP 9.16.1.
pub const OFFLOAD_FIELDS: &[&str] = &[
    "ipsec.inbound.offload_bytes",
    "ipsec.inbound.offload_packets",
    "ipsec.outbound.offload_bytes",
    "ipsec.outbound.offload_packets",
];

const NODE_FIELDS: &[&str] = &["uuid", "name", "state"];

const CLUSTER_FIELDS: &[&str] = &[
    "uuid",
    "name",
    "version.full",
    "version.generation",
    "version.major",
    "version.minor",
];

/// Every leaf field of the SA endpoint, on the newest release the simulator plays.
#[must_use]
pub fn security_association_fields() -> Vec<&'static str> {
    [SECURITY_ASSOCIATION_FIELDS, OFFLOAD_FIELDS].concat()
}

/// The leaf field paths of one record type; object paths are the prefixes of leaves.
#[derive(Debug, Clone)]
pub struct FieldCatalog {
    leaves: Vec<&'static str>,
}

impl FieldCatalog {
    /// Fields of `/api/security/ipsec/security-associations` on `version`.
    #[must_use]
    pub fn security_associations(version: &OntapVersion) -> Self {
        let mut leaves = SECURITY_ASSOCIATION_FIELDS.to_vec();
        if version.is_at_least(9, 16, 1) {
            leaves.extend_from_slice(OFFLOAD_FIELDS);
        }
        Self { leaves }
    }

    /// Fields of `/api/security/cluster-network/ipsec/associations` on `version`: the SA fields
    /// without `svm` and `scope`.
    #[must_use]
    pub fn cluster_network(version: &OntapVersion) -> Self {
        let mut catalog = Self::security_associations(version);
        catalog
            .leaves
            .retain(|leaf| !NOT_ON_CLUSTER_NETWORK.contains(leaf));
        catalog
    }

    /// Fields of `/api/cluster/nodes` as far as the simulator serves them.
    #[must_use]
    pub fn nodes() -> Self {
        Self {
            leaves: NODE_FIELDS.to_vec(),
        }
    }

    /// Fields of `/api/cluster` as far as the simulator serves them.
    #[must_use]
    pub fn cluster() -> Self {
        Self {
            leaves: CLUSTER_FIELDS.to_vec(),
        }
    }

    /// True for a field that holds a value (usable in filters and `order_by`).
    #[must_use]
    pub fn is_leaf(&self, path: &str) -> bool {
        self.leaves.contains(&path)
    }

    /// True for a leaf or an object that contains leaves (usable in `fields`).
    #[must_use]
    pub fn is_known(&self, path: &str) -> bool {
        self.leaves.iter().any(|leaf| {
            *leaf == path
                || leaf
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_known_but_not_leaves() {
        let catalog = FieldCatalog::security_associations(&OntapVersion::default());
        assert!(catalog.is_known("ipsec.inbound"));
        assert!(!catalog.is_leaf("ipsec.inbound"));
        assert!(catalog.is_leaf("ipsec.inbound.bytes"));
        assert!(!catalog.is_known("ipsec.in"));
        assert!(!catalog.is_known("bogus"));
    }

    #[test]
    fn offload_counters_exist_from_9_16_1() {
        let old = FieldCatalog::security_associations(&OntapVersion::new(9, 15, 1));
        let new = FieldCatalog::security_associations(&OntapVersion::new(9, 16, 1));
        assert!(!old.is_known("ipsec.inbound.offload_bytes"));
        assert!(new.is_leaf("ipsec.inbound.offload_bytes"));
    }

    #[test]
    fn cluster_network_has_no_svm_or_scope_but_offload_counters() {
        let catalog = FieldCatalog::cluster_network(&OntapVersion::new(9, 19, 0));
        assert!(!catalog.is_known("svm"));
        assert!(!catalog.is_known("scope"));
        assert!(catalog.is_leaf("node.name"));
        assert!(catalog.is_leaf("ipsec.outbound.offload_packets"));
    }
}
