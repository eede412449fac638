//! What the API server holds for one OntapCluster, compared with what ONTAP holds: counts by
//! uuid, so duplicates, orphans and recreated objects show up.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::ListParams;
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::crd::{
    IpsecSecurityAssociation, LABEL_CLUSTER, OntapCluster, find_condition,
};
use ontap_sim::SimulatorState;

/// Mirrored objects of one cluster, by SA uuid.
#[derive(Debug, Default)]
pub struct Inventory {
    /// How many objects claim each uuid (more than one is a duplicate).
    pub by_uuid: BTreeMap<String, usize>,
    /// Object uid by name, to tell an untouched object from a recreated one.
    pub uids: BTreeMap<String, String>,
    /// Objects without a `Ready` condition.
    pub without_ready: usize,
    /// Objects whose owner is not this OntapCluster.
    pub foreign_owner: usize,
}

impl Inventory {
    /// Reads every object labelled with `cluster` in `api`'s namespace.
    pub async fn read(
        api: &Api<IpsecSecurityAssociation>,
        clusters: &Api<OntapCluster>,
        cluster: &str,
    ) -> Self {
        let owner_uid = clusters
            .get(cluster)
            .await
            .ok()
            .and_then(|object| object.uid())
            .unwrap_or_default();
        let items = api
            .list(&ListParams::default().labels(&format!("{LABEL_CLUSTER}={cluster}")))
            .await
            .expect("list mirrored objects")
            .items;
        let mut inventory = Self::default();
        for item in items {
            *inventory.by_uuid.entry(item.spec.uuid.clone()).or_default() += 1;
            inventory
                .uids
                .insert(item.name_any(), item.uid().unwrap_or_default());
            let has_ready = item
                .status
                .as_ref()
                .is_some_and(|status| find_condition(&status.conditions, "Ready").is_some());
            if !has_ready {
                inventory.without_ready += 1;
            }
            let owned = item
                .owner_references()
                .iter()
                .any(|owner| owner.uid == owner_uid && owner.controller == Some(true));
            if !owned {
                inventory.foreign_owner += 1;
            }
        }
        inventory
    }

    pub fn len(&self) -> usize {
        self.by_uuid.values().sum()
    }

    /// True when the objects are exactly ONTAP's SAs, once each, all judged and owned.
    pub fn matches(&self, ontap: &BTreeSet<String>) -> bool {
        self.by_uuid.keys().cloned().collect::<BTreeSet<_>>() == *ontap
            && self.by_uuid.values().all(|count| *count == 1)
            && self.without_ready == 0
            && self.foreign_owner == 0
    }

    /// A readable difference against ONTAP's SAs, for assertion messages.
    pub fn describe_against(&self, ontap: &BTreeSet<String>) -> String {
        let mirrored: BTreeSet<String> = self.by_uuid.keys().cloned().collect();
        let orphans = mirrored.difference(ontap).count();
        let missing = ontap.difference(&mirrored).count();
        let duplicates = self.by_uuid.values().filter(|count| **count > 1).count();
        format!(
            "{} objects for {} SAs: {orphans} orphans, {missing} missing, {duplicates} duplicated, \
             {} without Ready, {} not owned by the cluster",
            self.len(),
            ontap.len(),
            self.without_ready,
            self.foreign_owner
        )
    }
}

/// The uuids ONTAP holds now.
pub fn ontap_uuids(state: &SimulatorState) -> BTreeSet<String> {
    state
        .records()
        .iter()
        .filter_map(|record| record["uuid"].as_str().map(str::to_owned))
        .collect()
}
