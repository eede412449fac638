//! The API server killed and started again while the operator runs: the operator survives,
//! reconnects, and what ONTAP changed meanwhile reaches the mirror. This runs on a control plane
//! of its own, since restarting the shared one would break every other test running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube::config::Kubeconfig;
use ontap_ipsec_operator::sim;
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::process::OperatorProcess;
use crate::support::k8s;
use crate::support::wait;

/// Longer than a poll interval (10 s), so polls and the watches fail while it is down.
const DOWN_FOR: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_survives_an_api_server_restart_and_mirrors_what_changed_meanwhile() {
    let mut plane = PrivateControlPlane::up("k8s-restart");
    plane.kubectl(&["apply", "--server-side", "-f", "crds/crds.yaml"]);
    plane.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ontapclusters.ontap-ipsec.dev",
        "crd/ipsecsecurityassociations.ontap-ipsec.dev",
    ]);
    let kubeconfig = Kubeconfig::read_from(plane.kubeconfig()).expect("kubeconfig");
    let client = k8s::client_for(kubeconfig).await;
    let records = sim::generate(2, 5);
    let harness = Harness::new_with_client(client, "apiserver-restart", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    let mut operator =
        OperatorProcess::start_with_kubeconfig(harness.ns(), "restart", plane.kubeconfig(), &[]);
    harness.wait_for_mirror(records.len()).await;

    let uuid = |kind: &str| {
        records.iter().find(|r| r["type"] == kind).expect("record")["uuid"]
            .as_str()
            .expect("uuid")
            .to_owned()
    };
    let (down, gone) = (uuid("ike"), uuid("ipsec"));
    let api_server = plane.stop_api_server();
    let state = harness.simulator().state();
    state
        .patch_record(&down, &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    state.remove_record(&gone).expect("removed");
    tokio::time::sleep(DOWN_FOR).await;
    assert!(
        matches!(operator.get("/healthz").await, Some((200, _))),
        "the operator died while the API server was down:\n{}",
        operator.log_text()
    );
    plane.start_api_server(&api_server);

    harness.wait_for_mirror(records.len() - 1).await;
    let down_name = format!("{CLUSTER}-{down}");
    wait::until(
        WAIT,
        "the tunnel that went down meanwhile is not Ready",
        || async {
            harness
                .mirrored()
                .get(&down_name)
                .await
                .ok()
                .and_then(|object| object.status)
                .and_then(|status| {
                    ontap_ipsec_operator::crd::find_condition(&status.conditions, "Ready").cloned()
                })
                .is_some_and(|ready| ready.status == "False")
        },
    )
    .await;
    let names: Vec<String> = harness
        .list_mirrored()
        .await
        .into_iter()
        .filter_map(|object| object.metadata.name)
        .collect();
    assert!(!names.contains(&format!("{CLUSTER}-{gone}")), "{names:?}");
    operator.terminate();
    harness.finish().await;
}

/// A control plane under `target/NAME`, started with `tests/k8s/cluster-up.sh` and stopped with
/// `cluster-down.sh` when dropped.
struct PrivateControlPlane {
    state_dir: PathBuf,
    kubeconfig: PathBuf,
    /// A kube-apiserver this test started itself, reaped once cluster-down.sh has stopped it.
    restarted: Option<Child>,
}

/// How a stopped kube-apiserver was started, to start it again the same way.
struct StoppedApiServer {
    argv: Vec<String>,
}

impl PrivateControlPlane {
    fn up(name: &str) -> Self {
        let state_dir = k8s::repo_root().join("target").join(name);
        let output = Self::script("cluster-up.sh", &state_dir)
            .output()
            .expect("cluster-up.sh runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let kubeconfig = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        Self {
            state_dir,
            kubeconfig,
            restarted: None,
        }
    }

    fn script(name: &str, state_dir: &Path) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(k8s::repo_root().join("tests/k8s").join(name))
            .env("K8S_STATE_DIR", state_dir)
            .stdin(Stdio::null());
        command
    }

    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    fn kubectl(&self, args: &[&str]) {
        let output = k8s::kubectl_command()
            .env("KUBECONFIG", &self.kubeconfig)
            .current_dir(k8s::repo_root())
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pid_file(&self) -> PathBuf {
        self.state_dir.join("pids/kube-apiserver.pid")
    }

    /// Kills kube-apiserver (SIGKILL: a crash, and no wait for its graceful drain of the
    /// operator's watches), leaving etcd and the controller manager running.
    fn stop_api_server(&self) -> StoppedApiServer {
        let pid = std::fs::read_to_string(self.pid_file()).expect("pid file");
        let pid = pid.trim();
        let argv: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
            .expect("cmdline")
            .split(|byte| *byte == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        let stopped = Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .expect("kill runs");
        assert!(stopped.success());
        for _ in 0..200 {
            // Gone, or a zombie: cluster-up.sh started it detached, so nobody here reaps it.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if state.is_empty() || zombie {
                return StoppedApiServer { argv };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kube-apiserver {pid} did not stop within 20 s");
    }

    /// Starts kube-apiserver again with the same arguments and waits until it is ready.
    fn start_api_server(&mut self, stopped: &StoppedApiServer) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.state_dir.join("logs/kube-apiserver.log"))
            .expect("log file");
        let child = Command::new(&stopped.argv[0])
            .args(&stopped.argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("kube-apiserver starts");
        // cluster-down.sh stops what the pid file names.
        std::fs::write(self.pid_file(), child.id().to_string()).expect("pid file");
        self.restarted = Some(child);
        for _ in 0..600 {
            let ready = k8s::kubectl_command()
                .env("KUBECONFIG", &self.kubeconfig)
                .args(["get", "--raw", "/readyz"])
                .output()
                .is_ok_and(|output| output.status.success());
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("kube-apiserver not ready 150 s after its restart");
    }
}

impl Drop for PrivateControlPlane {
    fn drop(&mut self) {
        let _ = Self::script("cluster-down.sh", &self.state_dir).output();
        if let Some(mut child) = self.restarted.take() {
            let _ = child.wait();
        }
    }
}
