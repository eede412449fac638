//! The controller: watches OntapClusters and mirrors each cluster's security associations.

pub mod apply;
pub mod context;
pub mod error;
pub mod events;
pub mod fetch;
pub mod labels;
pub mod mirror_cache;
pub mod mirrored;
pub mod plan;
pub mod poll_slots;
pub mod reconcile;
pub mod schedule;
pub mod settings;
pub mod source;
pub mod status;
pub mod transport;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use kube::api::ListParams;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt as _, reflector, watcher};
use kube::{Api, Client};
use mirror_cache::MirrorCache;

pub use context::{Context, ContextOptions};

use crate::http::Readiness;
use crate::metrics::Metrics;
use prometheus_client::registry::Registry;

use crate::crd::{
    FIELD_MANAGER, IpsecSecurityAssociation, LABEL_MANAGED_BY, MANAGED_BY, OntapCluster,
};

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
    pub writes: Arc<crate::metrics::WriteCounter>,
    /// Where poll results are exported.
    pub metrics: Arc<Metrics>,
    /// Set ready once the CRDs are found and the caches are synced.
    pub readiness: Arc<Readiness>,
    /// How long to wait for the CRDs to appear before giving up.
    pub crd_wait: Duration,
    /// Benchmark baseline only: apply every object and status on every poll, as a naive
    /// operator would, instead of only what differs.
    pub apply_everything: bool,
    /// Most SAs one cluster's listing may hold; beyond it the cluster is `Stalled`.
    pub max_security_associations: usize,
    /// Refuse (`Stalled`) clusters whose spec turns TLS verification off or allows plain HTTP.
    pub forbid_insecure_transport: bool,
}

impl RunOptions {
    /// All namespaces, default concurrency, a fresh write counter.
    #[must_use]
    pub fn new(namespace: Option<String>) -> Self {
        let writes: Arc<crate::metrics::WriteCounter> = Arc::default();
        let metrics = Metrics::register(&mut Registry::default(), writes.clone());
        Self::with_metrics(namespace, writes, metrics)
    }

    /// Like [`RunOptions::new`], exporting to `metrics` (registered with the same `writes`).
    #[must_use]
    pub fn with_metrics(
        namespace: Option<String>,
        writes: Arc<crate::metrics::WriteCounter>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            namespace,
            max_concurrent_polls: DEFAULT_MAX_CONCURRENT_POLLS,
            instance: None,
            writes,
            metrics,
            readiness: Arc::default(),
            crd_wait: DEFAULT_CRD_WAIT,
            apply_everything: false,
            max_security_associations: crate::ontap::config::DEFAULT_MAX_SECURITY_ASSOCIATIONS,
            forbid_insecure_transport: false,
        }
    }
}

/// How long a starting operator waits for its CRDs (installed by the same Helm release, say).
pub const DEFAULT_CRD_WAIT: Duration = Duration::from_secs(60);
/// How long a stopping controller may spend finishing its in-flight polls: what they had not
/// written, the next leader's first poll writes.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often clusters deleted from the API server are looked for, to drop their metrics.
const FORGET_SWEEP: Duration = Duration::from_secs(15);

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
}

/// Checks that both CRDs are served, listing in `namespace` when the operator watches one, so
/// a namespaced install needs no cluster-wide right.
pub async fn check_crds(client: &Client, namespace: Option<&str>) -> Result<(), StartError> {
    check_served::<OntapCluster>(client, namespace, "OntapCluster").await?;
    check_served::<IpsecSecurityAssociation>(client, namespace, "IpsecSecurityAssociation").await
}

/// Lists at most one object of kind `K` to learn whether the API server serves it.
async fn check_served<K>(
    client: &Client,
    namespace: Option<&str>,
    kind: &'static str,
) -> Result<(), StartError>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let probe = ListParams::default().limit(1);
    let api = match namespace {
        Some(namespace) => Api::<K>::namespaced(client.clone(), namespace),
        None => Api::<K>::all(client.clone()),
    };
    match api.list_metadata(&probe).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(StartError::CrdMissing { kind }),
        Err(error) => Err(error.into()),
    }
}

/// Waits up to `crd_wait` for the CRDs, reporting why `/readyz` fails meanwhile.
async fn wait_for_crds(client: &Client, options: &RunOptions) -> Result<(), StartError> {
    let deadline = Instant::now() + options.crd_wait;
    loop {
        match check_crds(client, options.namespace.as_deref()).await {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "waiting for the CustomResourceDefinitions");
                options.readiness.set_not_ready(error.to_string());
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Runs the controller until `shutdown` completes; in-flight polls get [`STOP_GRACE`] to finish.
pub async fn run(
    client: Client,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    wait_for_crds(&client, &options).await?;
    let (clusters, mirrored): (
        Api<DeserializeGuard<OntapCluster>>,
        Api<DeserializeGuard<IpsecSecurityAssociation>>,
    ) = match &options.namespace {
        Some(namespace) => (
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };

    let cache = Arc::new(MirrorCache::default());
    let fed = Arc::clone(&cache);
    let selector = format!("{LABEL_MANAGED_BY}={MANAGED_BY}");
    let mirror_watch = watcher(mirrored, watcher::Config::default().labels(&selector))
        .default_backoff()
        .for_each(move |event| {
            match event {
                Ok(event) => fed.observe(&event),
                Err(error) => tracing::warn!(%error, "watch of mirrored objects failed; retrying"),
            }
            std::future::ready(())
        });
    let mirror_task = tokio::spawn(mirror_watch);
    // Planning against an empty cache would recreate every object: wait for the first list.
    cache.wait_until_ready().await;
    tracing::info!(objects = cache.len(), "mirrored objects cached");

    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: options.instance.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let context = Context::new(
        client,
        cache,
        recorder,
        options.writes.clone(),
        options.metrics.clone(),
        ContextOptions {
            max_concurrent_polls: options.max_concurrent_polls,
            max_security_associations: options.max_security_associations,
            forbid_insecure_transport: options.forbid_insecure_transport,
            apply_everything: options.apply_everything,
        },
    );
    // No limit here: a reconcile that finds its cluster not yet due costs nothing, and the
    // polls themselves are bounded by the context's poll slots, which keep a share for
    // healthy clusters.
    let config = kube::runtime::controller::Config::default().concurrency(0);
    let controller = Controller::new(clusters, watcher::Config::default()).with_config(config);
    let sweep = tokio::spawn(forget_deleted(controller.store(), Arc::clone(&context)));
    let shutdown = shutdown.shared();
    let cluster_cache = controller.store();
    // A controller told to stop before its first list of OntapClusters arrived would wait for
    // that list for ever: stopping ends the watch that would have delivered it, and kube's
    // runner holds every task, its own end included, until the cache is ready. So the graceful
    // stop waits for the first list (briefly), and a forceful one follows the grace period.
    let graceful = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.await;
            let _ = tokio::time::timeout(STOP_GRACE, cluster_cache.wait_until_ready()).await;
        }
    };
    let forceful = async move {
        shutdown.await;
        tokio::time::sleep(STOP_GRACE).await;
        tracing::warn!(
            grace_seconds = STOP_GRACE.as_secs(),
            "in-flight polls did not finish in time; stopping without them"
        );
    };
    options.readiness.set_ready();
    controller
        .graceful_shutdown_on(graceful)
        .run(
            reconcile::reconcile,
            reconcile::error_policy,
            Arc::clone(&context),
        )
        .take_until(forceful)
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile did not complete");
            }
            std::future::ready(())
        })
        .await;
    mirror_task.abort();
    sweep.abort();
    tracing::info!(writes = context.writes.total(), "controller stopped");
    Ok(())
}

/// Drops memory and metrics of clusters that no longer exist; deletions do not reach
/// `reconcile`, which only sees objects that are still there.
async fn forget_deleted(
    clusters: reflector::Store<DeserializeGuard<OntapCluster>>,
    context: Arc<Context>,
) {
    let mut interval = tokio::time::interval(FORGET_SWEEP);
    loop {
        interval.tick().await;
        for key in context.remembered() {
            let reference = reflector::ObjectRef::new(&key.name).within(&key.namespace);
            if clusters.get(&reference).is_none() {
                tracing::debug!(cluster = %key, "forgetting a deleted cluster");
                context.forget(&key);
            }
        }
    }
}
