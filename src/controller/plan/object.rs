//! The object part of a plan: name, labels, owner reference and spec, compared with the API
//! server's copy so that only a difference is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::sa_status::desired_status;
use super::{Owner, StatusPolicy};
use crate::controller::labels::label_value;
use crate::controller::mirrored::Mirrored;
use crate::controller::source::MirrorSource;
use crate::crd::{
    ClusterReference, IpsecSecurityAssociation, IpsecSecurityAssociationSpec,
    IpsecSecurityAssociationStatus, LABEL_CLUSTER, LABEL_MANAGED_BY, LABEL_NETWORK, LABEL_NODE,
    LABEL_POLICY, LABEL_REMOTE_ADDRESS, LABEL_SVM, LABEL_TYPE, MANAGED_BY,
};
use crate::ontap::health::{self, Verdict};
use crate::ontap::model::{self, SecurityAssociation};

/// One SA of a complete listing: its verdict, for the cluster's summary and the metrics, and
/// whatever the API server lacks of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub name: String,
    /// The SA's `Ready` verdict.
    pub ready: Verdict,
    pub record: SecurityAssociation,
    /// `None` when the API server already holds this state, as in a steady-state poll. The
    /// object and status are built to compare and then dropped, so 10,000 unchanged SAs cost
    /// their records and no more.
    pub write: Option<Box<Write>>,
}

/// What one SA needs written.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Metadata (name, labels, owner reference) and spec, when the object is new or they
    /// differ from the API server's copy.
    pub object: Option<IpsecSecurityAssociation>,
    /// Written whenever it differs, and after every object write: a created object has none.
    pub status: IpsecSecurityAssociationStatus,
}

pub(super) fn desired_object(
    owner: &Owner,
    source: &MirrorSource,
    name: String,
    record: SecurityAssociation,
    existing: &HashMap<String, Arc<Mirrored>>,
    policy: StatusPolicy,
) -> DesiredObject {
    let current = existing.get(&name).map(Arc::as_ref);
    let owner_reference = owner.owner_reference();
    let mut object = IpsecSecurityAssociation::new(
        &name,
        IpsecSecurityAssociationSpec {
            cluster_ref: ClusterReference {
                name: owner.cluster.name.clone(),
            },
            uuid: record.uuid.clone(),
        },
    );
    object.metadata = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(owner.cluster.namespace.clone()),
        labels: Some(labels(owner, source, &record)),
        owner_references: Some(vec![owner_reference.clone()]),
        ..ObjectMeta::default()
    };
    let ready = health::ready(&record);
    let status = desired_status(source.network, &record, current, &ready, policy);
    let write_object = policy.rewrite_everything
        || current.is_none_or(|current| {
            let labels = object.metadata.labels.as_ref();
            !current.holds_object(
                labels.unwrap_or(&BTreeMap::new()),
                &object.spec,
                &owner_reference,
            )
        });
    let write_status = policy.rewrite_everything
        || write_object
        || current.is_none_or(|current| !current.holds_status(&status));
    DesiredObject {
        name,
        ready,
        record,
        write: write_status.then(|| {
            Box::new(Write {
                object: write_object.then_some(object),
                status,
            })
        }),
    }
}

fn labels(
    owner: &Owner,
    source: &MirrorSource,
    record: &SecurityAssociation,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
    labels.insert(LABEL_CLUSTER.to_owned(), label_value(&owner.cluster.name));
    labels.insert(LABEL_NETWORK.to_owned(), source.network.as_str().to_owned());
    let optional = [
        (
            LABEL_TYPE,
            record
                .sa_type
                .as_ref()
                .map(model::SecurityAssociationType::as_str),
        ),
        (
            LABEL_NODE,
            record.node.as_ref().and_then(|node| node.name.as_deref()),
        ),
        (
            LABEL_SVM,
            record.svm.as_ref().and_then(|svm| svm.name.as_deref()),
        ),
        (LABEL_POLICY, record.policy_name.as_deref()),
        (LABEL_REMOTE_ADDRESS, record.remote_address.as_deref()),
    ];
    for (key, value) in optional {
        if let Some(value) = value.map(label_value).filter(|value| !value.is_empty()) {
            labels.insert(key.to_owned(), value);
        }
    }
    labels
}
