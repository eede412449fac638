//! The reconcile shell for one OntapCluster: fetch → plan → apply → prune → status.
//! Only this file and the ones it calls for I/O (`fetch`, `apply`, `events`) touch the network.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt as _};

use super::apply;
use super::apply::WriteError;
use super::context::{CachedClient, ClusterKey, ClusterMemory, Context, Trigger, cluster_labels};
use super::error::{PollError, retry_delay, transient_backoff};
use super::events::{
    cluster_event, describe, publish_cluster_event, publish_tunnel_events, transport_event,
};
use super::fetch;
use super::plan::{self, Owner, StatusPolicy};
use super::settings::ClusterSettings;
use super::status::{Outcome, cluster_status, set_transport_condition};
use super::transport::transport;
use crate::crd::condition::{REASON_MIRROR_WRITE_DENIED, TYPE_INSECURE_TRANSPORT, TYPE_READY};
use crate::crd::{
    ClusterReference, IpsecSecurityAssociation, IpsecSecurityAssociationSpec, LABEL_CLUSTER,
    OntapCluster, OntapClusterStatus, REFRESH_ANNOTATION, find_condition,
};
use crate::ontap::{Listing, OntapClient};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Spread of the poll schedule, so clusters added together do not poll together forever.
const JITTER_FRACTION: f64 = 0.1;

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
    let key: ClusterKey = (owner.namespace.clone(), owner.name.clone());
    if cluster.metadata.deletion_timestamp.is_some() {
        // Garbage collection removes the mirrored objects through their owner references.
        context.forget(&key);
        return Ok(Action::await_change());
    }
    Ok(
        match reconcile_cluster(&context, cluster, &owner, &key).await {
            Ok(action) => action,
            Err(error) => write_failed(&context, cluster, &key, &error).await,
        },
    )
}

/// Polls and mirrors one cluster; `Err` only when the API server did not take a write.
async fn reconcile_cluster(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
    key: &ClusterKey,
) -> Result<Action, WriteError> {
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
        &cluster_labels(key),
        (!cluster.spec.suspend).then_some(settings.timing.poll_interval),
    );
    if refuse_insecure_transport(context, cluster, owner, key).await? {
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
    let labels = cluster_labels(key);
    let deadline = settings.timing.poll_deadline();
    let polled = tokio::time::timeout(deadline, poll(context, cluster, key, &settings))
        .await
        .unwrap_or(Err(PollError::Deadline { deadline }));
    let delay = match polled {
        Ok((identity, listing)) => {
            slot.answered();
            let (count, pages) = (listing.records.len(), listing.pages);
            let result = mirror(
                context,
                cluster,
                owner,
                &settings,
                identity.as_ref(),
                listing,
            )
            .await;
            context
                .metrics
                .observe_poll(&labels, started.elapsed(), "success");
            result?;
            tracing::debug!(
                cluster = %describe(cluster),
                security_associations = count,
                pages,
                elapsed_ms = started.elapsed().as_millis(),
                "poll complete"
            );
            context.remember(key, ClusterMemory::record_success);
            jittered(settings.timing.poll_interval)
        }
        Err(error) => {
            let failures = memory.consecutive_failures + 1;
            let stale_at = memory.healthy_since() + settings.timing.stale_threshold();
            let until_stale = stale_at.checked_duration_since(Instant::now());
            let stale = until_stale.is_none();
            tracing::debug!(cluster = %describe(cluster), %error, failures, stale, "poll failed");
            context
                .metrics
                .observe_poll(&labels, started.elapsed(), error.metric_label());
            context.metrics.record_failure(&labels, stale);
            write_failure(context, cluster, owner, &error, stale).await?;
            context.remember(key, |memory| {
                memory.consecutive_failures = failures;
                memory.write_failures = 0;
                memory.last_write_failure = None;
                if let Some(ontap) = memory.ontap.as_mut() {
                    ontap.identity = None;
                }
            });
            retry_delay(&error, failures, settings.timing.poll_interval, until_stale)
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
    key: &ClusterKey,
) -> Result<bool, WriteError> {
    let transport = transport(&cluster.spec);
    context
        .metrics
        .record_transport(&cluster_labels(key), transport.insecure);
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
fn not_yet_due(context: &Context, key: &ClusterKey, trigger: &Trigger) -> Option<Duration> {
    let memory = context.memory(key);
    let due = memory
        .next_poll
        .filter(|_| memory.trigger.as_ref() == Some(trigger))?;
    due.checked_duration_since(Instant::now())
        .filter(|wait| !wait.is_zero())
}

/// After the API server did not take a write: says so on the OntapCluster when it was refused
/// (and the status write itself is allowed), logs each new cause once, and backs off.
async fn write_failed(
    context: &Context,
    cluster: &OntapCluster,
    key: &ClusterKey,
    error: &WriteError,
) -> Action {
    context
        .metrics
        .observe_reconcile_error(error.metric_label());
    let memory = context.memory(key);
    let failures = memory.write_failures + 1;
    let cause = error.cause();
    if memory.last_write_failure.as_ref() == Some(&cause) {
        tracing::debug!(cluster = %describe(cluster), failures, "the same write failure again");
    } else {
        tracing::warn!(cluster = %describe(cluster), %error, "the API server did not take a write; backing off");
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
            tracing::debug!(cluster = %describe(cluster), error = %status_error, "cannot record the refused write either");
        }
    }
    let delay = transient_backoff(failures, cluster_poll_interval(cluster));
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

/// Reads the Secrets, reuses or builds the ONTAP client, and lists every SA.
async fn poll(
    context: &Context,
    cluster: &OntapCluster,
    key: &ClusterKey,
    settings: &ClusterSettings,
) -> Result<(Option<crate::ontap::ClusterIdentity>, Listing), PollError> {
    let secrets = Api::namespaced(context.client.clone(), &key.0);
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
    let (client, identity) = match cached {
        Some(CachedClient {
            client,
            identity: Some(identity),
            ..
        }) => (client, Some(identity)),
        cached => {
            if config.tls.insecure_skip_verify {
                tracing::warn!(cluster = %describe(cluster), "TLS verification is off for this cluster");
            }
            let client = if let Some(cached) = cached {
                cached.client
            } else {
                let metrics = Arc::clone(&context.metrics);
                let labels = cluster_labels(key);
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
            (client, identity)
        }
    };
    let listing = fetch::security_associations(&client, settings).await?;
    Ok((identity, listing))
}

/// Applies the plan of a complete listing: objects, deletions, events, cluster status.
async fn mirror(
    context: &Context,
    cluster: &OntapCluster,
    owner: &Owner,
    settings: &ClusterSettings,
    identity: Option<&crate::ontap::ClusterIdentity>,
    listing: Listing,
) -> Result<(), WriteError> {
    let current = CurrentObjects::of(context, owner);
    let existing = current.by_name();
    let policy = StatusPolicy {
        counters_refresh_interval: settings.timing.counters_refresh_interval,
        now: Timestamp::now(),
        rewrite_everything: context.apply_everything,
    };
    let plan = plan::plan(owner, listing.records, &existing, policy);
    let key = (owner.namespace.clone(), owner.name.clone());
    context
        .metrics
        .record_success(&cluster_labels(&key), &plan.objects);
    if let Some(identity) = identity {
        context
            .metrics
            .record_identity(&cluster_labels(&key), identity);
    }
    let api: Api<IpsecSecurityAssociation> =
        Api::namespaced(context.client.clone(), &owner.namespace);
    // Objects the API server refuses do not stop the prune: the listing is complete.
    let applied = apply::apply_objects(&api, &plan.objects, &context.writes).await;
    if let Err(error) = &applied
        && !error.is_refusal()
    {
        return applied;
    }
    apply::delete_objects(&api, &plan.deletions, &context.writes).await?;
    applied?;
    publish_tunnel_events(&context.recorder, &owner.namespace, &plan.transitions).await;
    for transition in &plan.transitions {
        tracing::info!(
            cluster = %describe(cluster),
            object = %transition.name,
            up = transition.up,
            message = %transition.message,
            "tunnel changed"
        );
    }
    if let Some(first) = plan.skipped.first() {
        tracing::debug!(cluster = %describe(cluster), skipped = plan.skipped.len(), uuid = %first.uuid, why = first.why, "records left out");
    }
    let outcome = Outcome::Synced {
        identity,
        objects: &plan.objects,
        skipped: &plan.skipped,
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
        let current = CurrentObjects::of(context, owner);
        // The reason, not the error's text: a text that changes from poll to poll would
        // rewrite every mirrored object's status on every failed poll.
        let message = format!(
            "ONTAP has not been polled successfully for staleAfter polls (last failure: {})",
            error.reason()
        );
        let statuses = plan::stale_statuses(&current.by_name(), &message, Timestamp::now());
        if !statuses.is_empty() {
            let api = Api::namespaced(context.client.clone(), &owner.namespace);
            apply::apply_statuses(&api, &statuses, &context.writes).await?;
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
        tracing::info!(cluster = %describe(cluster), reason = event.reason, note = %event.note, "cluster changed");
        publish_cluster_event(&context.recorder, cluster, event).await;
    }
    Ok(())
}

/// The condition of type `type_` in `status`, if any.
fn condition<'a>(status: Option<&'a OntapClusterStatus>, type_: &str) -> Option<&'a Condition> {
    status.and_then(|status| find_condition(&status.conditions, type_))
}

/// This cluster's mirrored objects as the watch cache holds them, shared rather than copied.
/// Objects that cannot be decoded are stood in for by an empty object of the same name, so the
/// plan overwrites them.
struct CurrentObjects {
    cached: Vec<Arc<DeserializeGuard<IpsecSecurityAssociation>>>,
    stand_ins: Vec<IpsecSecurityAssociation>,
}

impl CurrentObjects {
    fn of(context: &Context, owner: &Owner) -> Self {
        let cluster_label = super::labels::label_value(&owner.name);
        let mut cached = Vec::new();
        let mut stand_ins = Vec::new();
        let names = context.cluster_index.names(&owner.namespace, &owner.name);
        for name in names {
            let reference = ObjectRef::new(&name).within(&owner.namespace);
            let Some(guarded) = context.security_associations.get(&reference) else {
                continue;
            };
            match &guarded.0 {
                Ok(object) => {
                    if object.metadata.namespace.as_deref() == Some(&owner.namespace)
                        && object.spec.cluster_ref.name == owner.name
                    {
                        cached.push(Arc::clone(&guarded));
                    }
                }
                Err(invalid) => {
                    let labels = invalid.metadata.labels.as_ref();
                    if invalid.metadata.namespace.as_deref() == Some(&owner.namespace)
                        && labels.and_then(|l| l.get(LABEL_CLUSTER)) == Some(&cluster_label)
                    {
                        stand_ins.push(IpsecSecurityAssociation {
                            metadata: invalid.metadata.clone(),
                            spec: IpsecSecurityAssociationSpec {
                                cluster_ref: ClusterReference::default(),
                                uuid: String::new(),
                            },
                            status: None,
                        });
                    }
                }
            }
        }
        Self { cached, stand_ins }
    }

    fn by_name(&self) -> HashMap<String, &IpsecSecurityAssociation> {
        self.cached
            .iter()
            .filter_map(|guarded| guarded.0.as_ref().ok())
            .chain(&self.stand_ins)
            .filter_map(|object| Some((object.metadata.name.clone()?, object)))
            .collect()
    }
}

fn jittered(interval: Duration) -> Duration {
    let factor = 1.0 + JITTER_FRACTION * (fastrand::f64() * 2.0 - 1.0);
    interval.mul_f64(factor)
}
