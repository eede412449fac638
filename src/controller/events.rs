//! Kubernetes Events on transitions only: tunnels going down or up, a cluster becoming
//! unreachable or recovering, credentials being rejected.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

use super::plan::TunnelTransition;
use crate::crd::condition::{REASON_UNAUTHORIZED, STATUS_FALSE, STATUS_TRUE, cut_to_bytes};
use crate::crd::{
    ClusterReference, IpsecSecurityAssociation, IpsecSecurityAssociationSpec, OntapCluster,
};

pub const EVENT_TUNNEL_DOWN: &str = "TunnelDown";
pub const EVENT_TUNNEL_UP: &str = "TunnelUp";
pub const EVENT_CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";
pub const EVENT_CLUSTER_RECOVERED: &str = "ClusterRecovered";
pub const EVENT_CREDENTIALS_REJECTED: &str = "CredentialsRejected";
pub const EVENT_INSECURE_TRANSPORT: &str = "InsecureTransport";
const ACTION_POLL: &str = "Poll";

/// A cluster-level event worth telling people about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEvent {
    pub reason: &'static str,
    pub warning: bool,
    pub note: String,
}

/// The event for a change of the OntapCluster's `Ready` condition, if it is a transition.
#[must_use]
pub fn cluster_event(before: Option<&Condition>, after: &Condition) -> Option<ClusterEvent> {
    let was_ready = before.is_some_and(|c| c.status == STATUS_TRUE);
    let was_reason = before.map(|c| c.reason.as_str());
    if after.status == STATUS_TRUE {
        return (before.is_some() && !was_ready).then(|| ClusterEvent {
            reason: EVENT_CLUSTER_RECOVERED,
            warning: false,
            note: after.message.clone(),
        });
    }
    if after.status != STATUS_FALSE || was_reason == Some(after.reason.as_str()) {
        return None;
    }
    if after.reason == REASON_UNAUTHORIZED {
        return Some(ClusterEvent {
            reason: EVENT_CREDENTIALS_REJECTED,
            warning: true,
            note: after.message.clone(),
        });
    }
    was_ready.then(|| ClusterEvent {
        reason: EVENT_CLUSTER_UNREACHABLE,
        warning: true,
        note: format!("{}: {}", after.reason, after.message),
    })
}

/// A warning, once, when the OntapCluster's `InsecureTransport` condition turns `True`.
#[must_use]
pub fn transport_event(before: Option<&Condition>, after: &Condition) -> Option<ClusterEvent> {
    let was_insecure = before.is_some_and(|c| c.status == STATUS_TRUE);
    (after.status == STATUS_TRUE && !was_insecure).then(|| ClusterEvent {
        reason: EVENT_INSECURE_TRANSPORT,
        warning: true,
        note: after.message.clone(),
    })
}

/// Publishes a cluster event; failures are logged, never fatal.
pub async fn publish_cluster_event(
    recorder: &Recorder,
    cluster: &OntapCluster,
    event: ClusterEvent,
) {
    let reference = cluster.object_ref(&());
    publish(
        recorder,
        &reference,
        event.reason,
        event.warning,
        event.note,
    )
    .await;
}

/// Publishes `TunnelDown`/`TunnelUp` on each mirrored object whose tunnel changed.
pub async fn publish_tunnel_events(
    recorder: &Recorder,
    namespace: &str,
    transitions: &[TunnelTransition],
) {
    for transition in transitions {
        let spec = IpsecSecurityAssociationSpec {
            cluster_ref: ClusterReference::default(),
            uuid: String::new(),
        };
        let mut object = IpsecSecurityAssociation::new(&transition.name, spec);
        object.metadata.namespace = Some(namespace.to_owned());
        let reference = object.object_ref(&());
        let reason = if transition.up {
            EVENT_TUNNEL_UP
        } else {
            EVENT_TUNNEL_DOWN
        };
        publish(
            recorder,
            &reference,
            reason,
            !transition.up,
            transition.message.clone(),
        )
        .await;
    }
}

/// The API server refuses an Event whose note is longer than 1 KiB.
const MAX_EVENT_NOTE: usize = 1024;

async fn publish(
    recorder: &Recorder,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    warning: bool,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(cut_to_bytes(note, MAX_EVENT_NOTE)),
        action: ACTION_POLL.to_owned(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, reference).await {
        tracing::warn!(%error, reason, object = ?reference.name, "cannot publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::condition::{REASON_SYNCED, REASON_UNREACHABLE};
    use crate::crd::{ConditionStatus, new_condition};

    fn ready(status: ConditionStatus, reason: &str) -> Condition {
        new_condition(
            "Ready",
            status,
            reason,
            "m",
            Some(1),
            jiff::Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn losing_a_ready_cluster_is_a_warning_once() {
        let up = ready(ConditionStatus::True, REASON_SYNCED);
        let down = ready(ConditionStatus::False, REASON_UNREACHABLE);
        let event = cluster_event(Some(&up), &down).expect("transition");
        assert_eq!(
            (event.reason, event.warning),
            (EVENT_CLUSTER_UNREACHABLE, true)
        );
        assert_eq!(cluster_event(Some(&down), &down), None);
    }

    #[test]
    fn recovery_and_rejected_credentials_are_reported() {
        let down = ready(ConditionStatus::False, REASON_UNREACHABLE);
        let up = ready(ConditionStatus::True, REASON_SYNCED);
        assert_eq!(
            cluster_event(Some(&down), &up).map(|e| e.reason),
            Some(EVENT_CLUSTER_RECOVERED)
        );
        let rejected = ready(ConditionStatus::False, REASON_UNAUTHORIZED);
        assert_eq!(
            cluster_event(None, &rejected).map(|e| e.reason),
            Some(EVENT_CREDENTIALS_REJECTED)
        );
        assert_eq!(cluster_event(Some(&rejected), &rejected), None);
    }

    #[test]
    fn the_first_successful_poll_is_not_an_event() {
        assert_eq!(
            cluster_event(None, &ready(ConditionStatus::True, REASON_SYNCED)),
            None
        );
    }
}
