//! Runs the control plane's helm on the chart and feeds what it renders to the API server.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::support::k8s;

/// The chart under test, relative to the repository root.
pub const CHART: &str = "charts/ontap-ipsec-operator";
/// The helm built with the control plane, relative to the repository root.
pub const HELM: &str = "target/k8s/bin/helm";
/// Field manager of the test's applies, so they never take fields from the operator or kubectl.
pub const FIELD_MANAGER: &str = "ontap-ipsec-operator-chart-test";

pub fn chart_path() -> PathBuf {
    k8s::repo_root().join(CHART)
}

/// Runs helm with `args` and returns its output.
pub fn helm<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(k8s::repo_root().join(HELM))
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run {HELM}: {error}; build it with `make cluster-up`")
        })
}

/// One `helm template` invocation: a release name and namespace, values, and API versions to
/// pretend the cluster serves.
#[derive(Debug, Clone)]
pub struct Render {
    pub release: String,
    pub namespace: String,
    pub values: serde_json::Value,
    pub api_versions: Vec<String>,
}

impl Render {
    pub fn new(release: &str, namespace: &str, values: serde_json::Value) -> Self {
        Self {
            release: release.to_owned(),
            namespace: namespace.to_owned(),
            values,
            api_versions: Vec::new(),
        }
    }

    /// Renders the chart; `Err` carries helm's stderr.
    pub fn try_render(&self) -> Result<String, String> {
        let directory = tempfile::tempdir().expect("a temporary directory can be created");
        let values_file = directory.path().join("values.json");
        std::fs::write(
            &values_file,
            serde_json::to_vec(&self.values).expect("values serialize"),
        )
        .expect("the values file can be written");
        let mut args: Vec<String> = vec![
            "template".into(),
            self.release.clone(),
            chart_path().display().to_string(),
            "--namespace".into(),
            self.namespace.clone(),
            // Without it helm assumes an old Kubernetes and the chart's kubeVersion refuses it.
            "--kube-version".into(),
            k8s::built_kubernetes_version(),
            "--values".into(),
            values_file.display().to_string(),
        ];
        for api_version in &self.api_versions {
            args.push("--api-versions".into());
            args.push(api_version.clone());
        }
        let output = helm(&args);
        if output.status.success() {
            Ok(String::from_utf8(output.stdout).expect("helm prints UTF-8"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    pub fn render(&self) -> String {
        self.try_render()
            .unwrap_or_else(|error| panic!("helm template failed: {error}"))
    }
}

/// The manifest's documents as JSON values (comments and empty documents dropped).
pub fn documents(manifest: &str) -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(manifest)
        .map(|document| serde::Deserialize::deserialize(document).expect("helm renders valid YAML"))
        .filter(|document: &serde_json::Value| !document.is_null())
        .collect()
}

/// `kind` of every document, in order.
pub fn kinds(manifest: &str) -> Vec<String> {
    documents(manifest)
        .iter()
        .map(|document| document["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Pipes `manifest` into kubectl (as the admin) with `args` and returns its output.
pub fn kubectl_with_input(args: &[&str], manifest: &str) -> Output {
    let mut child = k8s::kubectl_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(manifest.as_bytes())
        .expect("kubectl reads the manifest");
    child.wait_with_output().expect("kubectl finishes")
}

/// Server-side apply; with `dry_run` the API server validates and admits but stores nothing.
/// Warnings (such as Pod Security violations) count as errors.
pub fn apply(manifest: &str, dry_run: bool) -> Result<String, String> {
    let mut args = vec![
        "apply",
        "--server-side",
        "--field-manager",
        FIELD_MANAGER,
        "--force-conflicts",
        "--warnings-as-errors",
        "-f",
        "-",
    ];
    if dry_run {
        args.push("--dry-run=server");
    }
    let output = kubectl_with_input(&args, manifest);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
