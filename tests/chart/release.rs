//! A release of the chart applied for real into a test namespace, cluster-scoped objects
//! included, and removed again afterwards; CRDs are never part of it.

use kube::Client;
use serde_json::json;

use crate::helm::{self, Render};
use crate::support::k8s::{self, TestNamespace};

/// Cluster-scoped kinds a release may create besides CRDs; cleanup deletes them by release label.
const CLUSTER_SCOPED: &str = "clusterroles.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io,\
validatingadmissionpolicies.admissionregistration.k8s.io,validatingadmissionpolicybindings.admissionregistration.k8s.io";
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const CHART_NAME: &str = "ontap-ipsec-operator";

/// Namespace-scoped values every real apply uses: the CRDs come from `crds/crds.yaml` (as in the
/// other test targets, so two copies never fight over them), and both admission policies bind
/// only to `namespace`, because other tests' operators run as the admin against the same API
/// server.
pub fn base_values(namespace: &str) -> serde_json::Value {
    let only_here = json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}});
    json!({
        "crds": {"enabled": false},
        "readOnlyGuard": {"namespaceSelector": only_here},
        "secretAccessCheck": {"namespaceSelector": only_here},
    })
}

/// Merges `overrides` into `base`, objects key by key.
pub fn merge(base: &mut serde_json::Value, overrides: &serde_json::Value) {
    match (base, overrides) {
        (serde_json::Value::Object(base), serde_json::Value::Object(overrides)) => {
            for (key, value) in overrides {
                merge(
                    base.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
        (base, overrides) => *base = overrides.clone(),
    }
}

/// A release name no other test uses, so cluster-scoped names never collide.
pub fn unique_release() -> String {
    format!("chart-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub struct Release {
    pub client: Client,
    namespace: Option<TestNamespace>,
    pub name: String,
    pub manifest: String,
    cleaned: bool,
}

impl Release {
    /// A fresh namespace with the chart applied into it, the values `overrides(namespace)` returns
    /// merged over [`base_values`].
    pub async fn install(prefix: &str, overrides: impl FnOnce(&str) -> serde_json::Value) -> Self {
        k8s::apply_crds();
        let client = k8s::client().await;
        let namespace = TestNamespace::create(&client, prefix).await;
        let name = unique_release();
        let mut values = base_values(namespace.name());
        merge(&mut values, &overrides(namespace.name()));
        let manifest = Render::new(&name, namespace.name(), values).render();
        assert!(
            !helm::kinds(&manifest)
                .iter()
                .any(|kind| kind == "CustomResourceDefinition"),
            "real applies must not carry CRDs"
        );
        if let Err(error) = helm::apply(&manifest, false) {
            panic!("the release does not apply: {error}");
        }
        Self {
            client,
            namespace: Some(namespace),
            name,
            manifest,
            cleaned: false,
        }
    }

    pub fn ns(&self) -> &str {
        self.namespace
            .as_ref()
            .expect("the namespace exists until cleanup")
            .name()
    }

    /// The operator's ServiceAccount: `<release>-<chart>`.
    pub fn service_account(&self) -> String {
        format!("{}-{CHART_NAME}", self.name)
    }

    /// The `--lease-name=...` argument of the release's Deployment, if it elects a leader.
    pub fn lease_name_arg(&self) -> Option<String> {
        helm::documents(&self.manifest)
            .into_iter()
            .find(|document| document["kind"] == "Deployment")?["spec"]["template"]["spec"]
            ["containers"][0]["args"]
            .as_array()?
            .iter()
            .filter_map(serde_json::Value::as_str)
            .find(|arg| arg.starts_with("--lease-name="))
            .map(str::to_owned)
    }

    /// The user name RBAC and the admission policy see for the operator.
    pub fn operator_user(&self) -> String {
        k8s::service_account_user(self.ns(), &self.service_account())
    }

    /// Deletes the release's cluster-scoped objects and the namespace.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        delete_cluster_scoped(&self.name);
        if let Some(namespace) = self.namespace.take() {
            namespace.cleanup().await;
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if !self.cleaned {
            delete_cluster_scoped(&self.name);
        }
    }
}

fn delete_cluster_scoped(release: &str) {
    let selector = format!("{INSTANCE_LABEL}={release}");
    let output = k8s::kubectl([
        "delete",
        CLUSTER_SCOPED,
        "-l",
        &selector,
        "--ignore-not-found",
        "--wait=false",
    ]);
    if !output.status.success() {
        eprintln!(
            "cannot delete the cluster-scoped objects of release {release}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
}
