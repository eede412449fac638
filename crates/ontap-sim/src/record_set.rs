//! The two sets of security associations the simulator serves, and where and from when each is served.

use super::paths;
use super::version::OntapVersion;

/// One set of security-association records, with its own endpoint, store and control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordSet {
    /// `/api/security/ipsec/security-associations` (front-end, data network), from ONTAP 9.8.
    SecurityAssociations,
    /// `/api/security/cluster-network/ipsec/associations` (cluster interconnect), from 9.19.
    ClusterNetwork,
}

impl RecordSet {
    pub const ALL: [Self; 2] = [Self::SecurityAssociations, Self::ClusterNetwork];

    /// The collection path under `/api/`.
    #[must_use]
    pub fn api_path(self) -> &'static str {
        match self {
            Self::SecurityAssociations => paths::SECURITY_ASSOCIATIONS,
            Self::ClusterNetwork => paths::CLUSTER_NETWORK_ASSOCIATIONS,
        }
    }

    /// The collection path of the control API under `/_sim/`.
    #[must_use]
    pub fn control_path(self) -> &'static str {
        match self {
            Self::SecurityAssociations => paths::CONTROL_SECURITY_ASSOCIATIONS,
            Self::ClusterNetwork => paths::CONTROL_CLUSTER_NETWORK_ASSOCIATIONS,
        }
    }

    /// True when ONTAP `version` serves this set's endpoints.
    #[must_use]
    pub fn exists_on(self, version: &OntapVersion) -> bool {
        match self {
            Self::SecurityAssociations => version.is_at_least(9, 8, 0),
            Self::ClusterNetwork => version.is_at_least(9, 19, 0),
        }
    }

    /// Prefix of the SPIs this set writes: NetApp's 9.19 cluster-network example shows `0x…`,
    /// the front-end CLI prints bare hex digits.
    #[must_use]
    pub fn spi_prefix(self) -> &'static str {
        match self {
            Self::SecurityAssociations => "",
            Self::ClusterNetwork => "0x",
        }
    }

    /// Position in [`ALL`](Self::ALL), for per-set arrays.
    #[must_use]
    pub(crate) fn index(self) -> usize {
        match self {
            Self::SecurityAssociations => 0,
            Self::ClusterNetwork => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_network_exists_from_9_19() {
        let set = RecordSet::ClusterNetwork;
        assert!(!set.exists_on(&OntapVersion::new(9, 18, 1)));
        assert!(set.exists_on(&OntapVersion::new(9, 19, 0)));
        assert!(set.exists_on(&OntapVersion::new(9, 19, 1)));
        assert!(RecordSet::SecurityAssociations.exists_on(&OntapVersion::new(9, 8, 0)));
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (position, set) in RecordSet::ALL.into_iter().enumerate() {
            assert_eq!(set.index(), position);
        }
    }
}
