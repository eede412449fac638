//! What a simulator instance serves: address, TLS, credentials, ONTAP version, cluster and records.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use serde_json::Value;

use super::tls::TlsIdentity;
use super::version::OntapVersion;

pub const DEFAULT_USERNAME: &str = "admin";
pub const DEFAULT_PASSWORD: &str = "netapp1!";
pub const DEFAULT_CLUSTER_NAME: &str = "sim-cluster";

/// Settings for [`start`](super::start).
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// HTTPS with a generated self-signed certificate (true) or plain HTTP.
    pub tls: bool,
    /// HTTP Basic credentials every request must carry.
    pub username: String,
    pub password: String,
    /// The ONTAP release to impersonate; gates the endpoint and version-specific fields.
    pub ontap_version: OntapVersion,
    pub cluster_name: String,
    /// ONTAP-shaped security-association records (objects with a unique string `uuid`).
    pub records: Vec<Value>,
    /// Cluster-network SA records, served from ONTAP 9.19 on (held but not served before).
    pub cluster_network: Vec<Value>,
    /// Certificate and key to present; `None` generates a fresh self-signed pair.
    pub tls_identity: Option<TlsIdentity>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: true,
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            ontap_version: OntapVersion::default(),
            cluster_name: DEFAULT_CLUSTER_NAME.to_owned(),
            records: Vec::new(),
            cluster_network: Vec::new(),
            tls_identity: None,
        }
    }
}

/// Keeps the password and thousands of records out of logs.
impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ontap_version", &self.ontap_version.to_string())
            .field("cluster_name", &self.cluster_name)
            .field("records", &self.records.len())
            .field("cluster_network", &self.cluster_network.len())
            .field("tls_identity", &self.tls_identity.is_some())
            .finish()
    }
}
