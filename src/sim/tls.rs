//! The simulator's self-signed certificate and rustls server configuration (ring provider).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const LOCALHOST: &str = "localhost";
const HTTP_1_1: &[u8] = b"http/1.1";

/// Why the TLS identity could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the self-signed certificate")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot build the tls server configuration")]
    Config(#[from] rustls::Error),
}

/// A certificate (PEM, for clients to trust) and the server configuration that presents it.
#[derive(Debug)]
pub struct ServerIdentity {
    pub certificate_pem: String,
    pub config: Arc<ServerConfig>,
}

/// A fresh self-signed identity with CN `common_name` and SANs `localhost`, `127.0.0.1` and
/// `listen_ip` (unless unspecified).
pub fn identity(common_name: &str, listen_ip: IpAddr) -> Result<ServerIdentity, TlsError> {
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
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], private_key)?;
    config.alpn_protocols = vec![HTTP_1_1.to_vec()];
    Ok(ServerIdentity {
        certificate_pem: certificate.pem(),
        config: Arc::new(config),
    })
}
