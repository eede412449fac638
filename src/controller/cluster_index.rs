//! Which mirrored objects each OntapCluster has, kept beside the watch cache so that a poll
//! looks only at its own objects: with 50 clusters, scanning every cached object on every poll
//! was a sixth of a poll's CPU.
//!
//! The index may name objects the cache no longer holds, or that belong to another cluster
//! whose name truncates to the same label value; readers look each name up in the cache and
//! check its owner, so a stale entry costs a lookup and never a wrong plan.

use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use kube::core::DeserializeGuard;
use kube::runtime::watcher::Event;

use super::labels::label_value;
use crate::crd::ClusterId;
use crate::crd::{IpsecSecurityAssociation, LABEL_CLUSTER};

type Names = HashMap<ClusterId, HashSet<String>>;

/// Object names by `(namespace, cluster label value)`, fed by the watch of mirrored objects.
#[derive(Debug, Default)]
pub struct ClusterIndex {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: Names,
    /// Built during a re-list; replaces `live` when the list is complete, as the cache does.
    relisting: Option<Names>,
}

impl ClusterIndex {
    /// Follows one event of the watch, after the cache has applied it.
    pub fn observe(&self, event: &Event<DeserializeGuard<IpsecSecurityAssociation>>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => insert(&mut inner.live, object),
            Event::Delete(object) => {
                if let Some((key, name)) = entry(object)
                    && let Some(names) = inner.live.get_mut(&key)
                {
                    names.remove(&name);
                    if names.is_empty() {
                        inner.live.remove(&key);
                    }
                }
            }
            Event::Init => inner.relisting = Some(Names::new()),
            Event::InitApply(object) => {
                insert(inner.relisting.get_or_insert_with(Names::new), object);
            }
            Event::InitDone => {
                if let Some(relisted) = inner.relisting.take() {
                    inner.live = relisted;
                }
            }
        }
    }

    /// Names of the objects that may belong to `cluster` in `namespace`.
    #[must_use]
    pub fn names(&self, namespace: &str, cluster: &str) -> Vec<String> {
        let key = ClusterId::new(namespace, label_value(cluster));
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .live
            .get(&key)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn insert(names: &mut Names, object: &DeserializeGuard<IpsecSecurityAssociation>) {
    if let Some((key, name)) = entry(object) {
        names.entry(key).or_default().insert(name);
    }
}

/// The index key and name of an object: by its `clusterRef` when it decodes, else by its
/// cluster label, which is all a malformed object still tells.
fn entry(object: &DeserializeGuard<IpsecSecurityAssociation>) -> Option<(ClusterId, String)> {
    let (metadata, cluster) = match &object.0 {
        Ok(object) => (&object.metadata, label_value(&object.spec.cluster_ref.name)),
        Err(invalid) => (
            &invalid.metadata,
            invalid
                .metadata
                .labels
                .as_ref()?
                .get(LABEL_CLUSTER)?
                .clone(),
        ),
    };
    Some((
        ClusterId::new(metadata.namespace.clone()?, cluster),
        metadata.name.clone()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ClusterReference;
    use crate::crd::IpsecSecurityAssociationSpec;

    fn object(name: &str, cluster: &str) -> DeserializeGuard<IpsecSecurityAssociation> {
        let mut object = IpsecSecurityAssociation::new(
            name,
            IpsecSecurityAssociationSpec {
                cluster_ref: ClusterReference {
                    name: cluster.to_owned(),
                },
                uuid: name.to_owned(),
            },
        );
        object.metadata.namespace = Some("ns".to_owned());
        DeserializeGuard(Ok(object))
    }

    fn sorted(mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
    }

    #[test]
    fn applies_and_deletes_move_names_in_and_out_of_their_cluster() {
        let index = ClusterIndex::default();
        index.observe(&Event::Apply(object("a-1", "a")));
        index.observe(&Event::Apply(object("a-2", "a")));
        index.observe(&Event::Apply(object("b-1", "b")));
        index.observe(&Event::Apply(object("a-1", "a")));
        assert_eq!(sorted(index.names("ns", "a")), ["a-1", "a-2"]);
        assert_eq!(index.names("ns", "b"), ["b-1"]);
        assert!(index.names("other", "a").is_empty());
        index.observe(&Event::Delete(object("a-1", "a")));
        assert_eq!(index.names("ns", "a"), ["a-2"]);
    }

    #[test]
    fn a_relist_replaces_the_names_only_when_it_is_complete() {
        let index = ClusterIndex::default();
        index.observe(&Event::Apply(object("a-1", "a")));
        index.observe(&Event::Init);
        index.observe(&Event::InitApply(object("a-2", "a")));
        assert_eq!(
            index.names("ns", "a"),
            ["a-1"],
            "kept until the list is done"
        );
        index.observe(&Event::InitDone);
        assert_eq!(index.names("ns", "a"), ["a-2"]);
    }
}
