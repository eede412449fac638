//! Reads the Argo CD resource customizations in `integrations/argocd` in Argo CD's own layout:
//! `<group>/<kind>/health.lua` with `health_test.yaml`, and `actions/` with `discovery.lua`,
//! `<action>/action.lua` and `action_test.yaml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::argocd_lua::{HealthStatus, ResourceAction};
use crate::support::k8s::repo_root;

/// Where the customizations live, relative to the repository root.
pub const CUSTOMIZATIONS: &str = "integrations/argocd/resource_customizations";
/// The API group of both kinds, which is also the folder name.
pub const GROUP: &str = "ontap-ipsec.dev";
pub const ONTAP_CLUSTER: &str = "OntapCluster";
pub const SECURITY_ASSOCIATION: &str = "IpsecSecurityAssociation";
pub const HEALTH_SCRIPT: &str = "health.lua";
pub const HEALTH_TESTS: &str = "health_test.yaml";
pub const DISCOVERY_SCRIPT: &str = "actions/discovery.lua";
pub const ACTION_TESTS: &str = "actions/action_test.yaml";
pub const ARGOCD_CM: &str = "integrations/argocd/argocd-cm.yaml";

/// `health_test.yaml`.
#[derive(Debug, Deserialize)]
pub struct HealthTests {
    pub tests: Vec<HealthTest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthTest {
    pub health_status: HealthStatus,
    pub input_path: String,
}

/// `actions/action_test.yaml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTests {
    #[serde(default)]
    pub discovery_tests: Vec<DiscoveryTest>,
    #[serde(default)]
    pub action_tests: Vec<ActionTest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryTest {
    pub input_path: String,
    pub result: Vec<ResourceAction>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTest {
    pub action: String,
    pub input_path: String,
    pub expected_output_path: String,
}

/// The folder of one kind's customizations.
pub fn kind_dir(kind: &str) -> PathBuf {
    repo_root().join(CUSTOMIZATIONS).join(GROUP).join(kind)
}

pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// A YAML file as JSON, the way Argo CD reads test inputs into unstructured objects.
pub fn read_yaml(path: &Path) -> Value {
    serde_norway::from_str(&read_text(path))
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
}

pub fn health_script(kind: &str) -> String {
    read_text(&kind_dir(kind).join(HEALTH_SCRIPT))
}

pub fn health_tests(kind: &str) -> HealthTests {
    let path = kind_dir(kind).join(HEALTH_TESTS);
    serde_norway::from_str(&read_text(&path))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn discovery_script(kind: &str) -> String {
    read_text(&kind_dir(kind).join(DISCOVERY_SCRIPT))
}

pub fn action_script(kind: &str, action: &str) -> String {
    read_text(
        &kind_dir(kind)
            .join("actions")
            .join(action)
            .join("action.lua"),
    )
}

pub fn action_tests(kind: &str) -> ActionTests {
    let path = kind_dir(kind).join(ACTION_TESTS);
    serde_norway::from_str(&read_text(&path))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
