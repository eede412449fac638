//! Writes to the API server: server-side apply of mirrored objects and statuses under the
//! operator's field manager, deletions guarded by uid, and the OntapCluster's status.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt as _, TryStreamExt as _, stream};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::plan::{Deletion, DesiredObject, Write};
use crate::crd::{
    FIELD_MANAGER, IpsecSecurityAssociation, IpsecSecurityAssociationStatus, OntapCluster,
    OntapClusterStatus,
};

/// Writes in flight at once for one cluster: enough to keep the API server busy, few enough
/// not to crowd out other clients.
const WRITE_CONCURRENCY: usize = 16;
/// Writes prepared at a time; a multiple of the concurrency so batches rarely run half empty.
const WRITE_BATCH: usize = WRITE_CONCURRENCY * 16;

/// Counts the writes the operator sends, by kind and verb.
#[derive(Debug, Default)]
pub struct WriteCounter {
    pub security_association_applies: AtomicU64,
    pub security_association_status_applies: AtomicU64,
    pub security_association_deletes: AtomicU64,
    pub cluster_status_applies: AtomicU64,
}

impl WriteCounter {
    /// All writes so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        [
            &self.security_association_applies,
            &self.security_association_status_applies,
            &self.security_association_deletes,
            &self.cluster_status_applies,
        ]
        .iter()
        .map(|counter| counter.load(Ordering::Relaxed))
        .sum()
    }
}

fn apply_params() -> PatchParams {
    // Forced: the operator is the only legitimate writer of these fields.
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies metadata and spec (when they differ) and then status (when it differs) of every
/// desired object. The first failure ends the batch; the next poll retries what is left.
pub async fn apply_objects(
    api: &Api<IpsecSecurityAssociation>,
    objects: &[DesiredObject],
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    let to_write: Vec<(&str, &Write)> = objects
        .iter()
        .filter_map(|desired| Some((desired.name.as_str(), desired.write.as_deref()?)))
        .collect();
    // Futures are created a batch at a time: 10,000 pending requests at once cost memory.
    for batch in to_write.chunks(WRITE_BATCH) {
        let pending: Vec<_> = batch
            .iter()
            .map(|(name, write)| apply_one(api, name, write, writes))
            .collect();
        run_bounded(pending).await?;
    }
    Ok(())
}

async fn apply_one(
    api: &Api<IpsecSecurityAssociation>,
    name: &str,
    write: &Write,
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    if let Some(object) = &write.object {
        api.patch(name, &apply_params(), &Patch::Apply(object))
            .await?;
        writes
            .security_association_applies
            .fetch_add(1, Ordering::Relaxed);
    }
    apply_status(api, name, &write.status, writes).await
}

/// Applies the status of one mirrored object.
pub async fn apply_status(
    api: &Api<IpsecSecurityAssociation>,
    name: &str,
    status: &IpsecSecurityAssociationStatus,
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    apply_status_of(api, name, status).await?;
    writes
        .security_association_status_applies
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Applies many statuses, as when a cluster turns stale.
pub async fn apply_statuses(
    api: &Api<IpsecSecurityAssociation>,
    statuses: &[(String, IpsecSecurityAssociationStatus)],
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    let pending: Vec<_> = statuses
        .iter()
        .map(|(name, status)| apply_status(api, name, status, writes))
        .collect();
    run_bounded(pending).await
}

/// Deletes objects whose SA is gone; the uid precondition keeps a newer object of the same
/// name safe, and an object already gone is fine.
pub async fn delete_objects(
    api: &Api<IpsecSecurityAssociation>,
    deletions: &[Deletion],
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    let pending: Vec<_> = deletions
        .iter()
        .map(|deletion| async move {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: deletion.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            writes
                .security_association_deletes
                .fetch_add(1, Ordering::Relaxed);
            match api.delete(&deletion.name, &params).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
                Err(error) => Err(error),
            }
        })
        .collect();
    run_bounded(pending).await
}

/// Runs the writes with at most `WRITE_CONCURRENCY` in flight, stopping at the first error.
// Collecting the futures first (rather than mapping a stream) keeps the future `Send` for
// the controller's higher-ranked bounds.
async fn run_bounded<F>(pending: Vec<F>) -> Result<(), kube::Error>
where
    F: Future<Output = Result<(), kube::Error>>,
{
    stream::iter(pending)
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Applies the OntapCluster's status.
pub async fn apply_cluster_status(
    api: &Api<OntapCluster>,
    name: &str,
    status: &OntapClusterStatus,
    writes: &WriteCounter,
) -> Result<(), kube::Error> {
    apply_status_of(api, name, status).await?;
    writes
        .cluster_status_applies
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Server-side applies `status` to the status subresource of `name`.
async fn apply_status_of<K>(
    api: &Api<K>,
    name: &str,
    status: &impl serde::Serialize,
) -> Result<(), kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "status": status,
    });
    api.patch_status(name, &apply_params(), &Patch::Apply(&body))
        .await
        .map(drop)
}
