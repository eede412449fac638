//! Makes sure the built-in `view` `ClusterRole` has aggregated the chart's read rules. A real
//! cluster's kube-controller-manager runs the `ClusterRole` aggregation controller; when the local
//! control plane does not, the same controller is started here from the same binary, for the
//! duration of the test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;

use crate::support::k8s;
use crate::support::wait;

const VIEW: &str = "view";
const GROUP: &str = "ontap-ipsec.dev";
const KINDS: [&str; 2] = ["ontapclusters", "ipsecsecurityassociations"];
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
const KUBE_CONTROLLER_MANAGER: &str = "target/k8s/bin/kube-controller-manager";
/// How long to give a running aggregation controller before starting one.
const GRACE: Duration = Duration::from_secs(10);
const AGGREGATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A kube-controller-manager running only the aggregation controller; stopped when dropped.
#[derive(Debug)]
pub struct AggregationController(Child);

impl Drop for AggregationController {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `view` grants get, list and watch on both kinds, starting an aggregation
/// controller if none acts within a few seconds. Keep the returned value until the check is done.
pub async fn ensure_view_includes_ontap_kinds() -> Option<AggregationController> {
    let roles: Api<ClusterRole> = Api::all(k8s::client().await);
    let aggregated = || async { view_reads_ontap_kinds(&roles).await };
    if tokio::time::timeout(GRACE, async {
        while !aggregated().await {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .is_ok()
    {
        return None;
    }
    let child = Command::new(k8s::repo_root().join(KUBE_CONTROLLER_MANAGER))
        .arg(format!(
            "--kubeconfig={}",
            k8s::default_admin_kubeconfig_path().display()
        ))
        .args([
            "--controllers=clusterrole-aggregation-controller",
            "--leader-elect=false",
            "--secure-port=0",
            "--use-service-account-credentials=false",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kube-controller-manager starts");
    let controller = AggregationController(child);
    wait::until(
        AGGREGATION_TIMEOUT,
        "the view ClusterRole to aggregate the chart's rules",
        aggregated,
    )
    .await;
    Some(controller)
}

async fn view_reads_ontap_kinds(roles: &Api<ClusterRole>) -> bool {
    let Ok(view) = roles.get(VIEW).await else {
        return false;
    };
    let view_rules = view.rules.unwrap_or_default();
    KINDS.iter().all(|kind| {
        READ_VERBS.iter().all(|verb| {
            view_rules.iter().any(|rule| {
                rule.api_groups
                    .as_ref()
                    .is_some_and(|groups| groups.iter().any(|g| g == GROUP))
                    && rule
                        .resources
                        .as_ref()
                        .is_some_and(|resources| resources.iter().any(|r| r == kind))
                    && rule.verbs.iter().any(|v| v == verb)
            })
        })
    })
}
