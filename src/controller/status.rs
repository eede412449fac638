//! The `OntapCluster` status a poll outcome calls for: conditions, identity, counts and the
//! unhealthy peers. No client required.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::crd::condition::{
    REASON_ALL_TUNNELS_UP, REASON_CLUSTER_UNREACHABLE, REASON_PROGRESSING, REASON_SUSPENDED,
    REASON_SYNCED, REASON_TUNNELS_DOWN, TYPE_INSECURE_TRANSPORT, TYPE_READY, TYPE_STALLED,
    TYPE_TUNNELS_HEALTHY,
};
use crate::crd::ontap_cluster::MAX_UNHEALTHY_PEERS;
use crate::crd::{
    ConditionStatus, OntapClusterIdentity, OntapClusterStatus, SecurityAssociationCounts,
    UnhealthyPeer, new_condition, upsert_condition,
};

use crate::ontap::model::ClusterVersion;
use crate::ontap::{ClusterIdentity, SecurityAssociationType};

use super::plan::{DesiredObject, SkippedRecord};
use super::transport::Transport;

/// Why a wanted source was not mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unserved {
    pub reason: &'static str,
    pub message: String,
}

/// What the last reconcile of an OntapCluster found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    /// A complete poll: every SA is mirrored.
    Synced {
        identity: Option<&'a ClusterIdentity>,
        objects: &'a [DesiredObject],
        /// Records ONTAP listed that could not be mirrored.
        skipped: &'a [SkippedRecord],
        /// A source the spec asks for that ONTAP does not serve; the others were mirrored.
        unserved: Option<Unserved>,
    },
    /// The poll failed; `stalled` when only a human can fix it. `stale` once `staleAfter`
    /// polls have been missed, so tunnel health is no longer known.
    Failed {
        reason: &'a str,
        message: String,
        stalled: bool,
        stale: bool,
    },
    /// `spec.suspend` is set.
    Suspended,
}

/// The status for `outcome`, starting from the current one so that what was last observed
/// (identity, counts, peers) survives a failed poll and transition times move only on change.
#[must_use]
pub fn cluster_status(
    current: Option<&OntapClusterStatus>,
    generation: Option<i64>,
    outcome: &Outcome<'_>,
    now: Timestamp,
) -> OntapClusterStatus {
    let mut status = Conditions {
        status: current.cloned().unwrap_or_default(),
        generation,
        now,
    };
    status.status.observed_generation = generation;
    match outcome {
        Outcome::Synced {
            identity,
            objects,
            skipped,
            unserved,
        } => status.synced(*identity, objects, skipped, unserved.as_ref()),
        Outcome::Failed {
            reason,
            message,
            stalled,
            stale,
        } => status.failed(reason, message, *stalled, *stale),
        Outcome::Suspended => {
            let message = "polling is suspended by spec.suspend";
            status.set(
                TYPE_READY,
                ConditionStatus::False,
                REASON_SUSPENDED,
                message,
            );
            status.set(TYPE_STALLED, ConditionStatus::False, REASON_SUSPENDED, "");
        }
    }
    status.status
}

/// Sets `InsecureTransport` from the spec's transport, whatever the poll's outcome.
pub fn set_transport_condition(
    status: &mut OntapClusterStatus,
    transport: &Transport,
    generation: Option<i64>,
    now: Timestamp,
) {
    let value = if transport.insecure {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let condition = new_condition(
        TYPE_INSECURE_TRANSPORT,
        value,
        transport.reason,
        transport.message,
        generation,
        now,
    );
    upsert_condition(&mut status.conditions, condition);
}

/// A status being built, with what every condition it sets shares.
struct Conditions {
    status: OntapClusterStatus,
    generation: Option<i64>,
    now: Timestamp,
}

impl Conditions {
    fn set(&mut self, type_: &str, value: ConditionStatus, reason: &str, message: &str) {
        let condition = new_condition(type_, value, reason, message, self.generation, self.now);
        upsert_condition(&mut self.status.conditions, condition);
    }

    fn synced(
        &mut self,
        identity: Option<&ClusterIdentity>,
        objects: &[DesiredObject],
        skipped: &[SkippedRecord],
        unserved: Option<&Unserved>,
    ) {
        if let Some(identity) = identity {
            self.status.ontap = Some(OntapClusterIdentity {
                cluster_name: identity.name.clone(),
                cluster_uuid: identity.uuid.clone(),
                version: identity.version.as_ref().and_then(ClusterVersion::release),
            });
        }
        let counts = counts(objects);
        self.status.security_associations = Some(counts);
        self.status.unhealthy_peers = unhealthy_peers(objects);
        let noun = if counts.total == 1 {
            "security association"
        } else {
            "security associations"
        };
        let mut message = format!("mirrored {} {noun}", counts.total);
        if let Some(first) = skipped.first() {
            let records = if skipped.len() == 1 {
                "record"
            } else {
                "records"
            };
            let _ = write!(
                message,
                "; left out {} {records} ONTAP listed, the first with uuid {:?}: {}",
                skipped.len(),
                first.uuid,
                first.why
            );
        }
        // Only a change of spec, ONTAP release or ONTAP role helps an unserved source: kstatus
        // should say Failed.
        let stalled = if let Some(unserved) = unserved {
            let message = format!("{}; {message}", unserved.message);
            self.set(
                TYPE_READY,
                ConditionStatus::False,
                unserved.reason,
                &message,
            );
            Some((unserved.reason, message))
        } else {
            self.set(TYPE_READY, ConditionStatus::True, REASON_SYNCED, &message);
            None
        };
        if counts.not_ready == 0 {
            let message = format!("all {} SAs are ready", counts.total);
            self.set(
                TYPE_TUNNELS_HEALTHY,
                ConditionStatus::True,
                REASON_ALL_TUNNELS_UP,
                &message,
            );
        } else {
            let message = tunnels_down_message(counts, &self.status.unhealthy_peers);
            self.set(
                TYPE_TUNNELS_HEALTHY,
                ConditionStatus::False,
                REASON_TUNNELS_DOWN,
                &message,
            );
        }
        match stalled {
            Some((reason, message)) => {
                self.set(TYPE_STALLED, ConditionStatus::True, reason, &message);
            }
            None => self.set(TYPE_STALLED, ConditionStatus::False, REASON_PROGRESSING, ""),
        }
    }

    fn failed(&mut self, reason: &str, message: &str, stalled: bool, stale: bool) {
        self.set(TYPE_READY, ConditionStatus::False, reason, message);
        if stale {
            self.set(
                TYPE_TUNNELS_HEALTHY,
                ConditionStatus::Unknown,
                REASON_CLUSTER_UNREACHABLE,
                "tunnel health is unknown: ONTAP has not been polled successfully for staleAfter polls",
            );
        }
        if stalled {
            self.set(TYPE_STALLED, ConditionStatus::True, reason, message);
        } else {
            self.set(TYPE_STALLED, ConditionStatus::False, REASON_PROGRESSING, "");
        }
    }
}

fn counts(objects: &[DesiredObject]) -> SecurityAssociationCounts {
    let mut counts = SecurityAssociationCounts::default();
    for object in objects {
        counts.total += 1;
        match object.record.sa_type {
            Some(SecurityAssociationType::Ike) => counts.ike += 1,
            Some(SecurityAssociationType::Ipsec) => counts.ipsec += 1,
            _ => {}
        }
        if object.ready.status == ConditionStatus::True {
            counts.ready += 1;
        } else {
            counts.not_ready += 1;
        }
    }
    counts
}

/// Distinct peers of the SAs that are not ready, sorted, at most `MAX_UNHEALTHY_PEERS`.
fn unhealthy_peers(objects: &[DesiredObject]) -> Vec<UnhealthyPeer> {
    let mut peers: Vec<UnhealthyPeer> = objects
        .iter()
        .filter(|object| object.ready.status != ConditionStatus::True)
        .map(|object| UnhealthyPeer {
            svm: object.record.svm.as_ref().and_then(|svm| svm.name.clone()),
            local_address: object.record.local_address.clone(),
            remote_address: object.record.remote_address.clone(),
            policy_name: object.record.policy_name.clone(),
            reason: object.ready.reason.clone(),
        })
        .collect();
    peers.sort_by(|a, b| {
        (
            &a.remote_address,
            &a.local_address,
            &a.svm,
            &a.policy_name,
            &a.reason,
        )
            .cmp(&(
                &b.remote_address,
                &b.local_address,
                &b.svm,
                &b.policy_name,
                &b.reason,
            ))
    });
    peers.dedup();
    peers.truncate(MAX_UNHEALTHY_PEERS);
    peers
}

fn tunnels_down_message(counts: SecurityAssociationCounts, peers: &[UnhealthyPeer]) -> String {
    let names: Vec<&str> = peers
        .iter()
        .filter_map(|peer| peer.remote_address.as_deref())
        .take(5)
        .collect();
    let mut message = format!("{} of {} SAs are not ready", counts.not_ready, counts.total);
    if !names.is_empty() {
        message.push_str("; peers: ");
        message.push_str(&names.join(", "));
        if peers.len() > names.len() {
            message.push_str(", …");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::{Owner, StatusPolicy, plan};
    use crate::controller::source::DATA;
    use crate::crd::condition::{REASON_UNAUTHORIZED, REASON_UNREACHABLE};
    use crate::crd::find_condition;
    use std::collections::HashMap;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("valid time")
    }

    fn objects(states: &[(&str, &str)]) -> Vec<DesiredObject> {
        let records: Vec<crate::ontap::SecurityAssociation> = states
            .iter()
            .enumerate()
            .map(|(index, (sa_type, state))| {
                serde_json::from_value(serde_json::json!({
                    "uuid": format!("u-{index}"), "type": sa_type,
                    "remote_address": format!("10.0.0.{index}"),
                    sa_type.to_string(): {"state": state}
                }))
                .expect("record decodes")
            })
            .collect();
        let owner = Owner {
            cluster: crate::crd::ClusterId::new("n", "c"),
            uid: "u".into(),
        };
        let policy = StatusPolicy {
            counters_refresh_interval: None,
            now: at(0),
            rewrite_everything: false,
        };
        plan(&owner, &DATA, records, &HashMap::new(), policy).objects
    }

    fn condition<'a>(status: &'a OntapClusterStatus, type_: &str) -> (&'a str, &'a str) {
        let condition = find_condition(&status.conditions, type_).expect("condition present");
        (condition.status.as_str(), condition.reason.as_str())
    }

    #[test]
    fn a_synced_poll_with_a_down_tunnel_is_ready_but_not_tunnels_healthy() {
        let objects = objects(&[
            ("ike", "established"),
            ("ipsec", "installed"),
            ("ike", "connecting"),
        ]);
        let status = cluster_status(
            None,
            Some(2),
            &Outcome::Synced {
                identity: None,
                objects: &objects,
                skipped: &[],
                unserved: None,
            },
            at(0),
        );
        assert_eq!(condition(&status, TYPE_READY), ("True", REASON_SYNCED));
        assert_eq!(
            condition(&status, TYPE_TUNNELS_HEALTHY),
            ("False", REASON_TUNNELS_DOWN)
        );
        assert_eq!(condition(&status, TYPE_STALLED).0, "False");
        assert_eq!(
            status.security_associations,
            Some(SecurityAssociationCounts {
                total: 3,
                ike: 2,
                ipsec: 1,
                ready: 2,
                not_ready: 1
            })
        );
        assert_eq!(status.unhealthy_peers.len(), 1);
        assert_eq!(status.unhealthy_peers[0].reason, "Connecting");
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
    }

    #[test]
    fn an_unserved_source_stalls_while_the_others_are_counted() {
        let objects = objects(&[("ike", "established")]);
        let outcome = Outcome::Synced {
            identity: None,
            objects: &objects,
            skipped: &[],
            unserved: Some(Unserved {
                reason: "ClusterNetworkUnsupported",
                message: "ONTAP 9.18.1 does not serve it".into(),
            }),
        };
        let status = cluster_status(None, Some(1), &outcome, at(0));
        assert_eq!(
            condition(&status, TYPE_READY),
            ("False", "ClusterNetworkUnsupported")
        );
        assert_eq!(
            condition(&status, TYPE_STALLED),
            ("True", "ClusterNetworkUnsupported")
        );
        assert_eq!(
            condition(&status, TYPE_TUNNELS_HEALTHY),
            ("True", REASON_ALL_TUNNELS_UP)
        );
        let ready = find_condition(&status.conditions, TYPE_READY).expect("ready");
        assert_eq!(
            ready.message,
            "ONTAP 9.18.1 does not serve it; mirrored 1 security association"
        );
        let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [TYPE_READY, TYPE_TUNNELS_HEALTHY, TYPE_STALLED]);
        assert_eq!(status.security_associations.map(|c| c.total), Some(1));
    }

    #[test]
    fn the_same_outcome_twice_gives_the_same_status() {
        let objects = objects(&[("ike", "established")]);
        let outcome = Outcome::Synced {
            identity: None,
            objects: &objects,
            skipped: &[],
            unserved: None,
        };
        let first = cluster_status(None, Some(1), &outcome, at(0));
        let second = cluster_status(Some(&first), Some(1), &outcome, at(60));
        assert_eq!(first, second);
    }

    #[test]
    fn wrong_credentials_stall_and_keep_what_was_observed() {
        let objects = objects(&[("ike", "established")]);
        let synced = cluster_status(
            None,
            Some(1),
            &Outcome::Synced {
                identity: None,
                objects: &objects,
                skipped: &[],
                unserved: None,
            },
            at(0),
        );
        let failed = cluster_status(
            Some(&synced),
            Some(1),
            &Outcome::Failed {
                reason: REASON_UNAUTHORIZED,
                message: "User is not authorized.".into(),
                stalled: true,
                stale: false,
            },
            at(60),
        );
        assert_eq!(
            condition(&failed, TYPE_READY),
            ("False", REASON_UNAUTHORIZED)
        );
        assert_eq!(
            condition(&failed, TYPE_STALLED),
            ("True", REASON_UNAUTHORIZED)
        );
        assert_eq!(
            condition(&failed, TYPE_TUNNELS_HEALTHY),
            ("True", REASON_ALL_TUNNELS_UP)
        );
        assert_eq!(failed.security_associations, synced.security_associations);
    }

    #[test]
    fn an_unreachable_cluster_turns_tunnel_health_unknown_once_stale() {
        let objects = objects(&[("ike", "established")]);
        let synced = cluster_status(
            None,
            Some(1),
            &Outcome::Synced {
                identity: None,
                objects: &objects,
                skipped: &[],
                unserved: None,
            },
            at(0),
        );
        let failure = |stale| Outcome::Failed {
            reason: REASON_UNREACHABLE,
            message: "connection refused".into(),
            stalled: false,
            stale,
        };
        let early = cluster_status(Some(&synced), Some(1), &failure(false), at(60));
        assert_eq!(condition(&early, TYPE_TUNNELS_HEALTHY).0, "True");
        assert_eq!(condition(&early, TYPE_STALLED).0, "False");
        let late = cluster_status(Some(&early), Some(1), &failure(true), at(200));
        assert_eq!(
            condition(&late, TYPE_TUNNELS_HEALTHY),
            ("Unknown", REASON_CLUSTER_UNREACHABLE)
        );
        let ready = find_condition(&late.conditions, TYPE_READY).expect("ready");
        assert_eq!(
            ready.last_transition_time.0,
            at(60),
            "time moves only on status change"
        );
    }

    #[test]
    fn unhealthy_peers_are_capped_at_twenty() {
        let down: Vec<(&str, &str)> = (0..30).map(|_| ("ike", "connecting")).collect();
        let objects = objects(&down);
        let status = cluster_status(
            None,
            Some(1),
            &Outcome::Synced {
                identity: None,
                objects: &objects,
                skipped: &[],
                unserved: None,
            },
            at(0),
        );
        assert_eq!(status.unhealthy_peers.len(), MAX_UNHEALTHY_PEERS);
        let message = &find_condition(&status.conditions, TYPE_TUNNELS_HEALTHY)
            .expect("c")
            .message;
        assert!(
            message.starts_with("30 of 30 SAs are not ready; peers: 10.0.0.0"),
            "{message}"
        );
    }

    #[test]
    fn suspension_is_reported_as_not_ready_and_not_stalled() {
        let status = cluster_status(None, Some(1), &Outcome::Suspended, at(0));
        assert_eq!(condition(&status, TYPE_READY), ("False", REASON_SUSPENDED));
        assert_eq!(condition(&status, TYPE_STALLED).0, "False");
    }
}
