//! Writes to the API server: server-side apply of mirrored objects and statuses under the
//! operator's field manager, deletions guarded by uid, and the OntapCluster's status.

use std::sync::atomic::Ordering;

use futures::{StreamExt as _, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::plan::{Deletion, DesiredObject, Write};
use crate::crd::{
    FIELD_MANAGER, IpsecSecurityAssociation, IpsecSecurityAssociationStatus, OntapCluster,
    OntapClusterStatus,
};
use crate::metrics::WriteCounter;

/// Writes in flight at once for one cluster: enough to keep the API server busy, few enough
/// not to crowd out other clients.
const WRITE_CONCURRENCY: usize = 16;
/// Writes prepared at a time; a multiple of the concurrency so batches rarely run half empty.
const WRITE_BATCH: usize = WRITE_CONCURRENCY * 16;

/// Refused writes after which a poll stops writing: past this many, the refusals are not about
/// single bad objects but about the operator's rights, and more requests would only add load.
const MAX_REFUSED_WRITES: usize = WRITE_CONCURRENCY;

/// The writes of a poll, in the order it makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// Server-side apply of a mirrored object's metadata and spec.
    ApplyObject,
    /// Server-side apply of a mirrored object's status.
    ApplyStatus,
    /// Merge patch of a mirrored object's conditions, when its cluster turns stale.
    PatchConditions,
    /// Deletion of a mirrored object whose SA is gone.
    Delete,
    /// Server-side apply of the OntapCluster's status.
    ApplyClusterStatus,
}

impl WriteStep {
    /// The resource the step writes, as in error messages.
    #[must_use]
    pub const fn resource(self) -> &'static str {
        match self {
            Self::ApplyClusterStatus => "ontapclusters",
            _ => "ipsecsecurityassociations",
        }
    }
}

impl std::fmt::Display for WriteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ApplyObject => "apply",
            Self::ApplyStatus | Self::ApplyClusterStatus => "apply the status of",
            Self::PatchConditions => "patch the conditions of",
            Self::Delete => "delete",
        })
    }
}

/// A write the API server did not take.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {object}{others}: {source}", others = others(*.also_refused))]
pub struct WriteError {
    /// Which write.
    pub step: WriteStep,
    /// `<resource>/<name>`.
    pub object: String,
    /// Other writes of the same poll refused with it.
    pub also_refused: usize,
    #[source]
    pub source: kube::Error,
}

fn others(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => " (and 1 other object)".to_owned(),
        n => format!(" (and {n} other objects)"),
    }
}

impl WriteError {
    fn new(step: WriteStep, name: &str, source: kube::Error) -> Self {
        Self {
            step,
            object: format!("{}/{name}", step.resource()),
            also_refused: 0,
            source,
        }
    }

    /// True when the API server refused the write itself (RBAC, admission, validation, quota,
    /// a terminating namespace), as opposed to failing to answer: retrying soon will not help.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        matches!(&self.source, kube::Error::Api(status) if matches!(status.code, 400 | 403 | 413 | 422))
    }

    /// What went wrong without the object's name, so that the same refusal of another object
    /// counts as the same cause.
    #[must_use]
    pub fn cause(&self) -> String {
        let name = self.object.rsplit('/').next().unwrap_or_default();
        let text = match &self.source {
            kube::Error::Api(status) => {
                format!("{} {}: {}", status.code, status.reason, status.message)
            }
            other => other.to_string(),
        };
        format!("{} {}", self.step, text.replace(name, "<name>"))
    }

    /// Label for metrics.
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        if self.is_refusal() {
            "api_server_write_refused"
        } else {
            "api_server_write"
        }
    }
}

fn apply_params() -> PatchParams {
    // Forced: the operator is the only legitimate writer of these fields.
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies metadata and spec (when they differ) and then status (when it differs) of every
/// desired object. An object the API server refuses does not stop the others, up to
/// [`MAX_REFUSED_WRITES`]; any other failure ends the writes, and the next poll retries.
pub async fn apply_objects(
    api: &Api<IpsecSecurityAssociation>,
    objects: &[DesiredObject],
    writes: &WriteCounter,
) -> Result<(), WriteError> {
    let to_write: Vec<(&str, &Write)> = objects
        .iter()
        .filter_map(|desired| Some((desired.name.as_str(), desired.write.as_deref()?)))
        .collect();
    let mut refusals = Refusals::default();
    // Futures are created a batch at a time: 10,000 pending requests at once cost memory.
    for batch in to_write.chunks(WRITE_BATCH) {
        let pending: Vec<_> = batch
            .iter()
            .map(|(name, write)| apply_one(api, name, write, writes))
            .collect();
        run_bounded(pending, &mut refusals).await?;
    }
    refusals.take_result()
}

async fn apply_one(
    api: &Api<IpsecSecurityAssociation>,
    name: &str,
    write: &Write,
    writes: &WriteCounter,
) -> Result<(), WriteError> {
    if let Some(object) = &write.object {
        api.patch(name, &apply_params(), &Patch::Apply(object))
            .await
            .map_err(|error| WriteError::new(WriteStep::ApplyObject, name, error))?;
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
) -> Result<(), WriteError> {
    apply_status_of(api, name, status)
        .await
        .map_err(|error| WriteError::new(WriteStep::ApplyStatus, name, error))?;
    writes
        .security_association_status_applies
        .fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Replaces the conditions of many objects' status, as when a cluster turns stale. A merge
/// patch of the conditions alone, since the rest of each status is not kept between polls; the
/// next complete poll applies whole statuses again.
pub async fn patch_conditions(
    api: &Api<IpsecSecurityAssociation>,
    conditions: &[(String, Vec<Condition>)],
    writes: &WriteCounter,
) -> Result<(), WriteError> {
    let pending: Vec<_> = conditions
        .iter()
        .map(|(name, conditions)| async move {
            let patch = Patch::Merge(json!({"status": {"conditions": conditions}}));
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            api.patch_status(name, &params, &patch)
                .await
                .map_err(|error| WriteError::new(WriteStep::PatchConditions, name, error))?;
            writes
                .security_association_status_applies
                .fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .collect();
    let mut refusals = Refusals::default();
    run_bounded(pending, &mut refusals).await?;
    refusals.take_result()
}

/// Deletes objects whose SA is gone; the uid precondition keeps a newer object of the same
/// name safe, and an object already gone is fine.
pub async fn delete_objects(
    api: &Api<IpsecSecurityAssociation>,
    deletions: &[Deletion],
    writes: &WriteCounter,
) -> Result<(), WriteError> {
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
                Err(error) => Err(WriteError::new(WriteStep::Delete, &deletion.name, error)),
            }
        })
        .collect();
    let mut refusals = Refusals::default();
    run_bounded(pending, &mut refusals).await?;
    refusals.take_result()
}

/// Refused writes of one poll: the first, and how many more.
#[derive(Default)]
struct Refusals {
    first: Option<WriteError>,
    count: usize,
}

impl Refusals {
    /// Records a refusal; `Err` once there are too many to go on.
    fn add(&mut self, error: WriteError) -> Result<(), WriteError> {
        self.count += 1;
        self.first.get_or_insert(error);
        if self.count >= MAX_REFUSED_WRITES {
            let mut refusals = std::mem::take(self);
            return refusals.take_result();
        }
        Ok(())
    }

    fn take_result(&mut self) -> Result<(), WriteError> {
        match self.first.take() {
            Some(mut first) => {
                first.also_refused = self.count - 1;
                Err(first)
            }
            None => Ok(()),
        }
    }
}

/// Runs the writes with at most `WRITE_CONCURRENCY` in flight. Refusals are counted and the
/// rest go on; the first failure of another kind (the API server not answering) stops them.
// Collecting the futures first (rather than mapping a stream) keeps the future `Send` for
// the controller's higher-ranked bounds.
async fn run_bounded<F>(pending: Vec<F>, refusals: &mut Refusals) -> Result<(), WriteError>
where
    F: Future<Output = Result<(), WriteError>>,
{
    let mut results = stream::iter(pending).buffer_unordered(WRITE_CONCURRENCY);
    while let Some(result) = results.next().await {
        match result {
            Ok(()) => {}
            Err(error) if error.is_refusal() => refusals.add(error)?,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Applies the OntapCluster's status.
pub async fn apply_cluster_status(
    api: &Api<OntapCluster>,
    name: &str,
    status: &OntapClusterStatus,
    writes: &WriteCounter,
) -> Result<(), WriteError> {
    apply_status_of(api, name, status)
        .await
        .map_err(|error| WriteError::new(WriteStep::ApplyClusterStatus, name, error))?;
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
