//! The I/O at the start of a poll: read the credentials and CA Secrets, and list the SAs from ONTAP.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use zeroize::Zeroizing;

use super::error::PollError;
use super::settings::ClusterSettings;
use super::source::{Decision, MirrorSource};
use crate::crd::OntapCluster;
use crate::ontap::{
    ClientConfig, ClusterIdentity, Credentials, Listing, OntapClient, OntapError, Secret as Text,
    TlsOptions,
};

/// Secrets of this type hold a client certificate instead of a username and password.
const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
const TLS_CERT_KEY: &str = "tls.crt";
const TLS_PRIVATE_KEY_KEY: &str = "tls.key";

/// What the Secrets an OntapCluster names held when they were last read, and which versions of
/// which keys that was: read again only when a version or a reference changes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretMaterial {
    sources: Vec<SecretSource>,
    credentials: Credentials,
    ca_bundle_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SecretMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretMaterial")
            .field("sources", &self.sources)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// One Secret as referenced: its name, the keys read from it, and its `resourceVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretSource {
    name: String,
    keys: Vec<String>,
    resource_version: String,
}

/// The ONTAP client configuration for `cluster`. Every poll asks the API server for the
/// metadata of the Secrets it names, so that a rotated Secret is used by the very next poll;
/// their data is read only when a `resourceVersion` (or the reference) changed since `cached`.
pub async fn client_config(
    secrets: &Api<Secret>,
    cluster: &OntapCluster,
    settings: &ClusterSettings,
    max_security_associations: usize,
    cached: Option<SecretMaterial>,
) -> Result<(ClientConfig, SecretMaterial), PollError> {
    let spec = &cluster.spec;
    let sources = current_sources(secrets, cluster).await?;
    let material = match cached.filter(|material| material.sources == sources) {
        Some(material) => material,
        None => read_material(secrets, cluster).await?,
    };
    let mut config = ClientConfig::new(&spec.endpoint, material.credentials.clone())
        .map_err(PollError::Ontap)?;
    config.timeout = settings.timing.timeout;
    config.limits.max_security_associations = max_security_associations;
    if let Some(tls) = &spec.tls {
        config.tls = TlsOptions {
            ca_bundle_pem: material.ca_bundle_pem.clone(),
            server_name: tls.server_name.clone().filter(|name| !name.is_empty()),
            insecure_skip_verify: tls.insecure_skip_verify,
        };
    }
    Ok((config, material))
}

/// The Secrets `cluster` names, with the keys read from each (not yet their versions).
fn references(cluster: &OntapCluster) -> Vec<(String, Vec<String>)> {
    let spec = &cluster.spec;
    let credentials = &spec.credentials_secret_ref;
    let mut references = vec![(
        credentials.name.clone(),
        vec![
            credentials.username_key.clone(),
            credentials.password_key.clone(),
        ],
    )];
    if let Some(ca) = spec.tls.as_ref().and_then(|tls| tls.ca_secret_ref.as_ref()) {
        references.push((ca.name.clone(), vec![ca.key.clone()]));
    }
    references
}

/// The named Secrets' versions now, from their metadata alone.
async fn current_sources(
    secrets: &Api<Secret>,
    cluster: &OntapCluster,
) -> Result<Vec<SecretSource>, PollError> {
    let mut sources = Vec::new();
    for (name, keys) in references(cluster) {
        let metadata = match secrets.get_metadata_opt(&name).await {
            Ok(Some(metadata)) => metadata,
            Ok(None) => {
                return Err(PollError::SecretNotFound {
                    namespace: secrets_namespace(secrets),
                    name,
                });
            }
            Err(source) => return Err(PollError::SecretRead { name, source }),
        };
        sources.push(SecretSource {
            name,
            keys,
            resource_version: metadata.metadata.resource_version.unwrap_or_default(),
        });
    }
    Ok(sources)
}

/// Reads the named Secrets' data, and zeroes the copies the API server's answer left behind.
async fn read_material(
    secrets: &Api<Secret>,
    cluster: &OntapCluster,
) -> Result<SecretMaterial, PollError> {
    let spec = &cluster.spec;
    let reference = &spec.credentials_secret_ref;
    let mut secret = read_secret(secrets, &reference.name).await?;
    let credentials = if secret.type_.as_deref() == Some(TLS_SECRET_TYPE) {
        Credentials::ClientCertificate {
            certificate_pem: secret_bytes(&secret, TLS_CERT_KEY)?.to_vec(),
            private_key_pem: Text::from(secret_text(&secret, TLS_PRIVATE_KEY_KEY)?),
        }
    } else {
        Credentials::Basic {
            username: secret_text(&secret, &reference.username_key)?
                .trim()
                .to_owned(),
            password: Text::from(secret_text(&secret, &reference.password_key)?),
        }
    };
    let mut sources = vec![source_of(
        &secret,
        &reference.name,
        references(cluster)[0].1.clone(),
    )];
    zero(&mut secret);
    let mut ca_bundle_pem = None;
    if let Some(ca) = spec.tls.as_ref().and_then(|tls| tls.ca_secret_ref.as_ref()) {
        let secret = read_secret(secrets, &ca.name).await?;
        ca_bundle_pem = Some(secret_bytes(&secret, &ca.key)?.to_vec());
        sources.push(source_of(&secret, &ca.name, vec![ca.key.clone()]));
    }
    Ok(SecretMaterial {
        sources,
        credentials,
        ca_bundle_pem,
    })
}

fn source_of(secret: &Secret, name: &str, keys: Vec<String>) -> SecretSource {
    SecretSource {
        name: name.to_owned(),
        keys,
        resource_version: secret.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// Overwrites the values of a Secret read from the API server, once they were copied into
/// types that zero themselves.
fn zero(secret: &mut Secret) {
    use zeroize::Zeroize as _;
    for ByteString(value) in secret.data.iter_mut().flat_map(|data| data.values_mut()) {
        value.zeroize();
    }
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

/// What one mirror source gave in a poll.
#[derive(Debug)]
pub enum SourceListing {
    /// Every record the selector matches: a complete listing.
    Listed(Listing),
    /// The source is off for this cluster: its mirrors go.
    Off,
    /// Wanted but not served; why. Its mirrors stay.
    Unserved(String),
}

/// Lists `source` as `decision` says, for a cluster with `settings`. A source that is not
/// required and that ONTAP refuses (403) or lacks (404) is `Unserved`, not a failed poll.
pub async fn list_source(
    ontap: &OntapClient,
    source: &MirrorSource,
    decision: Decision,
    settings: &ClusterSettings,
) -> Result<SourceListing, PollError> {
    match decision {
        Decision::Off => return Ok(SourceListing::Off),
        Decision::Unserved(why) => return Ok(SourceListing::Unserved(why)),
        Decision::List => {}
    }
    let Some(filters) = source.filters(&settings.selector) else {
        // The selector names SVMs, and this source's records have none.
        return Ok(SourceListing::Listed(Listing {
            records: Vec::new(),
            pages: 0,
        }));
    };
    match ontap.list(source.path, source.fields, &filters).await {
        Ok(listing) => Ok(SourceListing::Listed(listing)),
        Err(OntapError::Forbidden { message, .. }) if !source.required => {
            Ok(SourceListing::Unserved(format!(
                "ONTAP refused to list {} ({message}): grant the user's role read access to it",
                source.path
            )))
        }
        Err(OntapError::NotFound { message, .. }) if !source.required => Ok(
            SourceListing::Unserved(format!("ONTAP does not serve {} ({message})", source.path)),
        ),
        Err(error) => Err(error.into()),
    }
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

fn secret_text(secret: &Secret, key: &str) -> Result<Zeroizing<String>, PollError> {
    let bytes = secret_bytes(secret, key)?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| PollError::SecretKeyMissing {
            namespace: secret.metadata.namespace.clone().unwrap_or_default(),
            name: secret.metadata.name.clone().unwrap_or_default(),
            key: format!("{key} (as UTF-8 text)"),
        })
}

fn secrets_namespace(secrets: &Api<Secret>) -> String {
    secrets.namespace().unwrap_or_default().to_owned()
}
