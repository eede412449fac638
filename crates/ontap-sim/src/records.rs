//! A handle on one record set: read, replace, insert, patch, remove and rekey its records.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::merge_patch::merge_patch;
use super::record_set::RecordSet;
use super::state::{
    RecordStore, SetState, Shared, StateError, StoredRecord, read_lock, record_uuid, write_lock,
};

/// The records of one [`RecordSet`], shared with the running server.
///
/// Changes are visible to the next request. Get one from
/// [`SimulatorState::security_associations`](super::SimulatorState::security_associations) or
/// [`SimulatorState::cluster_network`](super::SimulatorState::cluster_network).
#[derive(Debug, Clone)]
pub struct Records {
    shared: Arc<Shared>,
    set: RecordSet,
}

impl Records {
    pub(crate) fn new(shared: Arc<Shared>, set: RecordSet) -> Self {
        Self { shared, set }
    }

    fn state(&self) -> &SetState {
        &self.shared.sets[self.set.index()]
    }

    /// Which set this handle changes.
    #[must_use]
    pub fn set(&self) -> RecordSet {
        self.set
    }

    /// Every record in uuid order, with counters as of now.
    #[must_use]
    pub fn records(&self) -> Vec<Value> {
        let read = self.current_read();
        read_lock(&self.state().records)
            .starting_at(None, read)
            .collect()
    }

    /// One record with counters as of now.
    #[must_use]
    pub fn record(&self, uuid: &str) -> Option<Value> {
        read_lock(&self.state().records).get(uuid, self.current_read())
    }

    /// Number of records held.
    #[must_use]
    pub fn len(&self) -> usize {
        read_lock(&self.state().records).len()
    }

    /// True when the set holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `/api/` requests for this set's endpoints so far (collection and instance GETs, also
    /// rejected and faulted ones, and also on releases that do not serve them).
    #[must_use]
    pub fn request_count(&self) -> u64 {
        self.state().requests.load(Ordering::Relaxed)
    }

    /// Replaces the whole set; on error nothing changes.
    pub fn replace_records(&self, records: Vec<Value>) -> Result<(), StateError> {
        let store = RecordStore::from_records(records, self.current_read())?;
        *write_lock(&self.state().records) = store;
        Ok(())
    }

    /// Adds a record, or replaces the one with the same uuid.
    pub fn insert_record(&self, record: Value) -> Result<(), StateError> {
        let uuid = record_uuid(&record, 0)?;
        let read = self.current_read();
        write_lock(&self.state().records)
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
        let mut store = write_lock(&self.state().records);
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
        write_lock(&self.state().records)
            .by_uuid
            .remove(uuid)
            .map(|stored| stored.at(read))
            .ok_or_else(|| StateError::NotFound {
                uuid: uuid.to_owned(),
            })
    }

    /// Simulates a rekey: the SA is replaced by one with a new uuid, new SPIs (written the way
    /// this set writes them) and zeroed counters.
    pub fn rekey_record(&self, uuid: &str) -> Result<Value, StateError> {
        let new_uuid = uuid::Uuid::new_v4().to_string();
        let mut patch = json!({ "uuid": new_uuid });
        let current = self.record(uuid).ok_or_else(|| StateError::NotFound {
            uuid: uuid.to_owned(),
        })?;
        let prefix = self.set.spi_prefix();
        // An `ipsec` SA's `ike` object holds the tunnel's parameters, not IKE SPIs.
        let kind = current.get("type").and_then(Value::as_str);
        if kind != Some("ipsec") && current.get("ike").is_some_and(Value::is_object) {
            patch["ike"] = json!({
                "initiator_security_parameter_index": format!("{prefix}{:016x}", fastrand::u64(..)),
                "responder_security_parameter_index": format!("{prefix}{:016x}", fastrand::u64(..)),
            });
        }
        if kind != Some("ike") && current.get("ipsec").is_some_and(Value::is_object) {
            let direction = || {
                json!({
                    "security_parameter_index": format!("{prefix}{:08x}", fastrand::u32(..)),
                    "bytes": 0,
                    "packets": 0,
                })
            };
            patch["ipsec"] = json!({ "inbound": direction(), "outbound": direction() });
        }
        self.patch_record(uuid, &patch)
    }

    pub(crate) fn count_request(&self) {
        self.state().requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks one read of this set (so counters grow) and runs `view` over its records as of then.
    pub(crate) fn read<T>(&self, view: impl FnOnce(&RecordStore, u64) -> T) -> T {
        let read = self.state().reads.fetch_add(1, Ordering::Relaxed) + 1;
        view(&read_lock(&self.state().records), read)
    }

    /// Runs `view` over the records without counting a read.
    pub(crate) fn peek<T>(&self, view: impl FnOnce(&RecordStore) -> T) -> T {
        view(&read_lock(&self.state().records))
    }

    fn current_read(&self) -> u64 {
        self.state().reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::SimulatorState;

    fn ipsec(uuid: &str) -> Value {
        json!({
            "uuid": uuid, "type": "ipsec",
            "ipsec": {"state": "installed", "inbound": {"bytes": 0, "packets": 0, "security_parameter_index": "0000abcd"}}
        })
    }

    #[test]
    fn counters_grow_per_read_and_patches_freeze_state_changes() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        let first = state
            .security_associations()
            .read(|store, read| store.get("a", read))
            .expect("exists");
        let second = state
            .security_associations()
            .read(|store, read| store.get("a", read))
            .expect("exists");
        let bytes = |record: &Value| record["ipsec"]["inbound"]["bytes"].as_u64();
        assert!(bytes(&second) > bytes(&first));
        let patched = state
            .patch_record("a", &json!({"ipsec": {"state": "none"}}))
            .expect("patched");
        let later = state
            .security_associations()
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
    fn remove_reports_missing_records() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        state.remove_record("a").expect("removed");
        assert_eq!(
            state.remove_record("a").expect_err("gone"),
            StateError::NotFound { uuid: "a".into() }
        );
    }

    #[test]
    fn sets_are_independent_and_cluster_network_rekeys_write_0x_spis() {
        let state = SimulatorState::new(vec![ipsec("a")]).expect("valid");
        let cluster = state.cluster_network();
        cluster.insert_record(ipsec("a")).expect("inserted");
        cluster.remove_record("a").expect("removed");
        assert!(state.record("a").is_some(), "the SA set keeps its record");
        cluster.insert_record(ipsec("b")).expect("inserted");
        let rekeyed = cluster.rekey_record("b").expect("rekeyed");
        assert!(
            rekeyed["ipsec"]["inbound"]["security_parameter_index"]
                .as_str()
                .is_some_and(|spi| spi.starts_with("0x") && spi.len() == 10),
            "{rekeyed}"
        );
        assert_eq!(cluster.len(), 1);
        assert_eq!(state.records().len(), 1);
    }
}
