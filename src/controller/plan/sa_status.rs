//! The status part of a plan: what ONTAP reported, the conditions it calls for, and the statuses
//! that say a cluster is no longer known.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::StatusPolicy;
use super::counters::{apply_counters, traffic_without_counters};
use crate::controller::mirrored::{Mirrored, StatusSeen};
use crate::crd::condition::{
    REASON_CLUSTER_UNREACHABLE, TYPE_IKE_ESTABLISHED, TYPE_IPSEC_INSTALLED, TYPE_READY,
};
use crate::crd::{
    ConditionStatus, IkeStatus, IpsecSecurityAssociationStatus, IpsecStatus, Network,
    OntapReference, new_condition, upsert_condition,
};
use crate::ontap::health::{self, Verdict};
use crate::ontap::model::{self, SecurityAssociation};

/// Conditions that turn every condition `Unknown` because the cluster has not been polled
/// successfully for too long; only objects whose conditions change are returned.
#[must_use]
pub fn stale_conditions(
    existing: &HashMap<String, Arc<Mirrored>>,
    message: &str,
    now: Timestamp,
) -> Vec<(String, Vec<Condition>)> {
    let mut changed: Vec<(String, Vec<Condition>)> = existing
        .iter()
        .filter_map(|(name, object)| {
            let seen = object.status.as_ref();
            let mut conditions = seen.map(StatusSeen::base_conditions).unwrap_or_default();
            let types: Vec<String> = if conditions.is_empty() {
                vec![TYPE_READY.to_owned()]
            } else {
                conditions.iter().map(|c| c.type_.clone()).collect()
            };
            for type_ in types {
                upsert_condition(
                    &mut conditions,
                    new_condition(
                        &type_,
                        ConditionStatus::Unknown,
                        REASON_CLUSTER_UNREACHABLE,
                        message,
                        object.generation,
                        now,
                    ),
                );
            }
            let unchanged = seen.is_some_and(|seen| {
                seen.conditions.len() == conditions.len()
                    && seen
                        .conditions
                        .iter()
                        .zip(&conditions)
                        .all(|(before, after)| before.says(after))
            });
            (!unchanged).then(|| (name.clone(), conditions))
        })
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    changed
}

pub(super) fn desired_status(
    network: Network,
    record: &SecurityAssociation,
    current: Option<&Mirrored>,
    ready: &Verdict,
    policy: StatusPolicy,
) -> IpsecSecurityAssociationStatus {
    let current_status = current.and_then(|object| object.status.as_ref());
    let generation = current.and_then(|object| object.generation).or(Some(1));
    let mut status = IpsecSecurityAssociationStatus {
        network: Some(network),
        type_: record
            .sa_type
            .as_ref()
            .map(|sa_type| sa_type.as_str().to_owned()),
        node: record.node.as_ref().map(reference),
        svm: record.svm.as_ref().map(reference),
        scope: record.scope.clone(),
        policy_name: record.policy_name.clone(),
        local_address: record.local_address.clone(),
        remote_address: record.remote_address.clone(),
        cipher_suite: record.cipher_suite.clone(),
        lifetime: record
            .lifetime
            .and_then(|seconds| i64::try_from(seconds).ok()),
        state: health::applicable_state(record).map(str::to_owned),
        ike: record.ike.as_ref().map(|ike| IkeStatus {
            state: ike.state.clone(),
            version: ike.version.clone(),
            authentication: ike.authentication.clone(),
            is_initiator: ike.is_initiator,
            initiator_spi: ike.initiator_spi.as_ref().map(ToString::to_string),
            responder_spi: ike.responder_spi.as_ref().map(ToString::to_string),
        }),
        ipsec: record.ipsec.as_ref().map(|ipsec| IpsecStatus {
            state: ipsec.state.clone(),
            action: ipsec.action.clone(),
            inbound: ipsec.inbound.as_ref().map(traffic_without_counters),
            outbound: ipsec.outbound.as_ref().map(traffic_without_counters),
        }),
        counters_observed_at: None,
        conditions: current_status
            .map(StatusSeen::base_conditions)
            .unwrap_or_default(),
        observed_generation: generation,
    };
    apply_counters(&mut status, record, current_status, policy);

    let mut verdicts: Vec<(&str, Verdict)> = Vec::new();
    if let Some(verdict) = health::ike_established(record) {
        verdicts.push((TYPE_IKE_ESTABLISHED, verdict));
    }
    if let Some(verdict) = health::ipsec_installed(record) {
        verdicts.push((TYPE_IPSEC_INSTALLED, verdict));
    }
    verdicts.push((TYPE_READY, ready.clone()));
    let applicable: HashSet<&str> = verdicts.iter().map(|(type_, _)| *type_).collect();
    status
        .conditions
        .retain(|condition| applicable.contains(condition.type_.as_str()));
    for (type_, verdict) in verdicts {
        upsert_condition(
            &mut status.conditions,
            new_condition(
                type_,
                verdict.status,
                &verdict.reason,
                verdict.message,
                generation,
                policy.now,
            ),
        );
    }
    status
}

fn reference(reference: &model::ObjectReference) -> OntapReference {
    OntapReference {
        name: reference.name.clone(),
        uuid: reference.uuid.clone(),
    }
}
