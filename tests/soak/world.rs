//! What the soak knows about the world it disturbs: the simulators, the health each SA had at
//! every moment, when faults and API-server outages were on, and the first violation seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ontap_ipsec_operator::ontap::{SecurityAssociation, health};
use ontap_sim::{RunningSimulator, SimulatorState};
use serde_json::Value;
use tokio::sync::watch;

use crate::settings::{FAULT_LAG, OUTAGE_GRACE};

/// The conditions an SA's mirror should carry, from the operator's own health rule
/// ([`health::ready`]) applied to the record the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `ike` or `ipsec`, which decides the type-specific condition.
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    pub reason: String,
}

impl Expected {
    pub fn of(record: &Value) -> Self {
        let kind = record["type"].as_str().unwrap_or_default().to_owned();
        match serde_json::from_value::<SecurityAssociation>(record.clone()) {
            Ok(sa) => {
                let verdict = health::ready(&sa);
                Self {
                    kind,
                    status: verdict.status.as_str(),
                    reason: verdict.reason,
                }
            }
            Err(error) => panic!("the soak served a record the model cannot read: {error}"),
        }
    }
}

/// One value an SA held from `since` until the next entry: `None` once the simulator dropped it.
#[derive(Debug, Clone)]
pub struct Held {
    pub since: Instant,
    pub value: Option<Expected>,
}

/// A time span; `end` is `None` while it lasts.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub start: Instant,
    pub end: Option<Instant>,
}

impl Span {
    pub fn overlaps(&self, from: Instant, to: Instant) -> bool {
        self.start <= to && self.end.is_none_or(|end| end >= from)
    }
}

/// Everything the chaos tasks write and the checker reads, behind one lock so a change to a
/// simulator and its entry in the history are seen together.
#[derive(Debug, Default)]
pub struct Book {
    /// Per `(cluster index, uuid)`: the health the SA had over time.
    pub histories: HashMap<(usize, String), Vec<Held>>,
    /// Per cluster: when a fault episode was on.
    pub faults: Vec<Vec<Span>>,
    /// Per cluster: when a fault cut its listings into short pages.
    pub paged: Vec<Vec<Span>>,
    /// When the API server was down (from the kill until it answered `/readyz` again).
    pub outages: Vec<Span>,
    pub faults_by_kind: BTreeMap<&'static str, u32>,
    pub churn_by_kind: BTreeMap<&'static str, u32>,
}

impl Book {
    /// Notes what the simulator of `cluster` now serves for `uuid` (`None`: nothing).
    pub fn observe(&mut self, cluster: usize, uuid: &str, record: Option<&Value>) {
        let value = record.map(Expected::of);
        let history = self
            .histories
            .entry((cluster, uuid.to_owned()))
            .or_default();
        if history.last().is_some_and(|last| last.value == value) {
            return;
        }
        history.push(Held {
            since: Instant::now(),
            value,
        });
    }

    /// When the simulator stopped serving `uuid`, if it has.
    pub fn removed_at(&self, cluster: usize, uuid: &str) -> Option<Instant> {
        let history = self.histories.get(&(cluster, uuid.to_owned()))?;
        let last = history.last()?;
        last.value.is_none().then_some(last.since)
    }

    /// The start of the window whose values a mirror read at `now` may legally show: one lag
    /// back, the longer lag when a fault was on meanwhile, and back to before an API-server
    /// outage until the operator has had [`OUTAGE_GRACE`] to catch up after it.
    pub fn window_start(&self, cluster: usize, now: Instant, clean_lag: Duration) -> Instant {
        let back = |lag: Duration| now.checked_sub(lag).unwrap_or(now);
        let faulty = self.faults[cluster]
            .iter()
            .any(|span| span.overlaps(back(FAULT_LAG), now));
        let mut start = back(if faulty { FAULT_LAG } else { clean_lag });
        for outage in &self.outages {
            if outage.overlaps(back(FAULT_LAG + OUTAGE_GRACE), now) {
                start = start.min(outage.start.checked_sub(FAULT_LAG).unwrap_or(outage.start));
            }
        }
        start
    }

    /// The values `(cluster, uuid)` held at some moment in `[from, to]`, oldest first.
    pub fn values_between(
        &self,
        cluster: usize,
        uuid: &str,
        from: Instant,
        to: Instant,
    ) -> Vec<&Held> {
        let Some(history) = self.histories.get(&(cluster, uuid.to_owned())) else {
            return vec![];
        };
        history
            .iter()
            .enumerate()
            .filter(|(index, held)| {
                let until = history.get(index + 1).map(|next| next.since);
                held.since <= to && until.is_none_or(|until| until >= from)
            })
            .map(|(_, held)| held)
            .collect()
    }

    /// Drops values that ended long before any window can reach them.
    pub fn forget_before(&mut self, horizon: Instant) {
        for history in self.histories.values_mut() {
            let keep_from = history
                .iter()
                .rposition(|held| held.since <= horizon)
                .unwrap_or(0);
            history.drain(..keep_from);
        }
    }
}

/// One simulated ONTAP cluster and the OntapCluster that mirrors it.
pub struct Cluster {
    pub name: String,
    pub simulator: RunningSimulator,
}

impl Cluster {
    pub fn state(&self) -> SimulatorState {
        self.simulator.state()
    }
}

pub struct World {
    pub namespace: String,
    pub clusters: Vec<Cluster>,
    pub book: Mutex<Book>,
    pub started: Instant,
    /// True from just before the API server is killed until it is ready again.
    pub api_down: std::sync::atomic::AtomicBool,
    violation: Mutex<Option<String>>,
    stop: watch::Sender<bool>,
}

impl World {
    pub fn new(namespace: String, clusters: Vec<Cluster>) -> Self {
        let mut book = Book {
            faults: vec![Vec::new(); clusters.len()],
            paged: vec![Vec::new(); clusters.len()],
            ..Book::default()
        };
        for (index, cluster) in clusters.iter().enumerate() {
            for record in cluster.state().records() {
                let uuid = record["uuid"].as_str().expect("uuid").to_owned();
                book.observe(index, &uuid, Some(&record));
            }
        }
        Self {
            namespace,
            clusters,
            book: Mutex::new(book),
            started: Instant::now(),
            api_down: std::sync::atomic::AtomicBool::new(false),
            violation: Mutex::new(None),
            stop: watch::channel(false).0,
        }
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn cluster_index(&self, name: &str) -> Option<usize> {
        self.clusters
            .iter()
            .position(|cluster| cluster.name == name)
    }

    /// Seconds since the soak began, for messages.
    pub fn at(&self, moment: Instant) -> String {
        format!(
            "t={:.1}s",
            moment.saturating_duration_since(self.started).as_secs_f64()
        )
    }

    pub fn api_is_down(&self) -> bool {
        self.api_down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A receiver that sees `true` once the soak should end.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Records the first violation and ends the soak.
    pub fn fail(&self, message: String) {
        let mut violation = self
            .violation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if violation.is_none() {
            eprintln!("soak: VIOLATION {message}");
            *violation = Some(message);
        }
        drop(violation);
        self.stop();
    }

    pub fn violation(&self) -> Option<String> {
        self.violation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Sleeps for `duration` unless the soak ends first; returns whether it ended.
pub async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
