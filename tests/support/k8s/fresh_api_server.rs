//! A second kube-apiserver over the shared etcd with a key prefix of its own: a fresh cluster
//! whose CRDs a test may change, or whose API server a test may kill and start again, without
//! touching the shared one.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube::Client;
use kube::config::Kubeconfig;

use super::{client_for, default_admin_kubeconfig_path, kubectl_command, repo_root};
use crate::support::wait;

pub struct FreshApiServer {
    child: Child,
    port: u16,
    etcd_prefix: String,
    pub kubeconfig: tempfile::NamedTempFile,
}

impl Drop for FreshApiServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl FreshApiServer {
    /// Starts one on a free port and waits until it is ready.
    pub async fn start() -> Self {
        let (_, shared_port) = ports();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let etcd_prefix = format!("/registry-fresh-{}", uuid::Uuid::new_v4().simple());
        let admin =
            std::fs::read_to_string(default_admin_kubeconfig_path()).expect("admin kubeconfig");
        let kubeconfig = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            kubeconfig.path(),
            admin.replace(
                &format!("127.0.0.1:{shared_port}"),
                &format!("127.0.0.1:{port}"),
            ),
        )
        .expect("write");
        let server = Self {
            child: spawn(port, &etcd_prefix),
            port,
            etcd_prefix,
            kubeconfig,
        };
        server.wait_ready().await;
        server
    }

    /// A client of this API server.
    pub async fn client(&self) -> Client {
        client_for(Kubeconfig::read_from(self.kubeconfig.path()).expect("kubeconfig")).await
    }

    /// Runs the control plane's kubectl against this API server, from the repository root, and
    /// fails the test when it fails.
    pub fn kubectl(&self, args: &[&str]) {
        let output = kubectl_command()
            .env("KUBECONFIG", self.kubeconfig.path())
            .current_dir(repo_root())
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Kills the process (SIGKILL, as in a crash); what it stored stays in etcd.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the API server again on the same port over the same data, and waits until it is
    /// ready.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.etcd_prefix);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let path = self.kubeconfig.path().to_owned();
        wait::until(
            Duration::from_secs(120),
            "second kube-apiserver ready",
            || {
                let path = path.clone();
                async move {
                    kubectl_command()
                        .env("KUBECONFIG", &path)
                        .args(["get", "--raw", "/readyz"])
                        .output()
                        .is_ok_and(|output| output.status.success())
                }
            },
        )
        .await;
    }
}

/// The shared control plane's etcd client port and kube-apiserver port.
fn ports() -> (String, String) {
    let ports = std::fs::read_to_string(repo_root().join("target/k8s/ports.env"))
        .expect("control plane is up");
    let read = |key: &str| {
        ports
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in ports.env"))
            .to_owned()
    };
    (read("ETCD_CLIENT_PORT"), read("APISERVER_PORT"))
}

/// kube-apiserver on `port`, storing under `etcd_prefix` of the shared etcd, with the shared
/// control plane's certificates; its log (appended across restarts) is in target/test-logs.
fn spawn(port: u16, etcd_prefix: &str) -> Child {
    let root = repo_root();
    let pki = root.join("target/k8s/pki");
    let (etcd_port, _) = ports();
    let pki_file = |name: &str| -> PathBuf { pki.join(name) };
    let log_dir = root.join("target/test-logs");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("fresh-apiserver-{port}.log")))
        .expect("log");
    Command::new(root.join("target/k8s/bin/kube-apiserver"))
        .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .arg(format!("--etcd-prefix={etcd_prefix}"))
        .args([
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
        ])
        .arg(format!("--secure-port={port}"))
        .arg(format!(
            "--tls-cert-file={}",
            pki_file("kube-apiserver.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            pki_file("kube-apiserver.key").display()
        ))
        .arg(format!("--client-ca-file={}", pki_file("ca.crt").display()))
        .arg(format!("--service-account-issuer=https://127.0.0.1:{port}"))
        .arg(format!(
            "--service-account-key-file={}",
            pki_file("service-account.pub").display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki_file("service-account.key").display()
        ))
        .args([
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
        ])
        .args([
            "--disable-admission-plugins=ServiceAccount",
            "--profiling=false",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("kube-apiserver starts")
}
