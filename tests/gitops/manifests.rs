//! Reads the example manifests in `integrations/` and checks them against the API server with a
//! server-side dry run, which runs the same validation and admission as a real apply.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::support::k8s::{self, repo_root};

pub const WORKLOADS: &str = "integrations/workloads";
pub const FLUX: &str = "integrations/flux";
pub const KEDA: &str = "integrations/keda";
pub const ARGO_EVENTS: &str = "integrations/argo-events";

pub fn path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// Every YAML document in `file`, as JSON.
pub fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: {error}", file.display()))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// The YAML files directly in `relative`, sorted.
pub fn yaml_files(relative: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path(relative))
        .unwrap_or_else(|error| panic!("cannot list {relative}: {error}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

/// `kubectl apply --server-side --dry-run=server` of `file` into `namespace`; the combined output
/// on failure.
pub fn server_dry_run(file: &Path, namespace: &str) -> Result<String, String> {
    let output = k8s::kubectl([
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=gitops-test",
        "--namespace",
        namespace,
        "-f",
        &file.display().to_string(),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// The command (`command` followed by `args`) of the container or init container `name` in the
/// pod template of a Job or Deployment.
pub fn container_command(workload: &Value, name: &str) -> Vec<String> {
    let pod = &workload["spec"]["template"]["spec"];
    let container = ["initContainers", "containers"]
        .iter()
        .filter_map(|list| pod[list].as_array())
        .flatten()
        .find(|container| container["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"));
    ["command", "args"]
        .iter()
        .filter_map(|key| container[key].as_array())
        .flatten()
        .map(|word| word.as_str().expect("command words are strings").to_owned())
        .collect()
}
