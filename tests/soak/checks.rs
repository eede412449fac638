//! The invariants on the API server, checked every few seconds while it is up: no mirror is
//! deleted while its SA is listed, every condition is right or Unknown, and no OntapCluster is
//! Stalled by a fault that needs no human.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::ListParams;
use kube::{Api, Client, ResourceExt as _};
use ontap_ipsec_operator::crd::condition::{
    STATUS_TRUE, STATUS_UNKNOWN, TYPE_IKE_ESTABLISHED, TYPE_IPSEC_INSTALLED, TYPE_READY,
    TYPE_STALLED,
};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, OntapCluster, find_condition};

use crate::settings::{CHECK_EVERY, CLEAN_LAG, FAULT_LAG, OUTAGE_GRACE};
use crate::world::{World, pause};

/// Consecutive failed lists, with the API server supposedly up, that count as a violation.
const MAX_FAILED_LISTS: u32 = 45;

/// One mirrored object as last listed.
#[derive(Debug, Clone)]
struct Seen {
    uid: String,
    cluster: usize,
    uuid: String,
}

#[derive(Debug, Default)]
pub struct CheckFigures {
    /// Lists of the mirrored objects taken and compared.
    pub rounds: u64,
    /// Rounds skipped because the API server was down or not answering.
    pub skipped: u64,
    /// Conditions found right (True or False as the health rule says).
    pub right: u64,
    /// Conditions found Unknown, by reason.
    pub unknown: BTreeMap<String, u64>,
    /// Mirrors of SAs the simulator no longer serves, waiting to be pruned.
    pub awaiting_prune: u64,
    /// Mirrors seen before their first status write.
    pub without_status: u64,
    /// Deletions seen after the simulator had dropped the SA, and before.
    pub legal_deletions: u64,
    pub illegal_deletions: u64,
    /// OntapClusters checked for `Stalled`.
    pub cluster_checks: u64,
}

pub struct Checker {
    world: Arc<World>,
    mirrors: Api<IpsecSecurityAssociation>,
    clusters: Api<OntapCluster>,
    previous: Option<HashMap<String, Seen>>,
    pub figures: CheckFigures,
}

impl Checker {
    pub fn new(world: Arc<World>, client: &Client) -> Self {
        let namespace = world.namespace.clone();
        Self {
            world,
            mirrors: Api::namespaced(client.clone(), &namespace),
            clusters: Api::namespaced(client.clone(), &namespace),
            previous: None,
            figures: CheckFigures::default(),
        }
    }

    pub fn into_figures(self) -> CheckFigures {
        self.figures
    }

    /// Checks every [`CHECK_EVERY`] until the soak ends or an invariant breaks.
    pub async fn run(mut self) -> Self {
        let mut stop = self.world.stopping();
        let mut failed_lists = 0;
        while !pause(&mut stop, CHECK_EVERY).await {
            if self.world.api_is_down() {
                self.figures.skipped += 1;
                continue;
            }
            match self.round().await {
                Ok(true) => failed_lists = 0,
                Ok(false) => {
                    self.figures.skipped += 1;
                    failed_lists += 1;
                    if failed_lists >= MAX_FAILED_LISTS {
                        self.world.fail(format!(
                            "the API server has not answered a list for {failed_lists} rounds \
                             while it was up"
                        ));
                    }
                }
                Err(violation) => self.world.fail(violation),
            }
        }
        self
    }

    /// One round; `Ok(false)` when the API server did not answer.
    pub async fn round(&mut self) -> Result<bool, String> {
        let before = Instant::now();
        let Ok(list) = self.mirrors.list(&ListParams::default()).await else {
            return Ok(false);
        };
        let after = Instant::now();
        let Ok(clusters) = self.clusters.list(&ListParams::default()).await else {
            return Ok(false);
        };
        self.figures.rounds += 1;
        let current = self.index(&list.items)?;
        if let Some(previous) = self.previous.take() {
            self.check_deletions(&previous, &current, after)?;
        }
        for object in &list.items {
            self.check_conditions(object, before, after)?;
        }
        for cluster in &clusters.items {
            self.figures.cluster_checks += 1;
            if let Some(stalled) = cluster
                .status
                .as_ref()
                .and_then(|status| find_condition(&status.conditions, TYPE_STALLED))
                .filter(|condition| condition.status == STATUS_TRUE)
            {
                return Err(format!(
                    "{} OntapCluster {} is Stalled=True ({}: {}), but no fault of the soak needs \
                     a human",
                    self.world.at(after),
                    cluster.name_any(),
                    stalled.reason,
                    stalled.message
                ));
            }
        }
        self.previous = Some(current);
        let horizon = before
            .checked_sub(FAULT_LAG * 3 + OUTAGE_GRACE * 2)
            .unwrap_or(before);
        self.world.book().forget_before(horizon);
        Ok(true)
    }

    fn index(&self, items: &[IpsecSecurityAssociation]) -> Result<HashMap<String, Seen>, String> {
        items
            .iter()
            .map(|object| {
                let cluster = self
                    .world
                    .cluster_index(&object.spec.cluster_ref.name)
                    .ok_or_else(|| {
                        format!(
                            "{} names OntapCluster {:?}, which the soak did not create",
                            object.name_any(),
                            object.spec.cluster_ref.name
                        )
                    })?;
                Ok((
                    object.name_any(),
                    Seen {
                        uid: object.uid().unwrap_or_default(),
                        cluster,
                        uuid: object.spec.uuid.clone(),
                    },
                ))
            })
            .collect()
    }

    /// Invariant 1: an object that disappeared (or came back with a new uid) since the last
    /// list was deleted; that is legal only if the simulator had stopped serving its SA by the
    /// time this list was taken. uuids never come back, so a later removal cannot excuse it.
    fn check_deletions(
        &mut self,
        previous: &HashMap<String, Seen>,
        current: &HashMap<String, Seen>,
        listed: Instant,
    ) -> Result<(), String> {
        let book = self.world.book();
        for (name, seen) in previous {
            if current.get(name).is_some_and(|now| now.uid == seen.uid) {
                continue;
            }
            let removed = book.removed_at(seen.cluster, &seen.uuid);
            let legal = removed.is_some_and(|removed| removed <= listed);
            if legal {
                self.figures.legal_deletions += 1;
            } else {
                self.figures.illegal_deletions += 1;
                let served = self.world.clusters[seen.cluster]
                    .state()
                    .record(&seen.uuid)
                    .is_some();
                let recreated = if current.contains_key(name) {
                    " (and created again with a new uid)"
                } else {
                    ""
                };
                return Err(format!(
                    "{} {name} (cluster {}, uuid {}) was deleted{recreated} while its simulator \
                     still lists the SA (served now: {served}; removed at: {})",
                    self.world.at(listed),
                    self.world.clusters[seen.cluster].name,
                    seen.uuid,
                    removed.map_or_else(|| "never".to_owned(), |at| self.world.at(at)),
                ));
            }
        }
        Ok(())
    }

    /// Invariant 2: each condition of a mirror is Unknown, or has the status and reason the
    /// health rule gives for a state the SA held within the allowed lag.
    fn check_conditions(
        &mut self,
        object: &IpsecSecurityAssociation,
        before: Instant,
        after: Instant,
    ) -> Result<(), String> {
        let name = object.name_any();
        let cluster = self
            .world
            .cluster_index(&object.spec.cluster_ref.name)
            .expect("checked in index");
        let uuid = &object.spec.uuid;
        let book = self.world.book();
        if !book.histories.contains_key(&(cluster, uuid.clone())) {
            return Err(format!(
                "{} {name} mirrors uuid {uuid}, which its simulator never served",
                self.world.at(after)
            ));
        }
        if book.removed_at(cluster, uuid).is_some() {
            self.figures.awaiting_prune += 1;
            return Ok(());
        }
        let from = book.window_start(cluster, before, CLEAN_LAG);
        let held = book.values_between(cluster, uuid, from, after);
        let Some(kind) = held
            .last()
            .and_then(|held| held.value.as_ref())
            .map(|value| value.kind.clone())
        else {
            return Err(format!("{name}: no history for a served SA"));
        };
        let conditions = object
            .status
            .as_ref()
            .map(|status| status.conditions.as_slice())
            .unwrap_or_default();
        if find_condition(conditions, TYPE_READY).is_none() {
            // Created, and its status not written yet: fine for a while.
            let age = object
                .creation_timestamp()
                .map_or(Duration::ZERO, |created| {
                    let created = created.0.as_second();
                    let now = jiff::Timestamp::now().as_second();
                    Duration::from_secs(u64::try_from(now - created).unwrap_or(0))
                });
            if age > FAULT_LAG {
                return Err(format!(
                    "{} {name} has had no Ready condition for {age:?}",
                    self.world.at(after)
                ));
            }
            self.figures.without_status += 1;
            return Ok(());
        }
        let specific = match kind.as_str() {
            "ike" => TYPE_IKE_ESTABLISHED,
            _ => TYPE_IPSEC_INSTALLED,
        };
        if find_condition(conditions, specific).is_none() {
            return Err(format!(
                "{} {name} ({kind}) has Ready but no {specific} condition",
                self.world.at(after)
            ));
        }
        for condition in conditions {
            if condition.type_ != TYPE_READY && condition.type_ != specific {
                return Err(format!(
                    "{} {name} ({kind}) has an unexpected condition {} = {}",
                    self.world.at(after),
                    condition.type_,
                    condition.status
                ));
            }
            if condition.status == STATUS_UNKNOWN {
                *self
                    .figures
                    .unknown
                    .entry(condition.reason.clone())
                    .or_default() += 1;
                continue;
            }
            let right = held.iter().any(|held| {
                held.value.as_ref().is_some_and(|value| {
                    value.status == condition.status && value.reason == condition.reason
                })
            });
            if right {
                self.figures.right += 1;
                continue;
            }
            let mut history = String::new();
            for held in book.values_between(cluster, uuid, self.world.started, after) {
                let _ = write!(
                    history,
                    "\n    since {}: {}",
                    self.world.at(held.since),
                    held.value.as_ref().map_or_else(
                        || "not served".to_owned(),
                        |value| format!("{} ({})", value.status, value.reason)
                    )
                );
            }
            let faults: Vec<String> = book.faults[cluster]
                .iter()
                .filter(|span| span.end.is_none_or(|end| end >= from))
                .map(|span| {
                    format!(
                        "{}..{}",
                        self.world.at(span.start),
                        span.end
                            .map_or_else(|| "now".to_owned(), |end| self.world.at(end))
                    )
                })
                .collect();
            return Err(format!(
                "{} {name} condition {} is {} ({}: {:?}, since {}), but within the allowed \
                 window (from {}) its SA was only {}; fault episodes since then: {faults:?}; \
                 what the SA held:{history}",
                self.world.at(after),
                condition.type_,
                condition.status,
                condition.reason,
                condition.message,
                condition.last_transition_time.0,
                self.world.at(from),
                held.iter()
                    .filter_map(|held| held.value.as_ref())
                    .map(|value| format!("{} ({})", value.status, value.reason))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        Ok(())
    }
}
