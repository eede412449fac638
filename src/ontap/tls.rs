//! Builds the rustls configuration for one ONTAP endpoint: trust roots, name override,
//! opt-in skip of verification, and client-certificate authentication.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::config::{Credentials, TlsOptions};
use super::error::OntapError;

/// The one crypto provider of the whole binary.
#[must_use]
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default so every rustls user (kube, reqwest) agrees.
pub fn install_default_crypto_provider() {
    // Err means a default is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The rustls client configuration for `tls` and `credentials`.
pub fn client_tls_config(
    tls: &TlsOptions,
    credentials: &Credentials,
) -> Result<rustls::ClientConfig, OntapError> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| OntapError::Config(format!("TLS setup: {error}")))?;

    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyCertificate { provider })
    } else {
        let roots = Arc::new(trust_roots(tls.ca_bundle_pem.as_deref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|error| OntapError::Config(format!("TLS trust roots: {error}")))?;
        match &tls.server_name {
            Some(name) => Arc::new(VerifyAsName {
                name: ServerName::try_from(name.clone()).map_err(|_| {
                    OntapError::Config(format!("serverName {name:?} is not a DNS name or IP"))
                })?,
                inner: webpki,
            }),
            None => webpki,
        }
    };

    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match credentials {
        Credentials::Basic { .. } => Ok(builder.with_no_client_auth()),
        Credentials::ClientCertificate {
            certificate_pem,
            private_key_pem,
        } => {
            let chain = parse_certificates(certificate_pem, "client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(private_key_pem.expose().as_bytes())
                .map_err(|error| OntapError::Config(format!("client key: {error}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| OntapError::Config(format!("client certificate: {error}")))
        }
    }
}

/// Roots from a PEM bundle when given, otherwise the system's trust store.
fn trust_roots(ca_bundle_pem: Option<&[u8]>) -> Result<RootCertStore, OntapError> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = ca_bundle_pem {
        for certificate in parse_certificates(pem, "CA bundle")? {
            roots
                .add(certificate)
                .map_err(|error| OntapError::Config(format!("CA bundle: {error}")))?;
        }
    } else {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(OntapError::Config(
                "no system trust roots found; give a CA bundle".into(),
            ));
        }
    }
    Ok(roots)
}

fn parse_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, OntapError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| OntapError::Config(format!("{what}: {error}")))?;
    if certificates.is_empty() {
        return Err(OntapError::Config(format!(
            "{what} holds no PEM certificate"
        )));
    }
    Ok(certificates)
}

/// Verifies the chain as usual but against a configured name instead of the URL's host.
#[derive(Debug)]
struct VerifyAsName {
    name: ServerName<'static>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for VerifyAsName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecureSkipVerify`: any certificate is accepted, but handshake signatures are still
/// checked so the session is at least bound to the presented key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ontap::config::Secret;

    fn basic() -> Credentials {
        Credentials::Basic {
            username: "u".into(),
            password: Secret::new("p"),
        }
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_a_config_error() {
        let tls = TlsOptions {
            ca_bundle_pem: Some(b"not a pem".to_vec()),
            ..TlsOptions::default()
        };
        let error = client_tls_config(&tls, &basic()).expect_err("must fail");
        assert!(error.to_string().contains("CA bundle"), "{error}");
    }

    #[test]
    fn an_invalid_server_name_is_a_config_error() {
        let tls = TlsOptions {
            ca_bundle_pem: None,
            server_name: Some("bad name!".into()),
            insecure_skip_verify: false,
        };
        // System roots may be absent in minimal images; either error names the problem.
        let error = client_tls_config(&tls, &basic()).expect_err("must fail");
        assert!(matches!(error, OntapError::Config(_)), "{error}");
    }
}
