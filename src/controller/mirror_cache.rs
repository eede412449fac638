//! The mirrored objects, as the watch last saw them, by OntapCluster: each kept as a
//! [`Mirrored`] of a few hundred bytes rather than the whole object, so memory grows little with
//! the number of SAs. A poll looks only at its own cluster's objects.
//!
//! Objects are filed under `(namespace, cluster label value)`. Names that truncate to the same
//! label value share an entry; readers check each object's cluster, so that costs a comparison
//! and never a wrong plan.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use kube::core::DeserializeGuard;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

use super::labels::label_value;
use super::mirrored::Mirrored;
use crate::crd::{ClusterId, IpsecSecurityAssociation, LABEL_CLUSTER};

type Objects = HashMap<ClusterId, HashMap<String, Arc<Mirrored>>>;

/// Fed by the watch of mirrored objects; read by every poll.
#[derive(Debug)]
pub struct MirrorCache {
    inner: RwLock<Inner>,
    /// True once the first complete list arrived: planning against an empty cache would
    /// recreate every object.
    ready: watch::Sender<bool>,
}

impl Default for MirrorCache {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            ready: watch::Sender::new(false),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    live: Objects,
    /// Built during a re-list; replaces `live` when the list is complete.
    relisting: Option<Objects>,
}

impl MirrorCache {
    /// Follows one event of the watch.
    pub fn observe(&self, event: &Event<DeserializeGuard<IpsecSecurityAssociation>>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => insert(&mut inner.live, object),
            Event::Delete(object) => {
                if let Some((key, name, _)) = entry(object)
                    && let Some(objects) = inner.live.get_mut(&key)
                {
                    objects.remove(&name);
                    if objects.is_empty() {
                        inner.live.remove(&key);
                    }
                }
            }
            Event::Init => inner.relisting = Some(Objects::new()),
            Event::InitApply(object) => {
                insert(inner.relisting.get_or_insert_with(Objects::new), object);
            }
            Event::InitDone => {
                if let Some(relisted) = inner.relisting.take() {
                    inner.live = relisted;
                }
                self.ready.send_replace(true);
            }
        }
    }

    /// Waits for the first complete list.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// How many objects are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.live.values().map(HashMap::len).sum()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects of `cluster` by name: those whose `clusterRef` names it, and those that do not
    /// decode but carry its label.
    #[must_use]
    pub fn objects_of(&self, cluster: &ClusterId) -> HashMap<String, Arc<Mirrored>> {
        let key = ClusterId::new(cluster.namespace.as_str(), label_value(&cluster.name));
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .live
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(_, mirrored)| {
                mirrored
                    .cluster
                    .as_deref()
                    .is_none_or(|name| name == cluster.name)
            })
            .map(|(name, mirrored)| (name.clone(), Arc::clone(mirrored)))
            .collect()
    }
}

fn insert(objects: &mut Objects, object: &DeserializeGuard<IpsecSecurityAssociation>) {
    if let Some((key, name, mirrored)) = entry(object) {
        objects
            .entry(key)
            .or_default()
            .insert(name, Arc::new(mirrored));
    }
}

/// Where an object is filed and what is kept of it: by its `clusterRef` when it decodes, else
/// by its cluster label, which is all a malformed object still tells.
fn entry(
    object: &DeserializeGuard<IpsecSecurityAssociation>,
) -> Option<(ClusterId, String, Mirrored)> {
    let (metadata, cluster, mirrored) = match &object.0 {
        Ok(object) => (
            &object.metadata,
            label_value(&object.spec.cluster_ref.name),
            Mirrored::of(object),
        ),
        Err(invalid) => {
            let labels = invalid.metadata.labels.as_ref();
            (
                &invalid.metadata,
                labels?.get(LABEL_CLUSTER)?.clone(),
                Mirrored::malformed(invalid.metadata.uid.clone(), labels),
            )
        }
    };
    Some((
        ClusterId::new(metadata.namespace.clone()?, cluster),
        metadata.name.clone()?,
        mirrored,
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

    fn names(cache: &MirrorCache, cluster: &str) -> Vec<String> {
        let mut names: Vec<String> = cache
            .objects_of(&ClusterId::new("ns", cluster))
            .into_keys()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn applies_and_deletes_move_objects_in_and_out_of_their_cluster() {
        let cache = MirrorCache::default();
        cache.observe(&Event::Apply(object("a-1", "a")));
        cache.observe(&Event::Apply(object("a-2", "a")));
        cache.observe(&Event::Apply(object("b-1", "b")));
        cache.observe(&Event::Apply(object("a-1", "a")));
        assert_eq!(names(&cache, "a"), ["a-1", "a-2"]);
        assert_eq!(names(&cache, "b"), ["b-1"]);
        assert!(cache.objects_of(&ClusterId::new("other", "a")).is_empty());
        cache.observe(&Event::Delete(object("a-1", "a")));
        assert_eq!(names(&cache, "a"), ["a-2"]);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_relist_replaces_the_objects_only_when_it_is_complete() {
        let cache = MirrorCache::default();
        cache.observe(&Event::Apply(object("a-1", "a")));
        cache.observe(&Event::Init);
        cache.observe(&Event::InitApply(object("a-2", "a")));
        assert_eq!(names(&cache, "a"), ["a-1"], "kept until the list is done");
        cache.observe(&Event::InitDone);
        assert_eq!(names(&cache, "a"), ["a-2"]);
    }

    #[test]
    fn clusters_whose_names_share_a_label_value_stay_apart() {
        let long = "c".repeat(70);
        let longer = format!("{long}x");
        let cache = MirrorCache::default();
        cache.observe(&Event::Apply(object("one", &long)));
        cache.observe(&Event::Apply(object("two", &longer)));
        assert_eq!(names(&cache, &long), ["one"]);
        assert_eq!(names(&cache, &longer), ["two"]);
    }

    #[tokio::test]
    async fn ready_after_the_first_complete_list() {
        let cache = Arc::new(MirrorCache::default());
        let waiter = tokio::spawn({
            let cache = Arc::clone(&cache);
            async move { cache.wait_until_ready().await }
        });
        cache.observe(&Event::Init);
        assert!(!waiter.is_finished());
        cache.observe(&Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("ready")
            .expect("joins");
    }
}
