//! Connects integration tests to the local control plane that `make cluster-up` starts.

mod fresh_api_server;
mod namespace;
mod service_account;

// Re-exported so tests write `support::k8s::TestNamespace`; a target may not use every one.
#[allow(unused_imports)]
pub use fresh_api_server::FreshApiServer;
#[allow(unused_imports)]
pub use namespace::{TEST_NAMESPACE_LABEL, TestNamespace};
#[allow(unused_imports)]
pub use service_account::{
    ServiceAccountKubeconfig, service_account_kubeconfig, service_account_token,
    service_account_user,
};

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, Output};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where `tests/k8s/cluster-up.sh` writes the admin kubeconfig, relative to the repository root.
pub const ADMIN_KUBECONFIG: &str = "target/k8s/admin.kubeconfig";
/// The kubectl built with the control plane, relative to the repository root.
pub const KUBECTL: &str = "target/k8s/bin/kubectl";
/// The Go module whose `require` line names the Kubernetes release the control plane is built from.
pub const CONTROL_PLANE_GO_MOD: &str = "tests/k8s/control-plane/go.mod";
const KUBERNETES_MODULE: &str = "k8s.io/kubernetes";
const KUBECONFIG_ENV: &str = "KUBECONFIG";
const START_HINT: &str = "start the local control plane with `make cluster-up`";

/// The repository root, so paths work whatever directory cargo runs the tests from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `KUBECONFIG` when it is set and not empty; otherwise the tests use [`ADMIN_KUBECONFIG`].
fn kubeconfig_env() -> Option<OsString> {
    std::env::var_os(KUBECONFIG_ENV).filter(|value| !value.is_empty())
}

/// The admin kubeconfig file the tests use when `KUBECONFIG` is not set.
pub fn default_admin_kubeconfig_path() -> PathBuf {
    repo_root().join(ADMIN_KUBECONFIG)
}

/// The admin kubeconfig: from `KUBECONFIG` (merged like kubectl does) or [`ADMIN_KUBECONFIG`].
pub fn admin_kubeconfig() -> Kubeconfig {
    if let Some(paths) = kubeconfig_env() {
        Kubeconfig::read()
            .unwrap_or_else(|error| panic!("cannot read KUBECONFIG={}: {error}", paths.display()))
    } else {
        let path = default_admin_kubeconfig_path();
        Kubeconfig::read_from(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}; {START_HINT}", path.display()))
    }
}

/// Makes ring the process-wide rustls provider; a provider installed earlier is kept.
pub fn install_crypto_provider() {
    // `Err` only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client from a kubeconfig, checked to reach its API server so an absent control plane fails
/// the test with a hint instead of a connection error deep inside it.
pub async fn client_for(kubeconfig: Kubeconfig) -> Client {
    install_crypto_provider();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|error| panic!("unusable kubeconfig: {error}"));
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .unwrap_or_else(|error| panic!("cannot build a client for {server}: {error}"));
    if let Err(error) = client.apiserver_version().await {
        panic!("kube-apiserver {server} does not answer: {error}; {START_HINT}");
    }
    client
}

/// An admin (`system:masters`) client for the control plane.
pub async fn client() -> Client {
    client_for(admin_kubeconfig()).await
}

/// A command for the control plane's kubectl acting as the admin (unless `KUBECONFIG` says
/// otherwise), for callers that must handle a failure to start it themselves.
pub fn kubectl_command() -> Command {
    let mut command = Command::new(repo_root().join(KUBECTL));
    if kubeconfig_env().is_none() {
        command.env(KUBECONFIG_ENV, default_admin_kubeconfig_path());
    }
    command
}

/// Runs the control plane's kubectl as the admin and returns its output. It blocks the calling
/// thread, which is fine for the short commands tests run.
pub fn kubectl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    kubectl_command()
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {}: {error}; {START_HINT}",
                repo_root().join(KUBECTL).display()
            )
        })
}

/// The Kubernetes release the control plane is built from (`v1.37.2`), read from the `require`
/// line of [`CONTROL_PLANE_GO_MOD`].
pub fn built_kubernetes_version() -> String {
    let path = repo_root().join(CONTROL_PLANE_GO_MOD);
    let go_mod = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    go_mod
        .lines()
        .filter(|line| !line.contains("=>"))
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(KUBERNETES_MODULE))
                .then(|| words.next())
                .flatten()
        })
        .unwrap_or_else(|| panic!("{} requires no {KUBERNETES_MODULE}", path.display()))
        .to_owned()
}

/// Applies `crds/crds.yaml` (forcing ownership, since every test target applies it) and waits until
/// both CRDs are served.
pub fn apply_crds() {
    let output = kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "crds/crds.yaml",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let established = kubectl([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ontapclusters.ontap-ipsec.dev",
        "crd/ipsecsecurityassociations.ontap-ipsec.dev",
    ]);
    assert!(
        established.status.success(),
        "{}",
        String::from_utf8_lossy(&established.stderr)
    );
}
