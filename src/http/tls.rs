//! The certificate `/metrics` is served with over HTTPS: `tls.crt` and `tls.key` from a directory
//! (a mounted Secret, re-read when it changes), or a self-signed one generated at start, as
//! controller-runtime does when it is given none.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate file in `--metrics-cert-dir`, as in a `kubernetes.io/tls` Secret.
pub const CERTIFICATE_FILE: &str = "tls.crt";
/// The private key file in `--metrics-cert-dir`.
pub const KEY_FILE: &str = "tls.key";
/// How often `--metrics-cert-dir` is read again for a renewed certificate.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// Common name of the self-signed certificate.
const SELF_SIGNED_NAME: &str = "ontap-ipsec-operator-metrics";
const HTTP_1_1: &[u8] = b"http/1.1";

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// Generated at start, valid for `localhost`, `127.0.0.1`, `::1` and these extra names.
    SelfSigned { names: Vec<String> },
    /// `tls.crt` and `tls.key` in this directory, re-read every [`RELOAD_INTERVAL`].
    Directory(PathBuf),
}

/// Why the serving certificate could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the self-signed metrics certificate")]
    Generate(#[from] rcgen::Error),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("the metrics certificate and key do not fit together or are unsupported")]
    Key(#[source] rustls::Error),
    #[error("cannot build the metrics TLS configuration")]
    Config(#[from] rustls::Error),
}

/// The rustls configuration serving HTTP/1.1 with the certificate from `source`.
pub async fn server_config(source: CertificateSource) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = match source {
        CertificateSource::SelfSigned { names } => {
            let (certificate_pem, key_pem) = self_signed(&names)?;
            let key = certified_key(
                certificate_pem.as_bytes(),
                key_pem.as_bytes(),
                Path::new("<generated>"),
            )?;
            tracing::info!("serving /metrics with a self-signed certificate generated at start");
            Arc::new(Resolver(RwLock::new(Arc::new(key))))
        }
        CertificateSource::Directory(directory) => {
            let (certificate, key) = read_pair(&directory).await?;
            let current = certified_key(&certificate, &key, &directory)?;
            let resolver = Arc::new(Resolver(RwLock::new(Arc::new(current))));
            tokio::spawn(reload(directory, resolver.clone(), (certificate, key)));
            resolver
        }
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.alpn_protocols = vec![HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate and its key, PEM, for `localhost`, the loopback addresses and `names`.
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let mut all = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    all.extend(names.iter().filter(|name| !name.is_empty()).cloned());
    let mut params = CertificateParams::new(all)?;
    params
        .distinguished_name
        .push(DnType::CommonName, SELF_SIGNED_NAME);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let certificate = params.self_signed(&key)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl Resolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, key: CertifiedKey) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Re-reads the directory every [`RELOAD_INTERVAL`]; a changed, usable pair replaces the one in
/// use (cert-manager and kubelet Secret updates), an unusable one is logged and skipped.
async fn reload(directory: PathBuf, resolver: Arc<Resolver>, mut last: (Vec<u8>, Vec<u8>)) {
    loop {
        tokio::time::sleep(RELOAD_INTERVAL).await;
        let pair = match read_pair(&directory).await {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(error = %error, "keeping the current metrics certificate");
                continue;
            }
        };
        if pair == last {
            continue;
        }
        match certified_key(&pair.0, &pair.1, &directory) {
            Ok(key) => {
                resolver.replace(key);
                tracing::info!(directory = %directory.display(), "metrics certificate reloaded");
                last = pair;
            }
            Err(error) => {
                tracing::warn!(error = %error, "keeping the current metrics certificate");
            }
        }
    }
}

async fn read_pair(directory: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |name: &str| {
        let path = directory.join(name);
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|source| TlsError::Read { path, source })
        }
    };
    Ok((read(CERTIFICATE_FILE).await?, read(KEY_FILE).await?))
}

fn certified_key(
    certificate_pem: &[u8],
    key_pem: &[u8],
    origin: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| TlsError::Pem {
            path: origin.join(CERTIFICATE_FILE),
            what: "certificate",
        })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::Pem {
        path: origin.join(KEY_FILE),
        what: "private key",
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(TlsError::Key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_is_usable_and_names_the_extra_hosts() {
        let (certificate, key) =
            self_signed(&["operator.example.svc".to_owned()]).expect("generates");
        certified_key(certificate.as_bytes(), key.as_bytes(), Path::new("x"))
            .expect("its own pair fits");
    }

    #[test]
    fn a_mismatched_or_garbage_pair_is_an_error() {
        let (certificate, _) = self_signed(&[]).expect("generates");
        let (_, other_key) = self_signed(&[]).expect("generates");
        assert!(
            certified_key(certificate.as_bytes(), other_key.as_bytes(), Path::new("x")).is_err()
        );
        assert!(certified_key(b"nope", b"nope", Path::new("x")).is_err());
    }

    #[tokio::test]
    async fn a_directory_without_the_files_fails_at_start() {
        let directory = tempfile::tempdir().expect("tempdir");
        let error = server_config(CertificateSource::Directory(directory.path().to_owned()))
            .await
            .expect_err("no files");
        assert!(error.to_string().contains(CERTIFICATE_FILE), "{error}");
    }
}
