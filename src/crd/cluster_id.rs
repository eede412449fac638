//! One OntapCluster named the way every layer needs it: the key of what the operator remembers,
//! the metric labels and the log fields.

use std::fmt;

use super::OntapCluster;

/// The namespace and name of an OntapCluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId {
    pub namespace: String,
    pub name: String,
}

impl ClusterId {
    #[must_use]
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `None` when the object has not been stored yet (no namespace or name).
    #[must_use]
    pub fn of(cluster: &OntapCluster) -> Option<Self> {
        Some(Self::new(
            cluster.metadata.namespace.clone()?,
            cluster.metadata.name.clone()?,
        ))
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
