//! The reconcile shell for one OntapCluster: fetch → plan → apply → prune → status.
//! Only this file and the ones it calls for I/O (`fetch`, `apply`, `events`) touch the network.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt as _};
use tracing::Instrument as _;

use super::apply;
use super::apply::WriteError;
use super::context::{CachedClient, ClusterMemory, Context};
use super::error::PollError;
use super::events::{cluster_event, publish_cluster_event, publish_tunnel_events, transport_event};
use super::fetch::{self, SourceListing};
use super::mirrored::Mirrored;
use super::plan::{self, Owner, Plan, StatusPolicy};
use super::schedule::{self, Trigger};
use super::settings::ClusterSettings;
use super::source::{self, MirrorSource};
use super::status::{Outcome, Unserved, cluster_status, set_transport_condition};
use super::transport::transport;
use crate::crd::condition::{REASON_MIRROR_WRITE_DENIED, TYPE_INSECURE_TRANSPORT, TYPE_READY};
use crate::crd::{
    ClusterId, IpsecSecurityAssociation, OntapCluster, OntapClusterStatus, REFRESH_ANNOTATION,
    find_condition,
};
use crate::metrics::SaObservation;
use crate::ontap::{ClusterIdentity, OntapClient};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Reconciles one OntapCluster: polls ONTAP when due and mirrors what it finds. It never fails:
/// every failure ends in a condition, a log line per new cause, and a requeue with backoff.
pub async fn reconcile(
    guarded: Arc<DeserializeGuard<OntapCluster>>,
    context: Arc<Context>,
) -> Result<Action, Infallible> {
    let cluster = match &guarded.0 {
        Ok(cluster) => cluster,
        Err(invalid) => {
            // The API server's schema should make this impossible; if it happens, say so and
            // wait for the object to change rather than stall the other clusters.
            tracing::warn!(
                name = ?invalid.metadata.name,
                namespace = ?invalid.metadata.namespace,
                error = %invalid.error,
                "skipping an OntapCluster that cannot be decoded"
            );
            return Ok(Action::await_change());
        }
    };
    let Some(owner) = Owner::of(cluster) else {
        return Ok(Action::await_change());
    };
    let key = &owner.cluster;
    if cluster.metadata.deletion_timestamp.is_some() {
        // Garbage collection removes the mirrored objects through their owner references.
        context.forget(key);
        return Ok(Action::await_change());
    }
    // Every log line below names the cluster.
    let span = tracing::info_span!("cluster", namespace = %key.namespace, name = %key.name);
    let action = async {
        match reconcile_cluster(&context, cluster, &owner).await {
            Ok(action) => action,
            Err(error) => write_failed(&context, cluster, key, &error).await,
        }
    }
    .instrument(span)
    .await;
    Ok(action)
}

/// Polls and mirrors one cluster; `Err` only when the API server did not take a write.
async fn reconcile_cluster(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
) -> Result<Action, WriteError> {
    let key = &owner.cluster;
    let trigger = Trigger {
        uid: owner.uid.clone(),
        generation: cluster.metadata.generation,
        refresh: cluster.annotations().get(REFRESH_ANNOTATION).cloned(),
    };
    if let Some(wait) = not_yet_due(context, key, &trigger) {
        // Woken by our own status write or a resync: nothing new to do yet.
        return Ok(Action::requeue(wait));
    }
    context.remember(key, |memory| memory.trigger = Some(trigger));

    let settings = match ClusterSettings::from_spec(&cluster.spec) {
        Ok(settings) => settings,
        Err(error) => {
            let error = PollError::InvalidSpec(error);
            write_failure(context, cluster, owner, &error, false).await?;
            context.remember(key, |memory| memory.next_poll = None);
            return Ok(Action::await_change());
        }
    };
    // A suspended cluster has no schedule, so no alert waits for its next poll.
    context.metrics.record_poll_interval(
        key,
        (!cluster.spec.suspend).then_some(settings.timing.poll_interval),
    );
    if refuse_insecure_transport(context, cluster, owner).await? {
        return Ok(Action::await_change());
    }
    if cluster.spec.suspend {
        write_cluster_status(context, cluster, &Outcome::Suspended).await?;
        context.remember(key, |memory| memory.next_poll = None);
        return Ok(Action::await_change());
    }

    let memory = context.memory(key);
    let mut slot = context
        .poll_slots
        .acquire(memory.not_known_to_answer())
        .await;
    let started = Instant::now();
    let deadline = settings.timing.poll_deadline();
    let polled = tokio::time::timeout(deadline, poll(context, cluster, key, &settings))
        .await
        .unwrap_or(Err(PollError::Deadline { deadline }));
    let delay = match polled {
        Ok(polled) => {
            slot.answered();
            let pages = polled.pages();
            let result = mirror(context, cluster, owner, &settings, polled).await;
            context
                .metrics
                .observe_poll(key, started.elapsed(), "success");
            result?;
            tracing::debug!(
                pages,
                elapsed_ms = started.elapsed().as_millis(),
                "poll complete"
            );
            context.remember(key, ClusterMemory::record_success);
            schedule::jittered(settings.timing.poll_interval, fastrand::f64())
        }
        Err(error) => {
            let after = schedule::after_failure(
                error.needs_human(),
                memory.consecutive_failures + 1,
                memory.healthy_since(),
                settings.timing.stale_threshold(),
                settings.timing.poll_interval,
                Instant::now(),
            );
            tracing::debug!(%error, failures = after.failures, stale = after.stale, "poll failed");
            context
                .metrics
                .observe_poll(key, started.elapsed(), error.metric_label());
            context.metrics.record_failure(key, after.stale);
            write_failure(context, cluster, owner, &error, after.stale).await?;
            context.remember(key, |memory| {
                memory.consecutive_failures = after.failures;
                memory.write_failures = 0;
                memory.last_write_failure = None;
                if let Some(ontap) = memory.ontap.as_mut() {
                    ontap.identity = None;
                }
            });
            after.retry_in
        }
    };
    context.remember(key, |memory| {
        memory.next_poll = Some(Instant::now() + delay);
    });
    Ok(Action::requeue(delay))
}

/// Records the cluster's transport in metrics; `true` after refusing it (the operator forbids
/// an insecure transport and the spec asks for one), which waits for the spec to change.
async fn refuse_insecure_transport(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
) -> Result<bool, WriteError> {
    let key = &owner.cluster;
    let transport = transport(&cluster.spec);
    context.metrics.record_transport(key, transport.insecure);
    if !(transport.insecure && context.forbid_insecure_transport) {
        return Ok(false);
    }
    let error = PollError::InsecureTransportForbidden {
        message: transport.message,
    };
    write_failure(context, cluster, owner, &error, false).await?;
    context.remember(key, |memory| memory.next_poll = None);
    Ok(true)
}

/// How long until the next scheduled poll, when nothing that asks for an earlier one changed.
fn not_yet_due(context: &Context, key: &ClusterId, trigger: &Trigger) -> Option<Duration> {
    let memory = context.memory(key);
    schedule::not_yet_due(
        memory.next_poll,
        memory.trigger.as_ref(),
        trigger,
        Instant::now(),
    )
}

/// After the API server did not take a write: says so on the OntapCluster when it was refused
/// (and the status write itself is allowed), logs each new cause once, and backs off.
async fn write_failed(
    context: &Context,
    cluster: &OntapCluster,
    key: &ClusterId,
    error: &WriteError,
) -> Action {
    context
        .metrics
        .observe_reconcile_error(error.metric_label());
    let memory = context.memory(key);
    let failures = memory.write_failures + 1;
    let cause = error.cause();
    if memory.last_write_failure.as_ref() == Some(&cause) {
        tracing::debug!(failures, "the same write failure again");
    } else {
        tracing::warn!(%error, "the API server did not take a write; backing off");
    }
    if error.is_refusal() {
        let outcome = Outcome::Failed {
            reason: REASON_MIRROR_WRITE_DENIED,
            message: error.to_string(),
            // Only a change of rights, policy or quota helps: kstatus should say Failed.
            stalled: true,
            stale: false,
        };
        if let Err(status_error) = write_cluster_status(context, cluster, &outcome).await {
            tracing::debug!(error = %status_error, "cannot record the refused write either");
        }
    }
    let delay = schedule::transient_backoff(failures, cluster_poll_interval(cluster));
    context.remember(key, |memory| {
        memory.write_failures = failures;
        memory.last_write_failure = Some(cause);
        memory.next_poll = Some(Instant::now() + delay);
    });
    Action::requeue(delay)
}

/// The cluster's poll interval, or the default when its spec cannot be read.
fn cluster_poll_interval(cluster: &OntapCluster) -> Duration {
    cluster
        .spec
        .poll_timing()
        .map_or(Duration::from_secs(60), |timing| timing.poll_interval)
}

/// Never called: [`reconcile`] turns every failure into a condition and a requeue itself.
#[must_use]
// The signature is the one kube's Controller calls.
#[allow(clippy::needless_pass_by_value)]
pub fn error_policy(
    _guarded: Arc<DeserializeGuard<OntapCluster>>,
    error: &Infallible,
    _context: Arc<Context>,
) -> Action {
    match *error {}
}

/// What a successful poll found: ONTAP's identity and what each source gave.
struct Polled {
    identity: Option<ClusterIdentity>,
    sources: Vec<(&'static MirrorSource, SourceListing)>,
}

impl Polled {
    fn pages(&self) -> u32 {
        self.sources
            .iter()
            .map(|(_, listing)| match listing {
                SourceListing::Listed(listing) => listing.pages,
                SourceListing::Off | SourceListing::Unserved(_) => 0,
            })
            .sum()
    }
}

/// Reads the Secrets, reuses or builds the ONTAP client, and lists every source.
async fn poll(
    context: &Context,
    cluster: &OntapCluster,
    key: &ClusterId,
    settings: &ClusterSettings,
) -> Result<Polled, PollError> {
    let (client, identity) = ontap_client(context, cluster, key, settings).await?;
    let version = identity
        .as_ref()
        .and_then(|identity| identity.version.as_ref());
    let mut sources = Vec::with_capacity(source::ALL.len());
    for source in source::ALL {
        let decision = source.decide(&cluster.spec, version);
        let listing = fetch::list_source(&client, source, decision, settings).await?;
        sources.push((source, listing));
    }
    Ok(Polled { identity, sources })
}

/// The cluster's ONTAP client and identity: reused while the configuration is unchanged, and
/// the identity read again after a failed poll (the cluster may have been upgraded).
async fn ontap_client(
    context: &Context,
    cluster: &OntapCluster,
    key: &ClusterId,
    settings: &ClusterSettings,
) -> Result<(OntapClient, Option<ClusterIdentity>), PollError> {
    let secrets = Api::namespaced(context.client.clone(), &key.namespace);
    let memory = context.memory(key);
    let (config, material) = fetch::client_config(
        &secrets,
        cluster,
        settings,
        context.max_security_associations,
        memory.secrets,
    )
    .await?;
    context.remember(key, |memory| memory.secrets = Some(material));
    let cached = memory.ontap.filter(|cached| cached.config == config);
    if let Some(CachedClient {
        client,
        identity: Some(identity),
        ..
    }) = cached
    {
        return Ok((client, Some(identity)));
    }
    if config.tls.insecure_skip_verify {
        tracing::warn!("TLS verification is off for this cluster");
    }
    let client = if let Some(cached) = cached {
        cached.client
    } else {
        let metrics = Arc::clone(&context.metrics);
        let labels = key.clone();
        OntapClient::new(config.clone())?.with_observer(Arc::new(move |status| {
            metrics.observe_ontap_response(&labels, status);
        }))
    };
    let identity = fetch::cluster_identity(&client).await?;
    context.remember(key, |memory| {
        memory.ontap = Some(CachedClient {
            config: config.clone(),
            client: client.clone(),
            identity: identity.clone(),
        });
    });
    Ok((client, identity))
}

/// Applies the plans of every source that listed or is off: objects, deletions, events,
/// cluster status. Each source prunes only its own mirrors; an unserved source's stay.
async fn mirror(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
    settings: &ClusterSettings,
    polled: Polled,
) -> Result<(), WriteError> {
    let key = &owner.cluster;
    let current = context.mirrors.objects_of(key);
    let policy = StatusPolicy {
        counters_refresh_interval: settings.timing.counters_refresh_interval,
        now: Timestamp::now(),
        rewrite_everything: context.apply_everything,
    };
    let mut plan = Plan::default();
    let mut unserved = None;
    for (source, listing) in polled.sources {
        let records = match listing {
            SourceListing::Listed(listing) => listing.records,
            SourceListing::Off => Vec::new(),
            SourceListing::Unserved(message) => {
                tracing::debug!(source = source.path, %message, "source not served");
                unserved.get_or_insert(Unserved {
                    reason: source.unserved_reason,
                    message,
                });
                continue;
            }
        };
        let existing: HashMap<String, Arc<Mirrored>> = current
            .iter()
            .filter(|(_, mirrored)| source.owns(mirrored))
            .map(|(name, mirrored)| (name.clone(), Arc::clone(mirrored)))
            .collect();
        plan.extend(plan::plan(owner, source, records, &existing, policy));
    }
    context.metrics.record_success(
        key,
        plan.objects.iter().map(|desired| SaObservation {
            name: &desired.name,
            record: &desired.record,
            ready: desired.ready.status,
        }),
    );
    if let Some(identity) = &polled.identity {
        context.metrics.record_identity(key, identity);
    }
    let api: Api<IpsecSecurityAssociation> =
        Api::namespaced(context.client.clone(), &key.namespace);
    // Objects the API server refuses do not stop the prune: the listing is complete.
    let applied = apply::apply_objects(&api, &plan.objects, &context.writes).await;
    if let Err(error) = &applied
        && !error.is_refusal()
    {
        return applied;
    }
    apply::delete_objects(&api, &plan.deletions, &context.writes).await?;
    applied?;
    publish_tunnel_events(&context.recorder, &key.namespace, &plan.transitions).await;
    for transition in &plan.transitions {
        tracing::info!(
            object = %transition.name,
            up = transition.up,
            message = %transition.message,
            "tunnel changed"
        );
    }
    if let Some(first) = plan.skipped.first() {
        tracing::debug!(skipped = plan.skipped.len(), uuid = %first.uuid, why = first.why, "records left out");
    }
    let outcome = Outcome::Synced {
        identity: polled.identity.as_ref(),
        objects: &plan.objects,
        skipped: &plan.skipped,
        unserved,
    };
    write_cluster_status(context, cluster, &outcome).await
}

/// Records a failed poll: cluster conditions, and once stale, `Unknown` on every mirrored SA.
/// Never deletes anything.
async fn write_failure(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
    error: &PollError,
    stale: bool,
) -> Result<(), WriteError> {
    if stale {
        let current = context.mirrors.objects_of(&owner.cluster);
        // The reason, not the error's text: a text that changes from poll to poll would
        // rewrite every mirrored object's status on every failed poll.
        let message = format!(
            "ONTAP has not been polled successfully for staleAfter polls (last failure: {})",
            error.reason()
        );
        let conditions = plan::stale_conditions(&current, &message, Timestamp::now());
        if !conditions.is_empty() {
            let api = Api::namespaced(context.client.clone(), &owner.cluster.namespace);
            apply::patch_conditions(&api, &conditions, &context.writes).await?;
        }
    }
    let outcome = Outcome::Failed {
        reason: error.reason(),
        message: error.to_string(),
        stalled: error.needs_human(),
        stale,
    };
    write_cluster_status(context, cluster, &outcome).await
}

/// Writes the OntapCluster's status when it differs, with an event on a `Ready` transition.
async fn write_cluster_status(
    context: &Context,
    cluster: &OntapCluster,
    outcome: &Outcome<'_>,
) -> Result<(), WriteError> {
    let current = cluster.status.as_ref();
    let now = Timestamp::now();
    let mut status = cluster_status(current, cluster.metadata.generation, outcome, now);
    let transport = transport(&cluster.spec);
    set_transport_condition(&mut status, &transport, cluster.metadata.generation, now);
    if current == Some(&status) {
        return Ok(());
    }
    let api: Api<OntapCluster> = Api::namespaced(
        context.client.clone(),
        &cluster.namespace().unwrap_or_default(),
    );
    apply::apply_cluster_status(&api, &cluster.name_any(), &status, &context.writes).await?;
    let events = [
        condition(Some(&status), TYPE_READY)
            .and_then(|after| cluster_event(condition(current, TYPE_READY), after)),
        condition(Some(&status), TYPE_INSECURE_TRANSPORT)
            .and_then(|after| transport_event(condition(current, TYPE_INSECURE_TRANSPORT), after)),
    ];
    for event in events.into_iter().flatten() {
        tracing::info!(reason = event.reason, note = %event.note, "cluster changed");
        publish_cluster_event(&context.recorder, cluster, event).await;
    }
    Ok(())
}

/// The condition of type `type_` in `status`, if any.
fn condition<'a>(status: Option<&'a OntapClusterStatus>, type_: &str) -> Option<&'a Condition> {
    status.and_then(|status| find_condition(&status.conditions, type_))
}
