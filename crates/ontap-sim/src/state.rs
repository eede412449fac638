//! The simulator's mutable state: SA records sorted by uuid, active faults and request counters.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry as MapEntry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;

use super::counters;
use super::fault::{Decision, Fault, FaultBook, FaultError, RequestKind};
use super::merge_patch::merge_patch;

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

/// A cheap, clonable handle on the simulator's records, faults and counters.
///
/// Changes are visible to the next request; the running server holds the same handle.
#[derive(Debug, Clone, Default)]
pub struct SimulatorState {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    records: RwLock<RecordStore>,
    faults: Mutex<FaultBook>,
    /// `/api/` requests received.
    requests: AtomicU64,
    /// SA reads so far; counters of installed `ipsec` SAs grow with it.
    reads: AtomicU64,
    /// `stall` and `endless_body` responses still holding their connection.
    hanging: AtomicU64,
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
    by_uuid: BTreeMap<String, StoredRecord>,
}

#[derive(Debug)]
struct StoredRecord {
    value: Value,
    counters_set_at_read: u64,
}

impl RecordStore {
    fn from_records(records: Vec<Value>, read: u64) -> Result<Self, StateError> {
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
    fn new(value: Value, read: u64) -> Self {
        Self {
            value,
            counters_set_at_read: read,
        }
    }

    fn at(&self, read: u64) -> Value {
        let mut value = self.value.clone();
        counters::advance(&mut value, read.saturating_sub(self.counters_set_at_read));
        value
    }
}

fn record_uuid(record: &Value, index: usize) -> Result<String, StateError> {
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
fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimulatorState {
    /// A state holding `records` (each an object with a unique string `uuid`).
    pub fn new(records: Vec<Value>) -> Result<Self, StateError> {
        let state = Self::default();
        state.replace_records(records)?;
        Ok(state)
    }

    /// Every record in uuid order, with counters as of now.
    #[must_use]
    pub fn records(&self) -> Vec<Value> {
        let read = self.current_read();
        read_lock(&self.shared.records)
            .starting_at(None, read)
            .collect()
    }

    /// One record with counters as of now.
    #[must_use]
    pub fn record(&self, uuid: &str) -> Option<Value> {
        read_lock(&self.shared.records).get(uuid, self.current_read())
    }

    /// Replaces the whole set; on error nothing changes.
    pub fn replace_records(&self, records: Vec<Value>) -> Result<(), StateError> {
        let store = RecordStore::from_records(records, self.current_read())?;
        *write_lock(&self.shared.records) = store;
        Ok(())
    }

    /// Adds a record, or replaces the one with the same uuid.
    pub fn insert_record(&self, record: Value) -> Result<(), StateError> {
        let uuid = record_uuid(&record, 0)?;
        let read = self.current_read();
        write_lock(&self.shared.records)
            .by_uuid
            .insert(uuid, StoredRecord::new(record, read));
        Ok(())
    }

    /// Applies a JSON merge patch (RFC 7386) to one record and returns the result.
    ///
    /// The patch may change the uuid (the record moves); counters continue from their current
    /// values unless the patch sets them.
    pub fn patch_record(&self, uuid: &str, patch: &Value) -> Result<Value, StateError> {
        let read = self.current_read();
        let mut store = write_lock(&self.shared.records);
        let mut value = store.get(uuid, read).ok_or_else(|| StateError::NotFound {
            uuid: uuid.to_owned(),
        })?;
        merge_patch(&mut value, patch);
        let new_uuid = record_uuid(&value, 0).map_err(|error| StateError::InvalidPatch {
            uuid: uuid.to_owned(),
            reason: error.to_string(),
        })?;
        if new_uuid != uuid && store.by_uuid.contains_key(&new_uuid) {
            return Err(StateError::DuplicateUuid { uuid: new_uuid });
        }
        store.by_uuid.remove(uuid);
        store
            .by_uuid
            .insert(new_uuid, StoredRecord::new(value.clone(), read));
        Ok(value)
    }

    /// Removes one record and returns it.
    pub fn remove_record(&self, uuid: &str) -> Result<Value, StateError> {
        let read = self.current_read();
        write_lock(&self.shared.records)
            .by_uuid
            .remove(uuid)
            .map(|stored| stored.at(read))
            .ok_or_else(|| StateError::NotFound {
                uuid: uuid.to_owned(),
            })
    }

    /// Simulates a rekey: the SA is replaced by one with a new uuid, new SPIs and zeroed counters.
    pub fn rekey_record(&self, uuid: &str) -> Result<Value, StateError> {
        let new_uuid = uuid::Uuid::new_v4().to_string();
        let mut patch = serde_json::json!({ "uuid": new_uuid });
        let current = self.record(uuid).ok_or_else(|| StateError::NotFound {
            uuid: uuid.to_owned(),
        })?;
        // An `ipsec` SA's `ike` object holds the tunnel's parameters, not IKE SPIs.
        let kind = current.get("type").and_then(Value::as_str);
        if kind != Some("ipsec") && current.get("ike").is_some_and(Value::is_object) {
            patch["ike"] = serde_json::json!({
                "initiator_security_parameter_index": format!("{:016x}", fastrand::u64(..)),
                "responder_security_parameter_index": format!("{:016x}", fastrand::u64(..)),
            });
        }
        if kind != Some("ike") && current.get("ipsec").is_some_and(Value::is_object) {
            let direction = || {
                serde_json::json!({
                    "security_parameter_index": format!("{:08x}", fastrand::u32(..)),
                    "bytes": 0,
                    "packets": 0,
                })
            };
            patch["ipsec"] = serde_json::json!({ "inbound": direction(), "outbound": direction() });
        }
        self.patch_record(uuid, &patch)
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

    /// Marks one SA read (so counters grow) and runs `view` over the records as of that read.
    pub(crate) fn read<T>(&self, view: impl FnOnce(&RecordStore, u64) -> T) -> T {
        let read = self.shared.reads.fetch_add(1, Ordering::Relaxed) + 1;
        view(&read_lock(&self.shared.records), read)
    }

    /// Runs `view` over the records without counting a read.
    pub(crate) fn peek<T>(&self, view: impl FnOnce(&RecordStore) -> T) -> T {
        view(&read_lock(&self.shared.records))
    }

    fn current_read(&self) -> u64 {
        self.shared.reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ipsec(uuid: &str) -> Value {
        json!({
            "uuid": uuid, "type": "ipsec",
            "ipsec": {"state": "installed", "inbound": {"bytes": 0, "packets": 0, "security_parameter_index": "0000abcd"}}
        })
    }

    #[test]
    fn records_come_back_sorted_by_uuid() {
        let state = SimulatorState::new(vec![ipsec("b"), ipsec("a"), ipsec("c")]).expect("valid");
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
            SimulatorState::new(vec![ipsec("a"), ipsec("a")]).expect_err("duplicate"),
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
    fn counters_grow_per_read_and_patches_freeze_state_changes() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        let first = state
            .read(|store, read| store.get("a", read))
            .expect("exists");
        let second = state
            .read(|store, read| store.get("a", read))
            .expect("exists");
        let bytes = |record: &Value| record["ipsec"]["inbound"]["bytes"].as_u64();
        assert!(bytes(&second) > bytes(&first));
        let patched = state
            .patch_record("a", &json!({"ipsec": {"state": "none"}}))
            .expect("patched");
        let later = state
            .read(|store, read| store.get("a", read))
            .expect("exists");
        assert_eq!(bytes(&later), bytes(&patched));
    }

    #[test]
    fn patch_can_move_a_record_but_not_onto_another() {
        let state = SimulatorState::new(vec![ipsec("a"), ipsec("b")]).expect("valid");
        assert!(matches!(
            state.patch_record("a", &json!({"uuid": "b"})),
            Err(StateError::DuplicateUuid { .. })
        ));
        state
            .patch_record("a", &json!({"uuid": "z"}))
            .expect("moved");
        assert!(state.record("a").is_none());
        assert!(state.record("z").is_some());
        assert!(matches!(
            state.patch_record("z", &json!({"uuid": null})),
            Err(StateError::InvalidPatch { .. })
        ));
    }

    #[test]
    fn rekey_gives_new_uuid_spis_and_zero_counters() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        let rekeyed = state.rekey_record("a").expect("rekeyed");
        assert_ne!(rekeyed["uuid"], "a");
        assert_eq!(rekeyed["ipsec"]["inbound"]["bytes"], 0);
        assert_ne!(
            rekeyed["ipsec"]["inbound"]["security_parameter_index"],
            "0000abcd"
        );
        assert!(state.record("a").is_none());
        assert_eq!(state.records().len(), 1);
    }

    #[test]
    fn rekey_of_an_ipsec_sa_leaves_its_ike_parameters_alone() {
        let mut record = ipsec("a");
        record["ike"] = json!({"authentication": "psk", "version": 2});
        let state = SimulatorState::new(vec![record]).expect("valid");
        let rekeyed = state.rekey_record("a").expect("rekeyed");
        assert_eq!(
            rekeyed["ike"],
            json!({"authentication": "psk", "version": 2})
        );
        assert_eq!(rekeyed["ipsec"]["inbound"]["bytes"], 0);
    }

    #[test]
    fn last_node_name_follows_uuid_order() {
        let mut first = ipsec("a");
        first["node"] = json!({"name": "n9"});
        let mut last = ipsec("c");
        last["node"] = json!({"name": "n1"});
        let state = SimulatorState::new(vec![last, ipsec("d"), first]).expect("valid");
        assert_eq!(
            state.peek(RecordStore::last_node_name).as_deref(),
            Some("n1")
        );
        assert_eq!(
            SimulatorState::default().peek(RecordStore::last_node_name),
            None
        );
    }

    #[test]
    fn remove_reports_missing_records() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        state.remove_record("a").expect("removed");
        assert_eq!(
            state.remove_record("a").expect_err("gone"),
            StateError::NotFound { uuid: "a".into() }
        );
    }
}
