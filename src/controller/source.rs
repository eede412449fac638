//! Mirror sources: the ONTAP collections mirrored into `IpsecSecurityAssociation`s. A source
//! says where its records live and how its mirrors are told apart; everything else (paging,
//! planning, writing, pruning) is shared. Adding an ONTAP endpoint means adding a source here.

use super::mirrored::Mirrored;
use crate::crd::condition::{REASON_CLUSTER_NETWORK_UNSUPPORTED, REASON_UNSUPPORTED_VERSION};
use crate::crd::{ClusterNetwork, Network, OntapClusterSpec};
use crate::ontap::Selector;
use crate::ontap::client::{SECURITY_ASSOCIATION_FIELDS, SECURITY_ASSOCIATIONS_PATH};
use crate::ontap::model::ClusterVersion;

/// One ONTAP collection of security associations, and how its mirrors are named and labelled.
#[derive(Debug)]
pub struct MirrorSource {
    /// The label and status value of its mirrors.
    pub network: Network,
    /// The collection's path.
    pub path: &'static str,
    /// The fields asked for: only what the operator shows.
    pub fields: &'static str,
    /// The oldest ONTAP release, `(generation, major)`, that serves the collection.
    pub since: (u64, u64),
    /// Whether its records belong to SVMs, so that a selector's SVM filter applies.
    pub has_svm: bool,
    /// Put between the OntapCluster's name and the uuid in object names, so that two sources
    /// never name the same object.
    pub name_infix: &'static str,
    /// Whether the OntapCluster's spec asks for this source.
    pub wanted: fn(&OntapClusterSpec) -> Wanted,
    /// Whether any failure to list it fails the whole poll. Otherwise ONTAP refusing the
    /// collection (403) or lacking it (404) is reported with `unserved_reason` while the other
    /// sources are mirrored.
    pub required: bool,
    /// The `Ready` reason when the source is wanted but ONTAP does not serve it.
    pub unserved_reason: &'static str,
}

/// Whether a spec asks for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Yes,
    /// When the ONTAP release is known to serve it.
    IfServed,
    No,
}

/// What a poll does with a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// List it and mirror what it holds.
    List,
    /// Not asked for, or not served by this release: its mirrors, if any, are deleted.
    Off,
    /// Asked for, but this release does not serve it: its mirrors are kept and `Ready` says so.
    Unserved(String),
}

/// The front-end (data) network's SAs: ONTAP 9.8 and later.
pub const DATA: MirrorSource = MirrorSource {
    network: Network::Data,
    path: SECURITY_ASSOCIATIONS_PATH,
    fields: SECURITY_ASSOCIATION_FIELDS,
    since: (9, 8),
    has_svm: true,
    name_infix: "",
    wanted: |_| Wanted::Yes,
    required: true,
    unserved_reason: REASON_UNSUPPORTED_VERSION,
};

/// The cluster interconnect's SAs: ONTAP 9.19 and later, as `spec.clusterNetwork` says. Its
/// records have no SVM; their objects are named `<cluster>-cn-<uuid>`.
pub const CLUSTER_NETWORK: MirrorSource = MirrorSource {
    network: Network::Cluster,
    path: "/api/security/cluster-network/ipsec/associations",
    fields: "uuid,type,node,policy_name,local_address,remote_address,cipher_suite,lifetime,ike,\
ipsec",
    since: (9, 19),
    has_svm: false,
    name_infix: "cn-",
    wanted: |spec| match spec.cluster_network {
        ClusterNetwork::Auto => Wanted::IfServed,
        ClusterNetwork::Enabled => Wanted::Yes,
        ClusterNetwork::Disabled => Wanted::No,
    },
    required: false,
    unserved_reason: REASON_CLUSTER_NETWORK_UNSUPPORTED,
};

/// Every source, in the order a poll lists them.
pub const ALL: [&MirrorSource; 2] = [&DATA, &CLUSTER_NETWORK];

impl MirrorSource {
    /// What a poll of a cluster with `spec`, reporting `version`, does with this source.
    #[must_use]
    pub fn decide(&self, spec: &OntapClusterSpec, version: Option<&ClusterVersion>) -> Decision {
        match ((self.wanted)(spec), self.served_by(version)) {
            (Wanted::No, _) | (Wanted::IfServed, None | Some(false)) => Decision::Off,
            (Wanted::Yes, Some(false)) => Decision::Unserved(format!(
                "ONTAP {} does not serve {} (it needs {}.{} or later)",
                version
                    .and_then(ClusterVersion::release)
                    .unwrap_or_default(),
                self.path,
                self.since.0,
                self.since.1
            )),
            (Wanted::Yes | Wanted::IfServed, _) => Decision::List,
        }
    }

    /// The ONTAP query filters of `selector` for this source; `None` when the selector can match
    /// none of its records (SVM names, for records that have no SVM).
    #[must_use]
    pub fn filters(&self, selector: &Selector) -> Option<Vec<(&'static str, String)>> {
        if !self.has_svm && !selector.svms.is_empty() {
            return None;
        }
        Some(selector.query_filters())
    }

    /// `Some(true)` when `version` serves the collection, `None` when the version is unknown.
    #[must_use]
    pub fn served_by(&self, version: Option<&ClusterVersion>) -> Option<bool> {
        let version = version?;
        Some((version.generation?, version.major?) >= self.since)
    }

    /// Whether `object` mirrors a record of this source. Objects written before mirrors carried
    /// the network label are the data network's.
    #[must_use]
    pub fn owns(&self, object: &Mirrored) -> bool {
        self.owns_label(object.network.as_deref())
    }

    /// [`MirrorSource::owns`] from the value of the network label.
    #[must_use]
    pub fn owns_label(&self, network: Option<&str>) -> bool {
        match network {
            Some(value) => value == self.network.as_str(),
            None => self.network == Network::Data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(generation: u64, major: u64) -> ClusterVersion {
        ClusterVersion {
            generation: Some(generation),
            major: Some(major),
            minor: Some(0),
            full: None,
        }
    }

    #[test]
    fn a_source_is_served_from_its_release_on() {
        assert_eq!(DATA.served_by(Some(&version(9, 7))), Some(false));
        assert_eq!(DATA.served_by(Some(&version(9, 8))), Some(true));
        assert_eq!(DATA.served_by(Some(&version(10, 0))), Some(true));
        assert_eq!(DATA.served_by(None), None);
        assert_eq!(DATA.served_by(Some(&ClusterVersion::default())), None);
    }

    #[test]
    fn the_cluster_network_follows_the_spec_and_the_release() {
        let mut spec = OntapClusterSpec::new("https://c", "s");
        let (old, new) = (version(9, 18), version(9, 19));
        assert_eq!(CLUSTER_NETWORK.decide(&spec, Some(&new)), Decision::List);
        assert_eq!(CLUSTER_NETWORK.decide(&spec, Some(&old)), Decision::Off);
        assert_eq!(CLUSTER_NETWORK.decide(&spec, None), Decision::Off);
        spec.cluster_network = ClusterNetwork::Enabled;
        assert_eq!(CLUSTER_NETWORK.decide(&spec, None), Decision::List);
        let Decision::Unserved(why) = CLUSTER_NETWORK.decide(&spec, Some(&old)) else {
            panic!("an older release does not serve it");
        };
        assert!(why.contains("9.18.0") && why.contains("9.19"), "{why}");
        spec.cluster_network = ClusterNetwork::Disabled;
        assert_eq!(CLUSTER_NETWORK.decide(&spec, Some(&new)), Decision::Off);
        assert_eq!(DATA.decide(&spec, Some(&new)), Decision::List);
    }

    #[test]
    fn an_svm_selector_matches_no_cluster_network_record() {
        let selector = Selector {
            svms: vec!["vs0".into()],
            ..Selector::default()
        };
        assert_eq!(CLUSTER_NETWORK.filters(&selector), None);
        assert_eq!(
            DATA.filters(&selector),
            Some(vec![("svm.name", "vs0".to_owned())])
        );
        assert_eq!(CLUSTER_NETWORK.filters(&Selector::default()), Some(vec![]));
    }

    #[test]
    fn objects_without_a_network_label_belong_to_the_data_network() {
        assert!(DATA.owns_label(None));
        assert!(DATA.owns_label(Some("data")));
        assert!(!CLUSTER_NETWORK.owns_label(None));
        assert!(!DATA.owns_label(Some("cluster")));
        assert!(CLUSTER_NETWORK.owns_label(Some("cluster")));
        assert!(!DATA.owns_label(Some("other")) && !CLUSTER_NETWORK.owns_label(Some("other")));
    }
}
