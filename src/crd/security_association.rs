//! The `IpsecSecurityAssociation` custom resource: a read-only mirror of one ONTAP IPsec or IKE
//! security association.
// Doc comments on the resource types become `kubectl explain` text, where Markdown backticks
// would show literally, so field and type names are written plainly.
#![allow(clippy::doc_markdown)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label on every mirrored SA: the name of its OntapCluster.
pub const LABEL_CLUSTER: &str = "ontap-ipsec.dev/cluster";
/// Label on every mirrored SA: `ike` or `ipsec`.
pub const LABEL_TYPE: &str = "ontap-ipsec.dev/type";
/// Label on every mirrored SA: the ONTAP node that holds it.
pub const LABEL_NODE: &str = "ontap-ipsec.dev/node";
/// Label on mirrored SAs of SVM scope: the SVM name.
pub const LABEL_SVM: &str = "ontap-ipsec.dev/svm";
/// Label on every mirrored SA: the ONTAP IPsec policy name.
pub const LABEL_POLICY: &str = "ontap-ipsec.dev/policy";
/// Label on every mirrored SA: the peer address (IPv6 colons become `-`).
pub const LABEL_REMOTE_ADDRESS: &str = "ontap-ipsec.dev/remote-address";
/// Label on every mirrored SA: the ONTAP network whose IPsec it belongs to, `data` or `cluster`.
pub const LABEL_NETWORK: &str = "ontap-ipsec.dev/network";
/// The well-known label naming the tool that manages an object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`] on mirrored SAs.
pub const MANAGED_BY: &str = "ontap-ipsec-operator";

/// CEL rule that keeps the spec as it was created.
pub const SPEC_IMMUTABLE_RULE: &str = "self == oldSelf";
/// Message the API server returns when someone edits the spec.
pub const SPEC_IMMUTABLE_MESSAGE: &str = "spec is immutable: IpsecSecurityAssociation objects \
     mirror ONTAP and are read-only; change the security association in ONTAP instead";

/// ike or ipsec: the kind of security association, as ONTAP names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SecurityAssociationType {
    /// An IKE (Internet Key Exchange) SA: the control channel that negotiates keys.
    Ike,
    /// An IPsec SA: the data channel that carries protected traffic.
    Ipsec,
}

impl SecurityAssociationType {
    /// ONTAP's name for the type, which is also the label value and the selector value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ike => "ike",
            Self::Ipsec => "ipsec",
        }
    }
}

/// data or cluster: which ONTAP network a security association protects.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The front-end (data) network: LIFs of SVMs and the cluster, to NFS, SMB and iSCSI
    /// clients or other peers.
    Data,
    /// The cluster interconnect between the nodes of the cluster (ONTAP 9.19 and later).
    Cluster,
}

impl Network {
    /// The label and status value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Cluster => "cluster",
        }
    }
}

/// Identity of one ONTAP security association. Written once by the operator when it creates the
/// object; immutable afterwards.
// kube-derive takes one `printcolumn(...)` per column; clippy reads the repeats as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[kube(
    group = "ontap-ipsec.dev",
    version = "v1alpha1",
    kind = "IpsecSecurityAssociation",
    plural = "ipsecsecurityassociations",
    singular = "ipsecsecurityassociation",
    namespaced,
    status = "IpsecSecurityAssociationStatus",
    derive = "PartialEq",
    shortname = "ipsecsa",
    shortname = "isa",
    category = "ontap-ipsec",
    doc = "IpsecSecurityAssociation mirrors one IPsec or IKE security association of an ONTAP \
           cluster. The operator creates, updates and deletes these objects; they are read-only \
           for everyone else.",
    selectable = ".spec.clusterRef.name",
    selectable = ".status.type",
    selectable = ".status.state",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.type",
        description = "ike or ipsec"
    ),
    printcolumn(
        name = "Node",
        type_ = "string",
        json_path = ".status.node.name",
        description = "ONTAP node that holds the security association"
    ),
    printcolumn(
        name = "Local",
        type_ = "string",
        json_path = ".status.localAddress",
        description = "local address"
    ),
    printcolumn(
        name = "Remote",
        type_ = "string",
        json_path = ".status.remoteAddress",
        description = "peer address"
    ),
    printcolumn(
        name = "Policy",
        type_ = "string",
        json_path = ".status.policyName",
        description = "ONTAP IPsec policy"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "IKE or IPsec state as ONTAP reports it"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "status of the Ready condition"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Network",
        type_ = "string",
        json_path = ".status.network",
        description = "data (front-end) or cluster (interconnect)",
        priority = 1
    ),
    printcolumn(
        name = "SVM",
        type_ = "string",
        json_path = ".status.svm.name",
        description = "SVM of the security association (empty for cluster scope)",
        priority = 1
    ),
    printcolumn(
        name = "Cipher",
        type_ = "string",
        json_path = ".status.cipherSuite",
        description = "cipher suite",
        priority = 1
    )
)]
#[x_kube(validation = Rule::new(SPEC_IMMUTABLE_RULE).message(SPEC_IMMUTABLE_MESSAGE))]
#[schemars(transform = crate::crd::description::rewrap_descriptions)]
#[serde(rename_all = "camelCase")]
pub struct IpsecSecurityAssociationSpec {
    /// The OntapCluster (in the same namespace) this security association was read from.
    pub cluster_ref: ClusterReference,
    /// ONTAP's uuid of the security association. A rekey gives the SA a new uuid, and with it a
    /// new object.
    #[schemars(length(min = 1))]
    pub uuid: String,
}

/// A reference to an OntapCluster in the same namespace.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReference {
    /// Name of the OntapCluster.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Everything the operator last observed about the security association, under ONTAP's field
/// names in camelCase. Fields ONTAP did not report are absent.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[schemars(transform = crate::crd::description::rewrap_descriptions)]
#[serde(rename_all = "camelCase")]
pub struct IpsecSecurityAssociationStatus {
    /// data or cluster: the ONTAP network whose IPsec this security association belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// ike or ipsec, as ONTAP reports it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The ONTAP node that holds the security association (the node hosting the LIF with the
    /// local address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<OntapReference>,
    /// The SVM of the security association; absent when the scope is cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<OntapReference>,
    /// svm or cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Name of the ONTAP IPsec policy that created the security association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// Local IPv4 or IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<String>,
    /// Peer IPv4 or IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// Cipher suite, for example suite_aescbc, suiteb_gcm256 or suiteb_gmac256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// Lifetime of the security association in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<i64>,
    /// The IKE state for an ike SA or the IPsec state for an ipsec SA, as ONTAP reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// IKE details; present for ike SAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike: Option<IkeStatus>,
    /// IPsec details; present for ipsec SAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsec: Option<IpsecStatus>,
    /// When the traffic counters under ipsec were read. Counters are written about once per
    /// countersRefreshInterval of the OntapCluster, so they lag the live values (see the metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters_observed_at: Option<Time>,
    /// IkeEstablished (ike SAs) or IpsecInstalled (ipsec SAs), and Ready, which mirrors the one
    /// that applies. All turn Unknown with reason ClusterUnreachable when the OntapCluster has
    /// missed staleAfter polls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::crd::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The metadata.generation the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// An ONTAP object named by both its name and its uuid.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OntapReference {
    /// Name in ONTAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// uuid in ONTAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// IKE details of an ike security association.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IkeStatus {
    /// none, connecting, established or dead_peer_probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// IKE protocol version (ONTAP 9.11.1 and later report 2; earlier releases a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// none, psk or cert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    /// Whether this node started the IKE exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_initiator: Option<bool>,
    /// Security parameter index chosen by the initiator, as ONTAP reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_spi: Option<String>,
    /// Security parameter index chosen by the responder, as ONTAP reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder_spi: Option<String>,
}

/// IPsec details of an ipsec security association.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IpsecStatus {
    /// IPsec state as ONTAP reports it; installed means traffic is protected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// bypass, discard or esp_transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Traffic received under this security association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<IpsecTraffic>,
    /// Traffic sent under this security association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<IpsecTraffic>,
}

/// One direction of an IPsec security association.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IpsecTraffic {
    /// Security parameter index of this direction, as ONTAP reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spi: Option<String>,
    /// Bytes carried, as of countersObservedAt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Packets carried, as of countersObservedAt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::{CustomResourceExt, Resource};

    #[test]
    fn names_match_the_design() {
        assert_eq!(IpsecSecurityAssociation::group(&()), crate::crd::GROUP);
        assert_eq!(IpsecSecurityAssociation::version(&()), crate::crd::VERSION);
        assert_eq!(
            IpsecSecurityAssociation::kind(&()),
            "IpsecSecurityAssociation"
        );
        assert_eq!(
            IpsecSecurityAssociation::plural(&()),
            "ipsecsecurityassociations"
        );
        assert_eq!(IpsecSecurityAssociation::shortnames(), ["ipsecsa", "isa"]);
        let crd = IpsecSecurityAssociation::crd();
        assert_eq!(
            crd.spec.names.categories,
            Some(vec![crate::crd::CATEGORY.to_owned()])
        );
        assert_eq!(crd.spec.scope, "Namespaced");
    }

    #[test]
    fn empty_status_fields_are_not_serialised() {
        let status = IpsecSecurityAssociationStatus {
            type_: Some(SecurityAssociationType::Ike.as_str().to_owned()),
            ike: Some(IkeStatus {
                state: Some("established".into()),
                ..IkeStatus::default()
            }),
            ..IpsecSecurityAssociationStatus::default()
        };
        assert_eq!(
            serde_json::to_value(&status).expect("status serialises"),
            serde_json::json!({"type": "ike", "ike": {"state": "established"}})
        );
    }

    #[test]
    fn status_reads_back_what_it_wrote() {
        let status = IpsecSecurityAssociationStatus {
            type_: Some(SecurityAssociationType::Ipsec.as_str().to_owned()),
            node: Some(OntapReference {
                name: Some("node-1".into()),
                uuid: Some("0f3c".into()),
            }),
            ipsec: Some(IpsecStatus {
                state: Some("installed".into()),
                inbound: Some(IpsecTraffic {
                    spi: Some("c0ffee01".into()),
                    bytes: Some(1024),
                    packets: Some(8),
                }),
                ..IpsecStatus::default()
            }),
            observed_generation: Some(1),
            ..IpsecSecurityAssociationStatus::default()
        };
        let json = serde_json::to_string(&status).expect("status serialises");
        let read: IpsecSecurityAssociationStatus =
            serde_json::from_str(&json).expect("status deserialises");
        assert_eq!(read, status);
    }

    #[test]
    fn spec_carries_the_immutability_rule() {
        let crd = serde_json::to_value(IpsecSecurityAssociation::crd()).expect("crd serialises");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["x-kubernetes-validations"],
            serde_json::json!([{"rule": SPEC_IMMUTABLE_RULE, "message": SPEC_IMMUTABLE_MESSAGE}])
        );
    }

    #[test]
    fn wide_columns_are_network_svm_and_cipher() {
        let crd = IpsecSecurityAssociation::crd();
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .expect("printer columns");
        let names = |wide: bool| -> Vec<String> {
            columns
                .iter()
                .filter(|column| (column.priority.unwrap_or(0) > 0) == wide)
                .map(|column| column.name.clone())
                .collect()
        };
        assert_eq!(
            names(false),
            [
                "Type", "Node", "Local", "Remote", "Policy", "State", "Ready", "Age"
            ]
        );
        assert_eq!(names(true), ["Network", "SVM", "Cipher"]);
    }
}
