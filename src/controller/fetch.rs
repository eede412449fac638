//! The I/O at the start of a poll: read the credentials and CA Secrets, and list the SAs from ONTAP.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::PollError;
use super::settings::ClusterSettings;
use crate::crd::OntapCluster;
use crate::ontap::{
    ClientConfig, ClusterIdentity, Credentials, Listing, OntapClient, OntapError, Secret as Text,
    TlsOptions,
};

/// Secrets of this type hold a client certificate instead of a username and password.
const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
const TLS_CERT_KEY: &str = "tls.crt";
const TLS_PRIVATE_KEY_KEY: &str = "tls.key";

/// The ONTAP client configuration for `cluster`, reading its Secrets now so that rotated
/// credentials are used by the very next poll.
pub async fn client_config(
    secrets: &Api<Secret>,
    cluster: &OntapCluster,
    settings: &ClusterSettings,
    max_security_associations: usize,
) -> Result<ClientConfig, PollError> {
    let spec = &cluster.spec;
    let reference = &spec.credentials_secret_ref;
    let secret = read_secret(secrets, &reference.name).await?;
    let credentials = if secret.type_.as_deref() == Some(TLS_SECRET_TYPE) {
        Credentials::ClientCertificate {
            certificate_pem: secret_bytes(&secret, TLS_CERT_KEY)?.to_vec(),
            private_key_pem: Text::new(secret_text(&secret, TLS_PRIVATE_KEY_KEY)?),
        }
    } else {
        Credentials::Basic {
            username: secret_text(&secret, &reference.username_key)?
                .trim()
                .to_owned(),
            password: Text::new(secret_text(&secret, &reference.password_key)?),
        }
    };
    let mut config = ClientConfig::new(&spec.endpoint, credentials).map_err(PollError::Ontap)?;
    config.timeout = settings.timing.timeout;
    config.limits.max_security_associations = max_security_associations;
    if let Some(tls) = &spec.tls {
        let ca_bundle_pem = match &tls.ca_secret_ref {
            Some(ca) => {
                let secret = read_secret(secrets, &ca.name).await?;
                Some(secret_bytes(&secret, &ca.key)?.to_vec())
            }
            None => None,
        };
        config.tls = TlsOptions {
            ca_bundle_pem,
            server_name: tls.server_name.clone().filter(|name| !name.is_empty()),
            insecure_skip_verify: tls.insecure_skip_verify,
        };
    }
    Ok(config)
}

/// Cluster identity, fetched when a client is new. Custom ONTAP roles may be denied
/// `/api/cluster`; that is not a failure of the poll, only a gap in the status.
pub async fn cluster_identity(ontap: &OntapClient) -> Result<Option<ClusterIdentity>, PollError> {
    match ontap.cluster().await {
        Ok(identity) => {
            if let Some(version) = &identity.version
                && version.lacks_security_association_endpoint()
            {
                return Err(PollError::UnsupportedVersion {
                    version: version.release().unwrap_or_default(),
                });
            }
            Ok(Some(identity))
        }
        Err(OntapError::Forbidden { message, .. } | OntapError::NotFound { message, .. }) => {
            tracing::warn!(%message, "cannot read /api/cluster; the status will lack the ONTAP version");
            Ok(None)
        }
        Err(error) => Err(PollError::Ontap(error)),
    }
}

/// Every SA the selector matches: a complete listing, or an error.
pub async fn security_associations(
    ontap: &OntapClient,
    settings: &ClusterSettings,
) -> Result<Listing, PollError> {
    Ok(ontap.security_associations(&settings.selector).await?)
}

async fn read_secret(secrets: &Api<Secret>, name: &str) -> Result<Secret, PollError> {
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(PollError::SecretNotFound {
            namespace: secrets_namespace(secrets),
            name: name.to_owned(),
        }),
        Err(source) => Err(PollError::SecretRead {
            name: name.to_owned(),
            source,
        }),
    }
}

fn secret_bytes<'a>(secret: &'a Secret, key: &str) -> Result<&'a [u8], PollError> {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|ByteString(bytes)| bytes.as_slice())
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| PollError::SecretKeyMissing {
            namespace: secret.metadata.namespace.clone().unwrap_or_default(),
            name: secret.metadata.name.clone().unwrap_or_default(),
            key: key.to_owned(),
        })
}

fn secret_text(secret: &Secret, key: &str) -> Result<String, PollError> {
    let bytes = secret_bytes(secret, key)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| PollError::SecretKeyMissing {
        namespace: secret.metadata.namespace.clone().unwrap_or_default(),
        name: secret.metadata.name.clone().unwrap_or_default(),
        key: format!("{key} (as UTF-8 text)"),
    })
}

fn secrets_namespace(secrets: &Api<Secret>) -> String {
    secrets.namespace().unwrap_or_default().to_owned()
}
