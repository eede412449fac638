//! Mints `ServiceAccount` tokens (`TokenRequest` API) and kubeconfigs that carry exactly that identity.

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
use kube::{Api, Client};
use tempfile::TempDir;

/// Long enough for a test or a demo session; the API server may shorten it.
const TOKEN_LIFETIME_SECONDS: i64 = 24 * 60 * 60;
const KUBECONFIG_FILE: &str = "kubeconfig";
const KUBECONFIG_API_VERSION: &str = "v1";
const KUBECONFIG_KIND: &str = "Config";

/// The user name the API server gives a `ServiceAccount`, as RBAC subjects and `--as` spell it.
pub fn service_account_user(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

/// A kubeconfig that authenticates as one `ServiceAccount` with a bearer token, written to a private
/// temporary directory that is removed when this value is dropped — keep it alive as long as a
/// process started with [`ServiceAccountKubeconfig::path`] runs.
pub struct ServiceAccountKubeconfig {
    kubeconfig: Kubeconfig,
    path: PathBuf,
    user: String,
    _directory: TempDir,
}

impl ServiceAccountKubeconfig {
    /// The kubeconfig file, e.g. for `KUBECONFIG=` of a child process or `kubectl --kubeconfig`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kubeconfig itself.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// The `ServiceAccount`'s user name (`system:serviceaccount:<namespace>:<name>`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A client that acts as the `ServiceAccount`.
    pub async fn client(&self) -> Client {
        super::client_for(self.kubeconfig.clone()).await
    }
}

impl fmt::Debug for ServiceAccountKubeconfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The kubeconfig holds a bearer token, so only the user and the file are shown.
        formatter
            .debug_struct("ServiceAccountKubeconfig")
            .field("user", &self.user)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Creates the `ServiceAccount` `namespace/service_account` unless it exists, mints a token for it
/// through the `TokenRequest` API, and writes a kubeconfig with that token and the admin
/// kubeconfig's server and CA. The `ServiceAccount` can then do exactly what RBAC grants it.
pub async fn service_account_kubeconfig(
    client: &Client,
    namespace: &str,
    service_account: &str,
) -> ServiceAccountKubeconfig {
    let token = service_account_token(client, namespace, service_account).await;
    let user = service_account_user(namespace, service_account);
    let kubeconfig = token_kubeconfig(&super::admin_kubeconfig(), &user, namespace, token);
    let directory = tempfile::Builder::new()
        .prefix("service-account-kubeconfig-")
        .tempdir()
        .expect("a temporary directory can be created");
    let path = directory.path().join(KUBECONFIG_FILE);
    // JSON is valid YAML, so kubectl and kube-rs both read this file.
    let json = serde_json::to_vec_pretty(&kubeconfig).expect("a kubeconfig serializes to JSON");
    std::fs::write(&path, json)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    ServiceAccountKubeconfig {
        kubeconfig,
        path,
        user,
        _directory: directory,
    }
}

/// Creates the `ServiceAccount` `namespace/service_account` unless it exists and mints a bearer
/// token for it (the API server's own audience) through the `TokenRequest` API.
pub async fn service_account_token(
    client: &Client,
    namespace: &str,
    service_account: &str,
) -> String {
    let service_accounts = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(service_account.to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match service_accounts
        .create(&PostParams::default(), &account)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_already_exists() => {}
        Err(error) => panic!("cannot create ServiceAccount {namespace}/{service_account}: {error}"),
    }

    let request = TokenRequest {
        // No audiences: the token is for the API server's own audience.
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(TOKEN_LIFETIME_SECONDS),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    service_accounts
        .create_token_request(service_account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot mint a token for {namespace}/{service_account}: {error}")
        })
        .status
        .unwrap_or_else(|| {
            panic!("TokenRequest for {namespace}/{service_account} returned no status")
        })
        .token
}

/// A kubeconfig with the admin's current cluster (server and CA) and a token user.
fn token_kubeconfig(admin: &Kubeconfig, user: &str, namespace: &str, token: String) -> Kubeconfig {
    let current_context = admin
        .current_context
        .as_deref()
        .expect("the admin kubeconfig names a current context");
    let cluster_name = admin
        .contexts
        .iter()
        .find(|context| context.name == current_context)
        .and_then(|context| context.context.as_ref())
        .map_or_else(
            || panic!("the admin kubeconfig has no context {current_context}"),
            |context| context.cluster.clone(),
        );
    let cluster = admin
        .clusters
        .iter()
        .find(|cluster| cluster.name == cluster_name)
        .cloned()
        .unwrap_or_else(|| panic!("the admin kubeconfig has no cluster {cluster_name}"));
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: cluster_name.clone(),
            ..cluster
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.to_owned(),
            auth_info: Some(AuthInfo {
                token: Some(token.into()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: user.to_owned(),
            context: Some(Context {
                cluster: cluster_name,
                user: Some(user.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(user.to_owned()),
        api_version: Some(KUBECONFIG_API_VERSION.to_owned()),
        kind: Some(KUBECONFIG_KIND.to_owned()),
        ..Kubeconfig::default()
    }
}
