//! The operator under test: the release binary run as a child process for one namespace, its
//! `/metrics`, and its peak memory and CPU time from `/proc`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::support::proc_stats::{self, Process};
use crate::support::report::repo_root;

const BINARY: &str = env!("CARGO_BIN_EXE_ontap-ipsec-operator");
const LOG_DIR: &str = "target/bench-logs";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Allocator settings the benchmark's own environment must not pass on: a variant sets its own.
const ALLOCATOR_ENVIRONMENT: [&str; 3] = ["MIMALLOC_", "MALLOC_", "GLIBC_TUNABLES"];

/// Which binary runs, and the allocator settings in its environment.
#[derive(Debug, Clone)]
pub struct Program {
    /// Names the log file.
    pub label: &'static str,
    pub binary: PathBuf,
    pub environment: Vec<(&'static str, &'static str)>,
}

impl Default for Program {
    /// The release binary cargo built for this benchmark, as it is.
    fn default() -> Self {
        Self {
            label: "default",
            binary: PathBuf::from(BINARY),
            environment: Vec::new(),
        }
    }
}

/// How the operator writes: only what differs (the product) or everything on every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Product,
    /// The naive baseline: `--bench-apply-everything`.
    ApplyEverything,
}

/// A running operator.
pub struct Operator {
    child: Child,
    metrics_port: u16,
    /// `/healthz` and `/readyz` (`--health-addr`).
    health_port: u16,
    http: reqwest::Client,
    pub log: PathBuf,
}

/// The operator's own counters, summed over the clusters of its namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct OperatorSnapshot {
    pub successful_polls: f64,
    pub failed_polls: f64,
    pub writes: f64,
    /// Reconciles that failed on a write to the API server.
    pub failed_writes: f64,
    pub ontap_requests: f64,
    pub poll_seconds: f64,
    pub poll_count: f64,
    pub cpu: Duration,
}

impl OperatorSnapshot {
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            successful_polls: self.successful_polls - earlier.successful_polls,
            failed_polls: self.failed_polls - earlier.failed_polls,
            writes: self.writes - earlier.writes,
            failed_writes: self.failed_writes - earlier.failed_writes,
            ontap_requests: self.ontap_requests - earlier.ontap_requests,
            poll_seconds: self.poll_seconds - earlier.poll_seconds,
            poll_count: self.poll_count - earlier.poll_count,
            cpu: self.cpu.saturating_sub(earlier.cpu),
        }
    }
}

impl Operator {
    /// Starts `ontap-ipsec-operator run --namespace NAMESPACE` and waits for `/readyz`.
    pub async fn start(
        namespace: &str,
        kubeconfig: &Path,
        mode: Mode,
        program: &Program,
    ) -> anyhow::Result<Self> {
        let metrics_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let health_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_dir = repo_root().join(LOG_DIR);
        std::fs::create_dir_all(&log_dir)?;
        let log =
            log_dir.join(format!("{namespace}-{mode:?}-{}.log", program.label).to_lowercase());
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(&program.binary);
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy().to_uppercase();
            if ALLOCATOR_ENVIRONMENT
                .iter()
                .any(|prefix| text.starts_with(prefix))
            {
                command.env_remove(&name);
            }
        }
        command
            .args(["run", "--namespace", namespace, "--instance", "bench"])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .envs(program.environment.iter().copied());
        if mode == Mode::ApplyEverything {
            command.arg("--bench-apply-everything");
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.binary.display()))?;
        let operator = Self {
            child,
            metrics_port,
            health_port,
            http: reqwest::Client::new(),
            log,
        };
        operator.wait_ready().await?;
        Ok(operator)
    }

    fn pid(&self) -> Process {
        Process::Pid(self.child.id())
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        // /metrics on the metrics port; /healthz and /readyz on the health port.
        let port = if path == "/metrics" {
            self.metrics_port
        } else {
            self.health_port
        };
        let url = format!("http://127.0.0.1:{port}{path}");
        let response = self.http.get(url).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.get("/readyz").await, Some((200, _))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "the operator was not ready within {READY_TIMEOUT:?}; see {}",
            self.log.display()
        )
    }

    /// Scrapes `/metrics`, then reads the CPU time.
    pub async fn snapshot(&self) -> anyhow::Result<OperatorSnapshot> {
        let (_, text) = self
            .get("/metrics")
            .await
            .context("the operator's /metrics does not answer")?;
        let mut snapshot = parse(&text);
        snapshot.cpu = proc_stats::cpu_time(self.pid()).unwrap_or_default();
        Ok(snapshot)
    }

    /// CPU time so far.
    pub fn cpu(&self) -> Duration {
        proc_stats::cpu_time(self.pid()).unwrap_or_default()
    }

    /// Resident set now.
    pub fn rss(&self) -> u64 {
        proc_stats::rss(self.pid()).unwrap_or_default()
    }

    /// Peak resident set since the process started.
    pub fn peak_rss(&self) -> u64 {
        proc_stats::peak_rss(self.pid()).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (in-flight polls finish first).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            let _ = self.child.kill();
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // Stopped already, or the benchmark failed: make sure no operator outlives it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sums the samples of `metric` whose labels hold every `key="value"` of `labels`.
fn sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let prefix = format!("{metric}{{");
    text.lines()
        .filter(|line| line.starts_with(&prefix) || line.starts_with(&format!("{metric} ")))
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn parse(text: &str) -> OperatorSnapshot {
    let polls = sum(text, "ontap_ipsec_polls_total", &[]);
    let successful_polls = sum(text, "ontap_ipsec_polls_total", &[("outcome", "success")]);
    OperatorSnapshot {
        successful_polls,
        failed_polls: polls - successful_polls,
        writes: sum(text, "ontap_ipsec_api_writes_total", &[]),
        failed_writes: sum(text, "ontap_ipsec_reconcile_errors_total", &[]),
        ontap_requests: sum(text, "ontap_ipsec_ontap_requests_total", &[]),
        poll_seconds: sum(text, "ontap_ipsec_poll_duration_seconds_sum", &[]),
        poll_count: sum(text, "ontap_ipsec_poll_duration_seconds_count", &[]),
        cpu: Duration::ZERO,
    }
}
