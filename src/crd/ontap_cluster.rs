//! The `OntapCluster` custom resource: which ONTAP cluster to poll, how, and what the last poll
//! found.
// Doc comments on the resource types become `kubectl explain` text, where Markdown backticks
// would show literally, so field and type names are written plainly.
#![allow(clippy::doc_markdown)]

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::duration::{
    DURATION_MAX_LENGTH, DURATION_PATTERN, ParseDurationError, parse_duration,
};
use crate::crd::security_association::SecurityAssociationType;

/// Annotation that asks for an immediate poll whenever its value changes.
pub const REFRESH_ANNOTATION: &str = "ontap-ipsec.dev/refresh";

/// Default of `spec.pollInterval`.
pub const DEFAULT_POLL_INTERVAL: &str = "60s";
/// Shortest `spec.pollInterval` the API server accepts; the CEL rule below spells the same value.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// Longest `spec.pollInterval`: a day, beyond which nobody would call it monitoring.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Shortest `spec.timeout`: below a second even a healthy ONTAP fails every poll.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest `spec.timeout`: ONTAP itself cuts a page at 120 s (`return_timeout`), so a request
/// still open after five minutes is stalled, and holds a poll slot for nothing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// Shortest non-zero `spec.countersRefreshInterval`: shorter would mean a status write per SA
/// on nearly every poll.
pub const MIN_COUNTERS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Longest `spec.countersRefreshInterval`.
pub const MAX_COUNTERS_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// A whole poll may take this many `spec.timeout`s.
pub const POLL_DEADLINE_TIMEOUTS: u32 = 4;
/// Largest `spec.staleAfter`.
pub const MAX_STALE_AFTER: u32 = 100;
/// Default of `spec.timeout`.
pub const DEFAULT_TIMEOUT: &str = "30s";
/// Default of `spec.countersRefreshInterval`.
pub const DEFAULT_COUNTERS_REFRESH_INTERVAL: &str = "15m";
/// Default of `spec.staleAfter`.
pub const DEFAULT_STALE_AFTER: u32 = 3;
/// Default of `spec.credentialsSecretRef.usernameKey`.
pub const DEFAULT_USERNAME_KEY: &str = "username";
/// Default of `spec.credentialsSecretRef.passwordKey`.
pub const DEFAULT_PASSWORD_KEY: &str = "password";
/// Default of `spec.tls.caSecretRef.key`.
pub const DEFAULT_CA_KEY: &str = "ca.crt";
/// At most this many entries are kept in `status.unhealthyPeers`.
pub const MAX_UNHEALTHY_PEERS: usize = 20;

/// URL scheme ONTAP is normally reached with.
pub const HTTPS_SCHEME: &str = "https";
/// URL scheme allowed only with `allowInsecureHttp`.
pub const HTTP_SCHEME: &str = "http";

/// Longest endpoint URL the schema accepts.
const ENDPOINT_MAX_LENGTH: u32 = 2048;

/// Pattern of a Secret name: a DNS subdomain (RFC 1123), what the API server requires of one.
pub const SECRET_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Longest Secret name: a DNS subdomain.
pub const SECRET_NAME_MAX_LENGTH: u32 = 253;
/// Pattern of a key in a Secret's data, as the API server checks it.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// Longest key in a Secret's data.
pub const SECRET_KEY_MAX_LENGTH: u32 = 253;

/// CEL rule on `spec.endpoint`: an absolute URL with a host.
pub const ENDPOINT_URL_RULE: &str = "isURL(self) && url(self).getHostname() != ''";
/// Message for [`ENDPOINT_URL_RULE`].
pub const ENDPOINT_URL_MESSAGE: &str =
    "endpoint must be an absolute URL with a host, such as https://cluster-mgmt.example.com";
/// CEL rule on `spec`: https, or http only when `allowInsecureHttp` is true.
pub const ENDPOINT_SCHEME_RULE: &str = "self.endpoint.startsWith('https://') || \
     (self.allowInsecureHttp && self.endpoint.startsWith('http://'))";
/// Message for [`ENDPOINT_SCHEME_RULE`].
pub const ENDPOINT_SCHEME_MESSAGE: &str = "endpoint must start with https://; \
     plain http:// is refused unless allowInsecureHttp is true";
/// CEL rule on `spec.pollInterval`.
pub const POLL_INTERVAL_RULE: &str =
    "duration(self) >= duration('10s') && duration(self) <= duration('24h')";
/// Message for [`POLL_INTERVAL_RULE`].
pub const POLL_INTERVAL_MESSAGE: &str = "pollInterval must be between 10s and 24h";
/// CEL rule on `spec.timeout`.
pub const TIMEOUT_RULE: &str =
    "duration(self) >= duration('1s') && duration(self) <= duration('5m')";
/// Message for [`TIMEOUT_RULE`].
pub const TIMEOUT_MESSAGE: &str = "timeout must be between 1s and 5m";
/// CEL rule on `spec.countersRefreshInterval`.
pub const COUNTERS_REFRESH_INTERVAL_RULE: &str = "duration(self) == duration('0s') || \
     (duration(self) >= duration('1m') && duration(self) <= duration('24h'))";
/// Message for [`COUNTERS_REFRESH_INTERVAL_RULE`].
pub const COUNTERS_REFRESH_INTERVAL_MESSAGE: &str =
    "countersRefreshInterval must be 0s (never) or between 1m and 24h";
/// CEL rule on `spec.tls`.
pub const TLS_RULE: &str = "!(has(self.caSecretRef) && self.insecureSkipVerify)";
/// Message for [`TLS_RULE`].
pub const TLS_MESSAGE: &str =
    "set tls.caSecretRef or tls.insecureSkipVerify, not both: skipping verification ignores the CA";

/// Where and how to poll one ONTAP cluster for its IPsec and IKE security associations.
// kube-derive takes one `printcolumn(...)` per column; clippy reads the repeats as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[kube(
    group = "ontap-ipsec.dev",
    version = "v1alpha1",
    kind = "OntapCluster",
    plural = "ontapclusters",
    singular = "ontapcluster",
    namespaced,
    status = "OntapClusterStatus",
    derive = "PartialEq",
    shortname = "ontap",
    category = "ontap-ipsec",
    doc = "OntapCluster points the operator at one NetApp ONTAP cluster. The operator polls the \
           cluster's IPsec and IKE security associations and mirrors each as an \
           IpsecSecurityAssociation in this namespace.",
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.endpoint",
        description = "ONTAP cluster-management endpoint"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "status of the Ready condition: the last poll succeeded"
    ),
    printcolumn(
        name = "Tunnels Healthy",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="TunnelsHealthy")].status"#,
        description = "status of the TunnelsHealthy condition: every mirrored SA is Ready"
    ),
    printcolumn(
        name = "SAs",
        type_ = "integer",
        json_path = ".status.securityAssociations.total",
        description = "security associations mirrored"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.ontap.version",
        description = "ONTAP release",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        description = "reason of the Ready condition",
        priority = 1
    )
)]
#[x_kube(validation = Rule::new(ENDPOINT_SCHEME_RULE)
    .message(ENDPOINT_SCHEME_MESSAGE)
    .field_path(".endpoint"))]
#[schemars(transform = crate::crd::description::rewrap_descriptions)]
#[serde(rename_all = "camelCase")]
pub struct OntapClusterSpec {
    /// Cluster-management URL of the ONTAP cluster, https://host or https://host:port. Plain
    /// http:// is refused unless allowInsecureHttp is true.
    #[schemars(length(min = 1, max = ENDPOINT_MAX_LENGTH))]
    #[x_kube(validation = Rule::new(ENDPOINT_URL_RULE).message(ENDPOINT_URL_MESSAGE))]
    pub endpoint: String,
    /// Allow an http:// endpoint. Credentials then cross the network in clear text: for tests
    /// and simulators only.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Secret in this namespace holding the ONTAP credentials. With keys usernameKey and
    /// passwordKey the operator uses HTTP Basic authentication; a Secret of type
    /// kubernetes.io/tls (keys tls.crt and tls.key) means client-certificate authentication
    /// instead. Read on every poll, so a rotated Secret takes effect without a restart.
    pub credentials_secret_ref: CredentialsSecretReference,
    /// How to trust the endpoint's certificate. Without it the system's trusted roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// Time between polls, as a duration such as 60s, 5m or 1h30m; from 10s to 24h. Each wait
    /// is jittered so many clusters do not poll in step.
    #[serde(default = "default_poll_interval")]
    #[schemars(pattern(DURATION_PATTERN), length(max = DURATION_MAX_LENGTH))]
    #[x_kube(validation = Rule::new(POLL_INTERVAL_RULE).message(POLL_INTERVAL_MESSAGE))]
    pub poll_interval: String,
    /// Time allowed for one request to ONTAP, as a duration such as 30s; from 1s to 5m. A whole
    /// poll may take at most four times as long.
    #[serde(default = "default_timeout")]
    #[schemars(pattern(DURATION_PATTERN), length(max = DURATION_MAX_LENGTH))]
    #[x_kube(validation = Rule::new(TIMEOUT_RULE).message(TIMEOUT_MESSAGE))]
    pub timeout: String,
    /// How often the traffic counters (bytes, packets) of each IpsecSecurityAssociation are
    /// written to its status, as a duration such as 15m. 0s means never. Counters are exported
    /// as metrics on every poll regardless; writing them less often keeps the API server quiet.
    /// From 1m to 24h, or 0s.
    #[serde(default = "default_counters_refresh_interval")]
    #[schemars(pattern(DURATION_PATTERN), length(max = DURATION_MAX_LENGTH))]
    #[x_kube(
        validation = Rule::new(COUNTERS_REFRESH_INTERVAL_RULE).message(COUNTERS_REFRESH_INTERVAL_MESSAGE)
    )]
    pub counters_refresh_interval: String,
    /// Number of missed polls after which the conditions of the mirrored security associations
    /// turn Unknown (reason ClusterUnreachable): once staleAfter × pollInterval has passed since
    /// the last successful poll. Mirrored objects are never deleted because a poll failed.
    /// From 1 to 100.
    #[serde(default = "default_stale_after")]
    // The API server knows int32 but warns about schemars' "uint32"; the minimum keeps it unsigned.
    #[schemars(range(min = 1, max = MAX_STALE_AFTER), extend("format" = "int32"))]
    pub stale_after: u32,
    /// Mirror only the security associations that match; sent to ONTAP as query filters.
    /// Within a list any value matches; all given lists must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<SecurityAssociationSelector>,
    /// Stop polling. Mirrored objects are kept as they are; the Ready condition turns False
    /// with reason Suspended.
    #[serde(default)]
    pub suspend: bool,
    /// Mirror the IPsec security associations of the cluster interconnect too (ONTAP 9.19 and
    /// later), labelled ontap-ipsec.dev/network=cluster. Auto: when ONTAP reports 9.19 or later.
    /// Enabled: always; an ONTAP that does not serve them gives Ready=False with reason
    /// ClusterNetworkUnsupported while the data network's SAs are still mirrored. Disabled:
    /// never, and mirrors of the cluster network are deleted.
    #[serde(default)]
    pub cluster_network: ClusterNetwork,
}

/// Whether to mirror the cluster interconnect's IPsec security associations.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterNetwork {
    /// When ONTAP reports 9.19 or later.
    #[default]
    Auto,
    /// Always.
    Enabled,
    /// Never.
    Disabled,
}

fn default_poll_interval() -> String {
    DEFAULT_POLL_INTERVAL.to_owned()
}

fn default_timeout() -> String {
    DEFAULT_TIMEOUT.to_owned()
}

fn default_counters_refresh_interval() -> String {
    DEFAULT_COUNTERS_REFRESH_INTERVAL.to_owned()
}

fn default_stale_after() -> u32 {
    DEFAULT_STALE_AFTER
}

fn default_username_key() -> String {
    DEFAULT_USERNAME_KEY.to_owned()
}

fn default_password_key() -> String {
    DEFAULT_PASSWORD_KEY.to_owned()
}

fn default_ca_key() -> String {
    DEFAULT_CA_KEY.to_owned()
}

/// A Secret in the OntapCluster's namespace holding the ONTAP credentials.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = SECRET_NAME_MAX_LENGTH), pattern(SECRET_NAME_PATTERN))]
    pub name: String,
    /// Key of the user name in the Secret.
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1, max = SECRET_KEY_MAX_LENGTH), pattern(SECRET_KEY_PATTERN))]
    pub username_key: String,
    /// Key of the password in the Secret.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = SECRET_KEY_MAX_LENGTH), pattern(SECRET_KEY_PATTERN))]
    pub password_key: String,
}

impl CredentialsSecretReference {
    /// A reference to the named Secret with the default keys.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            username_key: default_username_key(),
            password_key: default_password_key(),
        }
    }
}

/// How the operator verifies the endpoint's TLS certificate.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[x_kube(validation = Rule::new(TLS_RULE).message(TLS_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Secret in this namespace with the PEM certificate(s) of the CA that signed the ONTAP
    /// certificate (or the self-signed certificate itself). Replaces the system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<CaSecretReference>,
    /// Host name to verify the certificate against, when it differs from the endpoint's host
    /// (for example when the endpoint is an IP address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip certificate verification entirely. Anyone on the path can then read the
    /// credentials: for tests only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A key of a Secret holding PEM CA certificates.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CaSecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = SECRET_NAME_MAX_LENGTH), pattern(SECRET_NAME_PATTERN))]
    pub name: String,
    /// Key of the PEM data in the Secret.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = SECRET_KEY_MAX_LENGTH), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}

impl CaSecretReference {
    /// A reference to the named Secret with the default key `ca.crt`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: default_ca_key(),
        }
    }
}

/// Filters on the security associations to mirror. Empty lists match everything.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecurityAssociationSelector {
    /// SVM names; security associations of cluster scope have no SVM and do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub svms: Vec<String>,
    /// ONTAP node names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub nodes: Vec<String>,
    /// ike, ipsec or both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<SecurityAssociationType>,
    /// ONTAP IPsec policy names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub policies: Vec<String>,
}

/// What the last polls of the ONTAP cluster found.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[schemars(transform = crate::crd::description::rewrap_descriptions)]
#[serde(rename_all = "camelCase")]
pub struct OntapClusterStatus {
    /// The metadata.generation the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (the last poll succeeded and every SA is mirrored), TunnelsHealthy (every mirrored
    /// SA is Ready) and Stalled (an error needs a human: bad credentials, invalid spec, missing
    /// Secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::crd::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Identity of the ONTAP cluster as it reports itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontap: Option<OntapClusterIdentity>,
    /// Counts of the mirrored security associations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_associations: Option<SecurityAssociationCounts>,
    /// Up to 20 security associations that are not Ready, to see at a glance which peers are
    /// down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_UNHEALTHY_PEERS))]
    pub unhealthy_peers: Vec<UnhealthyPeer>,
}

/// The ONTAP cluster's own name, uuid and release.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OntapClusterIdentity {
    /// Cluster name in ONTAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster uuid in ONTAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uuid: Option<String>,
    /// ONTAP release, for example 9.14.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Counts of mirrored security associations.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecurityAssociationCounts {
    /// All mirrored security associations.
    pub total: i64,
    /// Those of type ike.
    pub ike: i64,
    /// Those of type ipsec.
    pub ipsec: i64,
    /// Those whose Ready condition is True.
    pub ready: i64,
    /// Those whose Ready condition is False or Unknown.
    pub not_ready: i64,
}

/// One security association that is not Ready.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UnhealthyPeer {
    /// SVM of the security association; absent for cluster scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svm: Option<String>,
    /// Local address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<String>,
    /// Peer address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// ONTAP IPsec policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// Reason of the security association's Ready condition, for example Connecting.
    pub reason: String,
}

/// Why a spec cannot be used; the message becomes the `InvalidSpec` condition message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `endpoint` is not a URL.
    #[error("endpoint {endpoint:?} is not a valid URL")]
    EndpointNotUrl {
        /// The endpoint as written.
        endpoint: String,
        /// What the URL parser said.
        #[source]
        source: url::ParseError,
    },
    /// `endpoint` has no host.
    #[error("endpoint {endpoint:?} has no host")]
    EndpointWithoutHost {
        /// The endpoint as written.
        endpoint: String,
    },
    /// `endpoint` is http:// without `allowInsecureHttp`, or some other scheme.
    #[error(
        "endpoint {endpoint:?} must start with https:// (plain http:// needs allowInsecureHttp: true)"
    )]
    EndpointScheme {
        /// The endpoint as written.
        endpoint: String,
    },
    /// A duration field cannot be read.
    #[error("{field} is not a valid duration")]
    Duration {
        /// The spec field, for example `pollInterval`.
        field: &'static str,
        /// Why it could not be read.
        #[source]
        source: ParseDurationError,
    },
    /// A timing field is outside the range the CRD allows.
    #[error("{field} {value} is out of range: {allowed}")]
    OutOfRange {
        /// The spec field, for example `pollInterval`.
        field: &'static str,
        /// The value as written.
        value: String,
        /// The range, in words.
        allowed: &'static str,
    },
    /// Both a CA and `insecureSkipVerify` are set.
    #[error("tls.caSecretRef and tls.insecureSkipVerify cannot both be set")]
    TlsConflict,
}

/// The spec's timing fields, read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollTiming {
    /// Time between polls (before jitter).
    pub poll_interval: Duration,
    /// Time allowed for one request to ONTAP.
    pub timeout: Duration,
    /// How often counters are written to SA status; `None` means never (`0s`).
    pub counters_refresh_interval: Option<Duration>,
    /// Missed polls before mirrored SAs turn Unknown.
    pub stale_after: u32,
}

impl PollTiming {
    /// Time since the last successful poll after which mirrored SAs turn Unknown:
    /// `staleAfter × pollInterval`.
    #[must_use]
    pub fn stale_threshold(&self) -> Duration {
        self.poll_interval.saturating_mul(self.stale_after)
    }

    /// Longest a whole poll may take, every page together: four request timeouts, so a
    /// listing that trickles in page after page cannot hold a poll slot for ever.
    #[must_use]
    pub fn poll_deadline(&self) -> Duration {
        self.timeout.saturating_mul(POLL_DEADLINE_TIMEOUTS)
    }
}

impl OntapClusterSpec {
    /// A spec for the given endpoint and credentials Secret, with every other field at its
    /// default.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, credentials_secret_name: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            allow_insecure_http: false,
            credentials_secret_ref: CredentialsSecretReference::new(credentials_secret_name),
            tls: None,
            poll_interval: default_poll_interval(),
            timeout: default_timeout(),
            counters_refresh_interval: default_counters_refresh_interval(),
            stale_after: DEFAULT_STALE_AFTER,
            selector: None,
            suspend: false,
            cluster_network: ClusterNetwork::Auto,
        }
    }

    /// Checks what the API server's schema checks, for objects that reached the operator some
    /// other way (an older CRD, a hand-made object in tests), and returns the timing fields.
    pub fn validate(&self) -> Result<PollTiming, SpecError> {
        self.check_endpoint()?;
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.ca_secret_ref.is_some() && tls.insecure_skip_verify)
        {
            return Err(SpecError::TlsConflict);
        }
        self.poll_timing()
    }

    /// Reads and checks `pollInterval`, `timeout`, `countersRefreshInterval` and `staleAfter`.
    pub fn poll_timing(&self) -> Result<PollTiming, SpecError> {
        let read = |field: &'static str, text: &str| {
            parse_duration(text).map_err(|source| SpecError::Duration { field, source })
        };
        let out_of_range =
            |field: &'static str, value: &str, allowed: &'static str| SpecError::OutOfRange {
                field,
                value: value.to_owned(),
                allowed,
            };
        let poll_interval = read("pollInterval", &self.poll_interval)?;
        if !(MIN_POLL_INTERVAL..=MAX_POLL_INTERVAL).contains(&poll_interval) {
            return Err(out_of_range(
                "pollInterval",
                &self.poll_interval,
                "from 10s to 24h",
            ));
        }
        let timeout = read("timeout", &self.timeout)?;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
            return Err(out_of_range("timeout", &self.timeout, "from 1s to 5m"));
        }
        let counters_refresh_interval = Some(read(
            "countersRefreshInterval",
            &self.counters_refresh_interval,
        )?)
        .filter(|interval| !interval.is_zero());
        if counters_refresh_interval.is_some_and(|interval| {
            !(MIN_COUNTERS_REFRESH_INTERVAL..=MAX_COUNTERS_REFRESH_INTERVAL).contains(&interval)
        }) {
            return Err(out_of_range(
                "countersRefreshInterval",
                &self.counters_refresh_interval,
                "0s, or from 1m to 24h",
            ));
        }
        if !(1..=MAX_STALE_AFTER).contains(&self.stale_after) {
            return Err(out_of_range(
                "staleAfter",
                &self.stale_after.to_string(),
                "from 1 to 100",
            ));
        }
        Ok(PollTiming {
            poll_interval,
            timeout,
            counters_refresh_interval,
            stale_after: self.stale_after,
        })
    }

    fn check_endpoint(&self) -> Result<(), SpecError> {
        let endpoint = || self.endpoint.clone();
        let url = url::Url::parse(&self.endpoint).map_err(|source| SpecError::EndpointNotUrl {
            endpoint: endpoint(),
            source,
        })?;
        let scheme_allowed = url.scheme() == HTTPS_SCHEME
            || (url.scheme() == HTTP_SCHEME && self.allow_insecure_http);
        if !scheme_allowed {
            return Err(SpecError::EndpointScheme {
                endpoint: endpoint(),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SpecError::EndpointWithoutHost {
                endpoint: endpoint(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::{CustomResourceExt, Resource};

    fn spec() -> OntapClusterSpec {
        OntapClusterSpec::new("https://cluster-mgmt.example.com", "ontap-credentials")
    }

    #[test]
    fn names_match_the_design() {
        assert_eq!(OntapCluster::group(&()), crate::crd::GROUP);
        assert_eq!(OntapCluster::version(&()), crate::crd::VERSION);
        assert_eq!(OntapCluster::kind(&()), "OntapCluster");
        assert_eq!(OntapCluster::plural(&()), "ontapclusters");
        assert_eq!(OntapCluster::shortnames(), ["ontap"]);
        let crd = OntapCluster::crd();
        assert_eq!(
            crd.spec.names.categories,
            Some(vec![crate::crd::CATEGORY.to_owned()])
        );
        assert_eq!(crd.spec.scope, "Namespaced");
    }

    #[test]
    fn minimal_spec_reads_with_defaults() {
        let spec: OntapClusterSpec = serde_json::from_value(serde_json::json!({
            "endpoint": "https://cluster-mgmt.example.com",
            "credentialsSecretRef": {"name": "ontap-credentials"}
        }))
        .expect("minimal spec deserialises");
        assert_eq!(spec, self::spec());
        assert_eq!(spec.credentials_secret_ref.username_key, "username");
        assert_eq!(spec.credentials_secret_ref.password_key, "password");
    }

    #[test]
    fn default_timing_is_sixty_thirty_fifteen_three() {
        let timing = spec().validate().expect("default spec is valid");
        assert_eq!(
            timing,
            PollTiming {
                poll_interval: Duration::from_secs(60),
                timeout: Duration::from_secs(30),
                counters_refresh_interval: Some(Duration::from_secs(900)),
                stale_after: 3,
            }
        );
        assert_eq!(timing.stale_threshold(), Duration::from_secs(180));
    }

    #[test]
    fn zero_counters_refresh_interval_means_never() {
        let mut spec = spec();
        spec.counters_refresh_interval = "0s".into();
        let timing = spec.poll_timing().expect("0s is allowed");
        assert_eq!(timing.counters_refresh_interval, None);
    }

    #[test]
    fn poll_interval_below_ten_seconds_is_refused() {
        let mut spec = spec();
        spec.poll_interval = "5s".into();
        assert!(matches!(
            spec.validate(),
            Err(SpecError::OutOfRange {
                field: "pollInterval",
                ..
            })
        ));
        spec.poll_interval = "10s".into();
        assert!(spec.validate().is_ok());
        assert_eq!(parse_duration("10s"), Ok(MIN_POLL_INTERVAL));
    }

    #[test]
    fn unreadable_duration_names_the_field() {
        let mut spec = spec();
        spec.timeout = "30".into();
        let error = spec.validate().expect_err("30 has no unit");
        assert_eq!(error.to_string(), "timeout is not a valid duration");
        assert!(matches!(
            error,
            SpecError::Duration {
                field: "timeout",
                ..
            }
        ));
    }

    #[test]
    fn timing_fields_outside_their_bounds_are_refused() {
        let refused = |change: &dyn Fn(&mut OntapClusterSpec), field: &str| {
            let mut spec = spec();
            change(&mut spec);
            match spec.validate() {
                Err(SpecError::OutOfRange { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: expected out of range, got {other:?}"),
            }
        };
        refused(&|s| s.timeout = "0s".into(), "timeout");
        refused(&|s| s.timeout = "500ms".into(), "timeout");
        refused(&|s| s.timeout = "6m".into(), "timeout");
        refused(&|s| s.poll_interval = "25h".into(), "pollInterval");
        refused(
            &|s| s.counters_refresh_interval = "1ns".into(),
            "countersRefreshInterval",
        );
        refused(
            &|s| s.counters_refresh_interval = "59s".into(),
            "countersRefreshInterval",
        );
        refused(
            &|s| s.counters_refresh_interval = "48h".into(),
            "countersRefreshInterval",
        );
        refused(&|s| s.stale_after = 0, "staleAfter");
        refused(&|s| s.stale_after = 101, "staleAfter");
        let mut edges = spec();
        edges.timeout = "5m".into();
        edges.poll_interval = "24h".into();
        edges.counters_refresh_interval = "1m".into();
        edges.stale_after = 100;
        assert!(edges.validate().is_ok());
    }

    #[test]
    fn plain_http_needs_allow_insecure_http() {
        let mut spec = spec();
        spec.endpoint = "http://127.0.0.1:8080".into();
        assert!(matches!(
            spec.validate(),
            Err(SpecError::EndpointScheme { .. })
        ));
        spec.allow_insecure_http = true;
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        let mut spec = spec();
        spec.endpoint = "ftp://cluster".into();
        assert!(matches!(
            spec.validate(),
            Err(SpecError::EndpointScheme { .. })
        ));
        spec.endpoint = "cluster-mgmt.example.com".into();
        assert!(matches!(
            spec.validate(),
            Err(SpecError::EndpointNotUrl { .. })
        ));
        spec.endpoint = "https://".into();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn ca_and_insecure_skip_verify_conflict() {
        let mut spec = spec();
        spec.tls = Some(TlsSettings {
            ca_secret_ref: Some(CaSecretReference::new("ontap-ca")),
            server_name: None,
            insecure_skip_verify: true,
        });
        assert_eq!(spec.validate(), Err(SpecError::TlsConflict));
    }

    #[test]
    fn schema_carries_defaults_and_rules() {
        let crd = serde_json::to_value(OntapCluster::crd()).expect("crd serialises");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let properties = &spec["properties"];
        assert_eq!(properties["pollInterval"]["default"], "60s");
        assert_eq!(properties["timeout"]["default"], "30s");
        assert_eq!(properties["countersRefreshInterval"]["default"], "15m");
        assert_eq!(properties["staleAfter"]["default"], 3);
        assert_eq!(properties["staleAfter"]["minimum"], 1.0);
        assert_eq!(properties["staleAfter"]["format"], "int32");
        assert_eq!(properties["allowInsecureHttp"]["default"], false);
        assert_eq!(properties["suspend"]["default"], false);
        assert_eq!(
            properties["credentialsSecretRef"]["properties"]["usernameKey"]["default"],
            "username"
        );
        assert_eq!(
            properties["pollInterval"]["x-kubernetes-validations"][0]["rule"],
            POLL_INTERVAL_RULE
        );
        assert_eq!(
            spec["x-kubernetes-validations"][0]["message"],
            ENDPOINT_SCHEME_MESSAGE
        );
        assert_eq!(
            properties["selector"]["properties"]["types"]["items"]["enum"],
            serde_json::json!(["ike", "ipsec"])
        );
        let status =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        assert_eq!(
            status["properties"]["conditions"]["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
        assert_eq!(status["properties"]["unhealthyPeers"]["maxItems"], 20);
    }

    #[test]
    fn secret_names_and_keys_carry_the_kubernetes_patterns_and_lengths() {
        let crd = serde_json::to_value(OntapCluster::crd()).expect("crd serialises");
        let properties = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"];
        let credentials = &properties["credentialsSecretRef"]["properties"];
        let ca = &properties["tls"]["properties"]["caSecretRef"]["properties"];
        for name in [&credentials["name"], &ca["name"]] {
            assert_eq!(name["pattern"], SECRET_NAME_PATTERN);
            assert_eq!(name["maxLength"], 253);
        }
        for key in [
            &credentials["usernameKey"],
            &credentials["passwordKey"],
            &ca["key"],
        ] {
            assert_eq!(key["pattern"], SECRET_KEY_PATTERN);
            assert_eq!(key["maxLength"], 253);
        }
        let name = regex::Regex::new(SECRET_NAME_PATTERN).expect("a valid pattern");
        assert!(name.is_match("ontap-credentials.v2"));
        assert!(
            !name.is_match("Ontap_Credentials") && !name.is_match("-a") && !name.is_match("a.")
        );
        let key = regex::Regex::new(SECRET_KEY_PATTERN).expect("a valid pattern");
        assert!(key.is_match("tls.crt") && key.is_match("_password-1"));
        assert!(!key.is_match("a/b") && !key.is_match(""));
    }
}
