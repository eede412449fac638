//! The operator binary as a child process with its own metrics port and log file.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::k8s;
use crate::support::wait;

pub struct OperatorProcess {
    pub child: Child,
    pub metrics_port: u16,
    /// `/healthz` and `/readyz` (`--health-addr`).
    pub health_port: u16,
    pub log: std::path::PathBuf,
}

/// Two distinct free ports: both listeners are held until both ports are known.
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("a free port");
    let (first, second) = (bind(), bind());
    let port = |listener: &TcpListener| listener.local_addr().expect("an address").port();
    (port(&first), port(&second))
}

/// Starts tried before giving up when another process takes a chosen port first.
const START_ATTEMPTS: u32 = 3;

impl OperatorProcess {
    /// Starts `ontap-ipsec-operator run` for `namespace`, optionally with leader election.
    pub fn start(namespace: &str, identity: &str, leader_elect: bool) -> Self {
        let mut extra = vec![];
        if leader_elect {
            extra = vec!["--leader-elect", "--lease-namespace", namespace];
        }
        Self::start_with_kubeconfig(
            namespace,
            identity,
            &k8s::default_admin_kubeconfig_path(),
            &extra,
        )
    }

    /// Starts `ontap-ipsec-operator run --namespace NAMESPACE EXTRA...` with `kubeconfig`.
    pub fn start_with_kubeconfig(
        namespace: &str,
        identity: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        Self::start_with_environment(namespace, identity, kubeconfig, extra, &[])
    }

    /// Starts it as `start_with_kubeconfig` does, with these environment variables too.
    pub fn start_with_environment(
        namespace: &str,
        identity: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
        environment: &[(&str, &str)],
    ) -> Self {
        for attempt in 1..=START_ATTEMPTS {
            let started = Self::spawn(namespace, identity, kubeconfig, extra, environment);
            // A port chosen free can be taken by another process before the operator binds
            // it; the operator then exits at once, saying so. Choose again.
            std::thread::sleep(Duration::from_millis(500));
            let lost_port = std::fs::read_to_string(&started.log)
                .is_ok_and(|log| log.contains("Address already in use"));
            if !lost_port || attempt == START_ATTEMPTS {
                return started;
            }
        }
        unreachable!("the last attempt returns")
    }

    fn spawn(
        namespace: &str,
        identity: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
        environment: &[(&str, &str)],
    ) -> Self {
        let (metrics_port, health_port) = free_ports();
        let log_dir = k8s::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log = log_dir.join(format!("{namespace}-{identity}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ontap-ipsec-operator"));
        command
            .args(["run", "--namespace", namespace, "--instance", identity])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,ontap_ipsec_operator=debug")
            // The allocator's settings come from the test, never from the shell that runs it.
            .env_remove("MIMALLOC_PURGE_DELAY")
            .env_remove("MIMALLOC_ARENA_EAGER_COMMIT")
            .envs(environment.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command.spawn().expect("operator starts");
        Self {
            child,
            metrics_port,
            health_port,
            log,
        }
    }

    /// GETs `path` over plain HTTP: `/metrics` from the metrics port, anything else from the
    /// health port.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let port = if path == "/metrics" {
            self.metrics_port
        } else {
            self.health_port
        };
        self.get_from(port, path).await
    }

    /// GETs `path` from `port` over plain HTTP.
    pub async fn get_from(&self, port: u16, path: &str) -> Option<(u16, String)> {
        ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
        let url = format!("http://127.0.0.1:{port}{path}");
        let response = reqwest::get(url).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .map(|(_, text)| text)
            .unwrap_or_default()
    }

    pub async fn wait_ready(&self) {
        wait::until(Duration::from_secs(60), "readyz", || async {
            matches!(self.get("/readyz").await, Some((200, _)))
        })
        .await;
    }

    /// Sends SIGTERM and waits for the exit, returning how long it took.
    pub fn terminate(&mut self) -> Duration {
        let started = std::time::Instant::now();
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("operator exits");
        assert!(
            exit.success(),
            "clean exit after SIGTERM: {exit:?}; log {}",
            self.log.display()
        );
        started.elapsed()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of the first sample of `metric` whose labels contain every `label="value"` pair.
pub fn sample(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// How many samples of `metric` mention `label="value"`.
pub fn count(text: &str, metric: &str, label: (&str, &str)) -> usize {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| line.contains(&format!("{}=\"{}\"", label.0, label.1)))
        .count()
}
