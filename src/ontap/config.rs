//! What an `OntapClient` needs to reach one cluster: endpoint, credentials, TLS trust, timeouts.

use std::fmt;
use std::time::Duration;

use url::Url;
use zeroize::Zeroizing;

use super::error::OntapError;

/// Connect timeout when none is given: enough for a slow management LIF, short enough to fail fast.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Total per-request timeout when none is given; above ONTAP's 15 s `return_timeout` so that
/// ONTAP cuts a slow page short before the client gives up on it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read from ONTAP: about eight times a full page of 500 SAs with every
/// field and link, so a body that never ends costs at most this much memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Most SAs one listing may hold: several times the largest real cluster, so that an endpoint
/// that answers forever cannot grow the operator, the API server and Prometheus without bound.
pub const DEFAULT_MAX_SECURITY_ASSOCIATIONS: usize = 50_000;

/// What one listing may cost at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one response body.
    pub max_response_bytes: usize,
    /// Records of one listing, all pages together.
    pub max_security_associations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_security_associations: DEFAULT_MAX_SECURITY_ASSOCIATIONS,
        }
    }
}

/// Configuration of one ONTAP client; two equal configs can share one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `https://host[:port]` of the cluster-management interface.
    pub endpoint: Url,
    pub credentials: Credentials,
    pub tls: TlsOptions,
    pub connect_timeout: Duration,
    /// Per request, from sending it to the end of the body.
    pub timeout: Duration,
    pub limits: Limits,
}

impl ClientConfig {
    /// A config with default TLS and timeouts. Only `http` and `https` endpoints are accepted;
    /// a path, query or fragment is refused since every request path is ONTAP's own.
    pub fn new(endpoint: &str, credentials: Credentials) -> Result<Self, OntapError> {
        let endpoint = parse_endpoint(endpoint)?;
        Ok(Self {
            endpoint,
            credentials,
            tls: TlsOptions::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            limits: Limits::default(),
        })
    }
}

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic on every request.
    Basic { username: String, password: Secret },
    /// A client certificate whose CN is the ONTAP user; both PEM.
    ClientCertificate {
        certificate_pem: Vec<u8>,
        private_key_pem: Secret,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Self::ClientCertificate { .. } => f.write_str("ClientCertificate"),
        }
    }
}

/// Text that must never reach a log: `Debug` prints a placeholder, and the memory is zeroed
/// when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is sent or parsed.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(value: Zeroizing<String>) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificates to trust instead of the system's roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Name to verify the certificate against instead of the endpoint's host; ONTAP's
    /// self-signed certificates usually name the cluster, not the IP address used to reach it.
    pub server_name: Option<String>,
    /// Accept any certificate. Explicit opt-in only, and warned about.
    pub insecure_skip_verify: bool,
}

fn parse_endpoint(endpoint: &str) -> Result<Url, OntapError> {
    let url = Url::parse(endpoint.trim()).map_err(|error| {
        OntapError::Config(format!("endpoint {endpoint:?} is not a URL: {error}"))
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(OntapError::Config(format!(
            "endpoint {endpoint:?} must start with https://"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(OntapError::Config(format!(
            "endpoint {endpoint:?} has no host"
        )));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(OntapError::Config(format!(
            "endpoint {endpoint:?} must be only scheme, host and port, like https://cluster1.example.com"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OntapError::Config(
            "endpoint must not carry credentials; use the credentials Secret".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic() -> Credentials {
        Credentials::Basic {
            username: "admin".into(),
            password: Secret::new("hunter2"),
        }
    }

    #[test]
    fn endpoint_must_be_scheme_host_and_port_only() {
        assert!(ClientConfig::new("https://10.0.0.1:8443", basic()).is_ok());
        assert!(ClientConfig::new("https://cluster1/", basic()).is_ok());
        for bad in [
            "ftp://x",
            "https://x/api",
            "https://x?a=b",
            "not a url",
            "https://u:p@x",
        ] {
            assert!(
                matches!(ClientConfig::new(bad, basic()), Err(OntapError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let text = format!(
            "{:?}",
            ClientConfig::new("https://x", basic()).expect("valid")
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("admin"));
    }
}
