//! The simulator's TLS identity (a self-signed certificate and its key) and the rustls server
//! configuration that presents it (ring provider).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const LOCALHOST: &str = "localhost";
const HTTP_1_1: &[u8] = b"http/1.1";

/// Why the TLS identity could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the self-signed certificate")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot read the {what} pem")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("cannot build the tls server configuration")]
    Config(#[from] rustls::Error),
}

/// A server certificate and its private key, both PEM.
///
/// Take it from a running simulator ([`RunningSimulator::tls_identity`](super::RunningSimulator::tls_identity))
/// and pass it to the next one (`SimulatorConfig::tls_identity`) to restart "the same cluster"
/// with the same certificate, as a real ONTAP keeps its certificate across reboots.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    certificate_pem: String,
    private_key_pem: String,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// An identity from PEM text (checked when a simulator starts with it).
    #[must_use]
    pub fn from_pem(
        certificate_pem: impl Into<String>,
        private_key_pem: impl Into<String>,
    ) -> Self {
        Self {
            certificate_pem: certificate_pem.into(),
            private_key_pem: private_key_pem.into(),
        }
    }

    /// A fresh self-signed identity with CN `common_name` and SANs `localhost`, `127.0.0.1` and
    /// `listen_ip` (unless unspecified).
    pub fn generate(common_name: &str, listen_ip: IpAddr) -> Result<Self, TlsError> {
        let mut names = vec![LOCALHOST.to_owned(), Ipv4Addr::LOCALHOST.to_string()];
        if !listen_ip.is_unspecified() && !names.contains(&listen_ip.to_string()) {
            names.push(listen_ip.to_string());
        }
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        // Strict verifiers (OpenSSL's X509_STRICT, the default from Python 3.13) want these on a
        // self-signed server certificate that is its own trust anchor.
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;
        Ok(Self {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem(),
        })
    }

    /// The certificate, for clients to trust.
    #[must_use]
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The private key, to store the identity (for `ontap-sim --tls-key`).
    #[must_use]
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// The rustls configuration presenting this identity over HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certificates = CertificateDer::pem_slice_iter(self.certificate_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                what: "certificate",
                source,
            })?;
        let key =
            PrivateKeyDer::from_pem_slice(self.private_key_pem.as_bytes()).map_err(|source| {
                TlsError::Pem {
                    what: "private key",
                    source,
                }
            })?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(certificates, key)?;
        config.alpn_protocols = vec![HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_round_trips_through_pem() {
        let identity =
            TlsIdentity::generate("c1", IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("generates");
        assert!(
            identity
                .certificate_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        identity.server_config().expect("its own pem is usable");
        let copy =
            TlsIdentity::from_pem(identity.certificate_pem(), identity.private_key_pem.clone());
        assert_eq!(copy, identity);
    }

    #[test]
    fn garbage_pem_is_an_error_not_a_panic() {
        let identity = TlsIdentity::from_pem("not a certificate", "not a key");
        assert!(identity.server_config().is_err());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let identity = TlsIdentity::from_pem("cert", "secret-key");
        assert!(!format!("{identity:?}").contains("secret-key"));
    }
}
