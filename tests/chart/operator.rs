//! The operator binary run as a child process with a ServiceAccount's kubeconfig, as the chart's
//! Deployment runs it, with its log kept for assertions.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OPERATOR: &str = env!("CARGO_BIN_EXE_ontap-ipsec-operator");
/// A stopping operator lets in-flight polls finish; a few seconds is plenty here.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Variables the operator reads that must come from the test, not from the caller's shell.
const CLEARED_ENV: [&str; 12] = [
    "METRICS_ADDR",
    "METRICS_AUTH",
    "METRICS_CERT_DIR",
    "HEALTH_ADDR",
    "LEADER_ELECT",
    "LEASE_NAMESPACE",
    "LEASE_NAME",
    "WATCH_NAMESPACE",
    "MAX_CONCURRENT_POLLS",
    "LOG_FORMAT",
    "POD_NAME",
    "POD_NAMESPACE",
];

pub struct OperatorProcess {
    child: Child,
    /// `/metrics` (`--metrics-addr`) on 127.0.0.1.
    pub metrics_port: u16,
    /// `/healthz` and `/readyz` (`--health-addr`) on 127.0.0.1.
    pub health_port: u16,
    log: PathBuf,
    _directory: tempfile::TempDir,
}

impl OperatorProcess {
    /// Starts `ontap-ipsec-operator run <args>` with `kubeconfig` and the extra `env`.
    pub fn start(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let directory = tempfile::Builder::new()
            .prefix("operator-")
            .tempdir()
            .expect("a temporary directory can be created");
        let log = directory.path().join("operator.log");
        let file = File::create(&log).expect("the log file can be created");
        let (metrics_port, health_port) = (free_port(), free_port());
        let mut command = Command::new(OPERATOR);
        command
            .arg("run")
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .args(["--crd-wait-seconds", "30"])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn,ontap_ipsec_operator=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file can be shared"))
            .stderr(file);
        for name in CLEARED_ENV {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {OPERATOR}: {error}"));
        Self {
            child,
            metrics_port,
            health_port,
            log,
            _directory: directory,
        }
    }

    /// Everything the operator has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test with the log if the operator has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the operator exited with {status}:\n{}", self.log());
        }
    }

    /// SIGTERM (a graceful stop, as the kubelet does), then SIGKILL if it does not exit in time;
    /// returns the log.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.log()
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Log lines in which the API server refused the operator something.
pub fn forbidden_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.to_ascii_lowercase().contains("forbidden"))
        .collect()
}
