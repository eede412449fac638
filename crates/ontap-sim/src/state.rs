//! The simulator's mutable state: each set's records sorted by uuid, active faults and request counters.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;

use super::counters;
use super::fault::{Decision, Fault, FaultBook, FaultError, RequestKind};
use super::record_set::RecordSet;
use super::records::Records;

const UUID_FIELD: &str = "uuid";

/// Why a record change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("security association record #{index} is not a json object")]
    NotAnObject { index: usize },
    #[error("security association record #{index} has no string uuid")]
    MissingUuid { index: usize },
    #[error("security association uuid {uuid} appears more than once")]
    DuplicateUuid { uuid: String },
    #[error("security association {uuid} does not exist")]
    NotFound { uuid: String },
    #[error("patched security association {uuid} is invalid: {reason}")]
    InvalidPatch { uuid: String, reason: String },
}

/// A cheap, clonable handle on the simulator's record sets, faults and counters.
///
/// Changes are visible to the next request; the running server holds the same handle.
#[derive(Debug, Clone, Default)]
pub struct SimulatorState {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// One per [`RecordSet`], in the order of [`RecordSet::ALL`].
    pub(crate) sets: [SetState; RecordSet::ALL.len()],
    faults: Mutex<FaultBook>,
    /// `/api/` requests received.
    requests: AtomicU64,
    /// `stall` and `endless_body` responses still holding their connection.
    hanging: AtomicU64,
}

/// The records of one set and the counts that belong to it.
#[derive(Debug, Default)]
pub(crate) struct SetState {
    pub(crate) records: RwLock<RecordStore>,
    /// Reads of this set so far; counters of its installed `ipsec` SAs grow with it.
    pub(crate) reads: AtomicU64,
    /// `/api/` requests for this set's endpoints.
    pub(crate) requests: AtomicU64,
}

/// Counts one hanging response (a stall or an endless body) until dropped.
#[derive(Debug)]
pub struct Hanging {
    shared: Arc<Shared>,
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.shared.hanging.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Records keyed (and so sorted) by uuid, each with the read count its counters were last set at.
#[derive(Debug, Default)]
pub struct RecordStore {
    pub(crate) by_uuid: BTreeMap<String, StoredRecord>,
}

#[derive(Debug)]
pub(crate) struct StoredRecord {
    value: Value,
    counters_set_at_read: u64,
}

impl RecordStore {
    pub(crate) fn from_records(records: Vec<Value>, read: u64) -> Result<Self, StateError> {
        let mut by_uuid = BTreeMap::new();
        for (index, record) in records.into_iter().enumerate() {
            let uuid = record_uuid(&record, index)?;
            match by_uuid.entry(uuid) {
                MapEntry::Occupied(entry) => {
                    return Err(StateError::DuplicateUuid {
                        uuid: entry.key().clone(),
                    });
                }
                MapEntry::Vacant(entry) => {
                    entry.insert(StoredRecord::new(record, read));
                }
            }
        }
        Ok(Self { by_uuid })
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_uuid.len()
    }

    /// The record with this uuid as of read `read`.
    #[must_use]
    pub fn get(&self, uuid: &str, read: u64) -> Option<Value> {
        self.by_uuid.get(uuid).map(|stored| stored.at(read))
    }

    /// Records as of read `read`, in uuid order, from `start` (inclusive) on.
    pub fn starting_at<'a>(
        &'a self,
        start: Option<&str>,
        read: u64,
    ) -> impl Iterator<Item = Value> + use<'a> {
        let range = match start {
            Some(start) => self
                .by_uuid
                .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded)),
            None => self.by_uuid.range::<str, _>(..),
        };
        range.map(move |(_, stored)| stored.at(read))
    }

    /// The node name of the last record (in uuid order) that names one.
    #[must_use]
    pub fn last_node_name(&self) -> Option<String> {
        self.by_uuid.values().rev().find_map(|stored| {
            stored
                .value
                .pointer("/node/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// Every record as stored, without counter growth applied (cheap access for derived views).
    pub fn raw(&self) -> impl Iterator<Item = &Value> {
        self.by_uuid.values().map(|stored| &stored.value)
    }
}

impl StoredRecord {
    pub(crate) fn new(value: Value, read: u64) -> Self {
        Self {
            value,
            counters_set_at_read: read,
        }
    }

    pub(crate) fn at(&self, read: u64) -> Value {
        let mut value = self.value.clone();
        counters::advance(&mut value, read.saturating_sub(self.counters_set_at_read));
        value
    }
}

pub(crate) fn record_uuid(record: &Value, index: usize) -> Result<String, StateError> {
    let object = record
        .as_object()
        .ok_or(StateError::NotAnObject { index })?;
    object
        .get(UUID_FIELD)
        .and_then(Value::as_str)
        .filter(|uuid| !uuid.is_empty())
        .map(str::to_owned)
        .ok_or(StateError::MissingUuid { index })
}

/// A poisoned lock only means a panic elsewhere; the data is still consistent enough for a simulator.
pub(crate) fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimulatorState {
    /// A state holding `records` (each an object with a unique string `uuid`) as its SA set.
    pub fn new(records: Vec<Value>) -> Result<Self, StateError> {
        let state = Self::default();
        state.replace_records(records)?;
        Ok(state)
    }

    /// The `/api/security/ipsec/security-associations` records; the methods below act on them.
    #[must_use]
    pub fn security_associations(&self) -> Records {
        self.record_set(RecordSet::SecurityAssociations)
    }

    /// The `/api/security/cluster-network/ipsec/associations` records (served from ONTAP 9.19).
    #[must_use]
    pub fn cluster_network(&self) -> Records {
        self.record_set(RecordSet::ClusterNetwork)
    }

    /// The records of `set`.
    #[must_use]
    pub fn record_set(&self, set: RecordSet) -> Records {
        Records::new(Arc::clone(&self.shared), set)
    }

    /// Every SA record in uuid order, with counters as of now.
    #[must_use]
    pub fn records(&self) -> Vec<Value> {
        self.security_associations().records()
    }

    /// One SA record with counters as of now.
    #[must_use]
    pub fn record(&self, uuid: &str) -> Option<Value> {
        self.security_associations().record(uuid)
    }

    /// Replaces the whole SA set; on error nothing changes.
    pub fn replace_records(&self, records: Vec<Value>) -> Result<(), StateError> {
        self.security_associations().replace_records(records)
    }

    /// Adds an SA record, or replaces the one with the same uuid.
    pub fn insert_record(&self, record: Value) -> Result<(), StateError> {
        self.security_associations().insert_record(record)
    }

    /// Applies a JSON merge patch (RFC 7386) to one SA record; see [`Records::patch_record`].
    pub fn patch_record(&self, uuid: &str, patch: &Value) -> Result<Value, StateError> {
        self.security_associations().patch_record(uuid, patch)
    }

    /// Removes one SA record and returns it.
    pub fn remove_record(&self, uuid: &str) -> Result<Value, StateError> {
        self.security_associations().remove_record(uuid)
    }

    /// Simulates a rekey of one SA; see [`Records::rekey_record`].
    pub fn rekey_record(&self, uuid: &str) -> Result<Value, StateError> {
        self.security_associations().rekey_record(uuid)
    }

    /// Activates a fault for `/api/` requests (faults accumulate until cleared or used up).
    pub fn set_fault(&self, fault: Fault) -> Result<(), FaultError> {
        fault.validate()?;
        lock(&self.shared.faults).add(fault);
        Ok(())
    }

    /// Removes every active fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// The active faults, with what is left of their `skip` and `count`.
    #[must_use]
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).list()
    }

    /// `/api/` requests received so far (including rejected and faulted ones).
    #[must_use]
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// `stall` and `endless_body` responses whose client is still connected.
    #[must_use]
    pub fn hanging_responses(&self) -> u64 {
        self.shared.hanging.load(Ordering::Relaxed)
    }

    /// Marks a response as hanging until the returned guard is dropped.
    pub(crate) fn hang(&self) -> Hanging {
        self.shared.hanging.fetch_add(1, Ordering::Relaxed);
        Hanging {
            shared: Arc::clone(&self.shared),
        }
    }

    pub(crate) fn decide_faults(&self, kind: RequestKind) -> Decision {
        lock(&self.shared.faults).decide(kind)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(uuid: &str) -> Value {
        json!({ "uuid": uuid, "type": "ipsec" })
    }

    #[test]
    fn records_come_back_sorted_by_uuid() {
        let state =
            SimulatorState::new(vec![record("b"), record("a"), record("c")]).expect("valid");
        let uuids: Vec<_> = state
            .records()
            .iter()
            .map(|r| r["uuid"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            uuids,
            [Some("a".into()), Some("b".into()), Some("c".into())]
        );
    }

    #[test]
    fn invalid_record_sets_are_refused() {
        assert_eq!(
            SimulatorState::new(vec![record("a"), record("a")]).expect_err("duplicate"),
            StateError::DuplicateUuid { uuid: "a".into() }
        );
        assert_eq!(
            SimulatorState::new(vec![json!({"type": "ike"})]).expect_err("no uuid"),
            StateError::MissingUuid { index: 0 }
        );
        assert_eq!(
            SimulatorState::new(vec![json!(1)]).expect_err("not an object"),
            StateError::NotAnObject { index: 0 }
        );
    }

    #[test]
    fn last_node_name_follows_uuid_order() {
        let mut first = record("a");
        first["node"] = json!({"name": "n9"});
        let mut last = record("c");
        last["node"] = json!({"name": "n1"});
        let state = SimulatorState::new(vec![last, record("d"), first]).expect("valid");
        assert_eq!(
            state
                .security_associations()
                .peek(RecordStore::last_node_name)
                .as_deref(),
            Some("n1")
        );
        assert_eq!(
            SimulatorState::default()
                .security_associations()
                .peek(RecordStore::last_node_name),
            None
        );
    }
}
