//! `/readyz` before and after the CRDs exist. The shared control plane has them installed, so
//! this test starts a second kube-apiserver over the same etcd with its own key prefix: an API
//! server that has never seen the CRDs.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::OperatorProcess;
use crate::support::{k8s, wait};

pub struct FreshApiServer {
    child: Child,
    pub kubeconfig: tempfile::NamedTempFile,
}

impl Drop for FreshApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ports() -> (String, String) {
    let root = k8s::repo_root();
    let ports =
        std::fs::read_to_string(root.join("target/k8s/ports.env")).expect("control plane is up");
    let read = |key: &str| {
        ports
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in ports.env"))
            .to_owned()
    };
    (read("ETCD_CLIENT_PORT"), read("APISERVER_PORT"))
}

/// A second kube-apiserver over the shared etcd with a key prefix of its own: a fresh cluster
/// whose CRDs a test may change without touching the shared one.
pub async fn fresh_api_server() -> FreshApiServer {
    let root = k8s::repo_root();
    let pki = root.join("target/k8s/pki");
    let (etcd_port, shared_port) = ports();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let prefix = format!("/registry-readiness-{}", uuid::Uuid::new_v4().simple());
    let pki_file = |name: &str| pki.join(name).display().to_string();
    let log_dir = root.join("target/test-logs");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log =
        std::fs::File::create(log_dir.join(format!("fresh-apiserver-{port}.log"))).expect("log");
    let child = Command::new(root.join("target/k8s/bin/kube-apiserver"))
        .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .arg(format!("--etcd-prefix={prefix}"))
        .args([
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
        ])
        .arg(format!("--secure-port={port}"))
        .arg(format!(
            "--tls-cert-file={}",
            pki_file("kube-apiserver.crt")
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            pki_file("kube-apiserver.key")
        ))
        .arg(format!("--client-ca-file={}", pki_file("ca.crt")))
        .arg(format!("--service-account-issuer=https://127.0.0.1:{port}"))
        .arg(format!(
            "--service-account-key-file={}",
            pki_file("service-account.pub")
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki_file("service-account.key")
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
        .expect("kube-apiserver starts");
    let admin =
        std::fs::read_to_string(k8s::default_admin_kubeconfig_path()).expect("admin kubeconfig");
    let kubeconfig = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        kubeconfig.path(),
        admin.replace(
            &format!("127.0.0.1:{shared_port}"),
            &format!("127.0.0.1:{port}"),
        ),
    )
    .expect("write");
    let server = FreshApiServer { child, kubeconfig };
    let path = server.kubeconfig.path().display().to_string();
    wait::until(
        Duration::from_secs(120),
        "second kube-apiserver ready",
        || {
            let path = path.clone();
            async move {
                k8s::kubectl_command()
                    .env("KUBECONFIG", &path)
                    .args(["get", "--raw", "/readyz"])
                    .output()
                    .is_ok_and(|output| output.status.success())
            }
        },
    )
    .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_not_ready_before_the_crds_exist_and_ready_after() {
    let server = fresh_api_server().await;
    let kubeconfig = server.kubeconfig.path().to_owned();
    let operator = OperatorProcess::start_with_kubeconfig(
        "default",
        "readiness",
        &kubeconfig,
        &["--crd-wait-seconds", "120"],
    );
    wait::until(Duration::from_secs(30), "readyz answers 503", || async {
        matches!(operator.get("/readyz").await, Some((503, text)) if text.contains("not installed"))
    })
    .await;
    let (_, text) = operator.get("/readyz").await.expect("answers");
    assert!(
        text.contains("kubectl apply --server-side"),
        "says how to install them: {text}"
    );
    assert!(
        matches!(operator.get("/healthz").await, Some((200, _))),
        "alive while not ready"
    );

    let applied = k8s::kubectl_command()
        .env("KUBECONFIG", &kubeconfig)
        .args(["apply", "--server-side", "-f", "crds/crds.yaml"])
        .output()
        .expect("kubectl runs");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    operator.wait_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_make_the_operator_exit_with_how_to_install_them() {
    let server = fresh_api_server().await;
    let mut operator = OperatorProcess::start_with_kubeconfig(
        "default",
        "no-crds",
        server.kubeconfig.path(),
        &["--crd-wait-seconds", "0"],
    );
    let status = operator.child.wait().expect("exits");
    assert!(!status.success());
    let log = operator.log_text();
    assert!(
        log.contains("CustomResourceDefinition is not installed"),
        "{log}"
    );
    assert!(
        log.contains("ontap-ipsec-operator crds | kubectl apply --server-side -f -"),
        "{log}"
    );
}
