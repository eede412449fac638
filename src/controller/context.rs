//! What every reconcile shares: the Kubernetes client, the cache of mirrored objects, one ONTAP
//! client per cluster, and what the operator remembers about each cluster between polls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use kube::runtime::events::Recorder;

use super::fetch::SecretMaterial;
use super::mirror_cache::MirrorCache;
use super::poll_slots::PollSlots;
use super::schedule::Trigger;
use crate::crd::ClusterId;
use crate::metrics::Metrics;
use crate::metrics::WriteCounter;
use crate::ontap::{ClientConfig, ClusterIdentity, OntapClient};

/// Shared state of the controller.
pub struct Context {
    pub client: kube::Client,
    /// Mirrored objects as the watch last saw them, by cluster; malformed ones are kept, not
    /// dropped, so the next poll overwrites them instead of stalling the watch.
    pub mirrors: Arc<MirrorCache>,
    pub recorder: Recorder,
    pub writes: Arc<WriteCounter>,
    pub metrics: Arc<Metrics>,
    /// Benchmark baseline: write everything on every poll.
    pub apply_everything: bool,
    /// Bounds the polls in flight, and what failing clusters may take of them.
    pub poll_slots: PollSlots,
    /// Most SAs one cluster's listing may hold.
    pub max_security_associations: usize,
    /// Refuse clusters whose spec turns TLS verification off or allows plain HTTP.
    pub forbid_insecure_transport: bool,
    clusters: Mutex<HashMap<ClusterId, ClusterMemory>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// How much the controller may do at once, what it refuses, and the benchmark switch.
#[derive(Debug, Clone, Copy)]
pub struct ContextOptions {
    pub max_concurrent_polls: u16,
    pub max_security_associations: usize,
    pub forbid_insecure_transport: bool,
    /// Benchmark baseline: write everything on every poll.
    pub apply_everything: bool,
}

/// An ONTAP client and the configuration it was built from.
#[derive(Debug, Clone)]
pub struct CachedClient {
    pub config: ClientConfig,
    pub client: OntapClient,
    /// Read once per client, and again after a failed poll (the cluster may have been upgraded).
    pub identity: Option<ClusterIdentity>,
}

/// What the operator remembers about one cluster between polls. Lost on restart, by design:
/// a new process starts the staleness clock when it first sees the cluster.
#[derive(Debug, Clone)]
pub struct ClusterMemory {
    pub first_seen: Instant,
    pub last_success: Option<Instant>,
    pub consecutive_failures: u32,
    pub trigger: Option<Trigger>,
    pub next_poll: Option<Instant>,
    pub ontap: Option<CachedClient>,
    /// What the cluster's Secrets held when last read, and at which versions.
    pub secrets: Option<SecretMaterial>,
    /// Polls in a row whose writes the API server did not take.
    pub write_failures: u32,
    /// The cause of the last refused or failed write, so each cause is logged once.
    pub last_write_failure: Option<String>,
}

impl ClusterMemory {
    fn new() -> Self {
        Self {
            first_seen: Instant::now(),
            last_success: None,
            consecutive_failures: 0,
            trigger: None,
            next_poll: None,
            ontap: None,
            secrets: None,
            write_failures: 0,
            last_write_failure: None,
        }
    }

    /// A poll and its writes succeeded: failures are forgotten and the staleness clock restarts.
    pub fn record_success(&mut self) {
        self.last_success = Some(Instant::now());
        self.consecutive_failures = 0;
        self.write_failures = 0;
        self.last_write_failure = None;
    }

    /// True when ONTAP is not known to answer: never polled successfully since this process
    /// started, or the last poll failed. Such a cluster waits for ONTAP in the share of poll
    /// slots kept for them.
    #[must_use]
    pub fn not_known_to_answer(&self) -> bool {
        self.last_success.is_none() || self.consecutive_failures > 0
    }

    /// The instant the staleness clock counts from.
    #[must_use]
    pub fn healthy_since(&self) -> Instant {
        self.last_success.unwrap_or(self.first_seen)
    }
}

impl Context {
    #[must_use]
    pub fn new(
        client: kube::Client,
        mirrors: Arc<MirrorCache>,
        recorder: Recorder,
        writes: Arc<WriteCounter>,
        metrics: Arc<Metrics>,
        options: ContextOptions,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            mirrors,
            recorder,
            writes,
            metrics,
            apply_everything: options.apply_everything,
            poll_slots: PollSlots::new(options.max_concurrent_polls),
            max_security_associations: options.max_security_associations,
            forbid_insecure_transport: options.forbid_insecure_transport,
            clusters: Mutex::new(HashMap::new()),
        })
    }

    /// A copy of what is remembered about `key`, creating an entry on first sight.
    #[must_use]
    pub fn memory(&self, key: &ClusterId) -> ClusterMemory {
        self.lock()
            .entry(key.clone())
            .or_insert_with(ClusterMemory::new)
            .clone()
    }

    /// Updates what is remembered about `key`.
    pub fn remember(&self, key: &ClusterId, update: impl FnOnce(&mut ClusterMemory)) {
        update(
            self.lock()
                .entry(key.clone())
                .or_insert_with(ClusterMemory::new),
        );
    }

    /// Forgets a deleted cluster, dropping its ONTAP client and its metrics.
    pub fn forget(&self, key: &ClusterId) {
        self.lock().remove(key);
        self.metrics.forget(key);
    }

    /// The clusters remembered now.
    #[must_use]
    pub fn remembered(&self) -> Vec<ClusterId> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClusterId, ClusterMemory>> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.clusters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
