//! The controller: watches OntapClusters and mirrors each cluster's security associations.

pub mod apply;
pub mod context;
pub mod error;
pub mod events;
pub mod fetch;
pub mod labels;
pub mod plan;
pub mod reconcile;
pub mod settings;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt as _;
use kube::api::ListParams;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt as _, reflector, watcher};
use kube::{Api, Client};

pub use context::Context;

use crate::crd::{FIELD_MANAGER, IpsecSecurityAssociation, LABEL_MANAGED_BY, MANAGED_BY, OntapCluster};

/// How to run the controller.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Watch one namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// OntapClusters polled at the same time.
    pub max_concurrent_polls: u16,
    /// Names this process in Events (the Pod name in a cluster).
    pub instance: Option<String>,
    /// Counts every write sent to the API server.
    pub writes: Arc<apply::WriteCounter>,
}

impl RunOptions {
    /// All namespaces, default concurrency, a fresh write counter.
    #[must_use]
    pub fn new(namespace: Option<String>) -> Self {
        Self {
            namespace,
            max_concurrent_polls: DEFAULT_MAX_CONCURRENT_POLLS,
            instance: None,
            writes: Arc::default(),
        }
    }
}

/// OntapClusters polled at the same time unless configured otherwise.
pub const DEFAULT_MAX_CONCURRENT_POLLS: u16 = 8;

/// Errors that stop the controller from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the {kind} CustomResourceDefinition is not installed: install it with \
         `ontap-ipsec-operator crds | kubectl apply --server-side -f -` (or the Helm chart)"
    )]
    CrdMissing { kind: &'static str },
    #[error("cannot reach the API server to check the CustomResourceDefinitions: {0}")]
    Kube(#[from] kube::Error),
    #[error("the watch of mirrored objects ended before it was ready")]
    CacheNotReady,
}

/// Checks that both CRDs are served; the process should exit with this error's message if not.
pub async fn check_crds(client: &Client) -> Result<(), StartError> {
    let probe = ListParams::default().limit(1);
    let missing = |error: &kube::Error| matches!(error, kube::Error::Api(status) if status.code == 404);
    if let Err(error) = Api::<OntapCluster>::all(client.clone()).list_metadata(&probe).await {
        return Err(if missing(&error) { StartError::CrdMissing { kind: "OntapCluster" } } else { error.into() });
    }
    if let Err(error) = Api::<IpsecSecurityAssociation>::all(client.clone())
        .list_metadata(&probe)
        .await
    {
        return Err(if missing(&error) {
            StartError::CrdMissing { kind: "IpsecSecurityAssociation" }
        } else {
            error.into()
        });
    }
    Ok(())
}

/// Runs the controller until `shutdown` completes; in-flight polls finish first.
pub async fn run(
    client: Client,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    check_crds(&client).await?;
    let (clusters, mirrored): (Api<DeserializeGuard<OntapCluster>>, Api<DeserializeGuard<IpsecSecurityAssociation>>) =
        match &options.namespace {
            Some(namespace) => (
                Api::namespaced(client.clone(), namespace),
                Api::namespaced(client.clone(), namespace),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };

    let (store, writer) = reflector::store();
    let selector = format!("{LABEL_MANAGED_BY}={MANAGED_BY}");
    let mirror_watch = watcher(mirrored, watcher::Config::default().labels(&selector))
        .default_backoff()
        .reflect(writer)
        .for_each(|event| {
            if let Err(error) = event {
                tracing::warn!(%error, "watch of mirrored objects failed; retrying");
            }
            std::future::ready(())
        });
    let mirror_task = tokio::spawn(mirror_watch);
    // Planning against an empty cache would recreate every object: wait for the first list.
    store
        .wait_until_ready()
        .await
        .map_err(|_| StartError::CacheNotReady)?;
    tracing::info!(objects = store.len(), "mirrored objects cached");

    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: options.instance.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let context = Context::new(client, store, recorder, options.writes.clone());
    let config = kube::runtime::controller::Config::default().concurrency(options.max_concurrent_polls);
    Controller::new(clusters, watcher::Config::default())
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, Arc::clone(&context))
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile did not complete");
            }
            std::future::ready(())
        })
        .await;
    mirror_task.abort();
    tracing::info!(writes = context.writes.total(), "controller stopped");
    Ok(())
}
