//! The operator binary as a child process, its memory from /proc, its /metrics, and the
//! per-minute sampling of its writes and of the requests the simulators received.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::settings::{
    CLUSTER_STATUS_WRITES_PER_MINUTE, ONTAP_REQUESTS_PER_CLUSTER_MINUTE,
    ONTAP_REQUESTS_PER_PAGED_CLUSTER_MINUTE, RSS_LIMIT_MIB, api_writes_per_minute_bound,
};
use crate::support::k8s;
use crate::world::{World, pause};

pub struct Operator {
    child: Child,
    pub metrics_port: u16,
    pub log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    /// `ontap-ipsec-operator run --namespace NAMESPACE` against the API server of `kubeconfig`,
    /// metrics on a free port, logs (info) in target/test-logs.
    pub fn start(namespace: &str, kubeconfig: &Path) -> Self {
        let metrics_port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let log_dir = k8s::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log = log_dir.join(format!("{namespace}-operator.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ontap-ipsec-operator"))
            .args(["run", "--namespace", namespace])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("operator starts");
        Self {
            child,
            metrics_port,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits up to 30 s; returns how long the exit took and whether it was
    /// clean.
    pub async fn terminate(&mut self) -> (Duration, bool) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.exited() {
                return (started.elapsed(), status.success());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        (started.elapsed(), false)
    }
}

/// `(VmRSS, VmHWM)` of a process in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| {
            line.strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User plus system CPU time of a process, in seconds (clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// `/metrics` of the operator.
pub async fn metrics(port: u16) -> Option<String> {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

/// Every sample of `metric` (a counter, with labels) by its label text.
pub fn samples(text: &str, metric: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Sampling {
    /// KiB.
    pub rss_at_start: u64,
    pub rss_max: u64,
    pub rss_at_end: u64,
    pub hwm: u64,
    pub writes_per_minute: Vec<f64>,
    pub cluster_status_writes_per_minute: Vec<f64>,
    pub ontap_per_minute: Vec<f64>,
    /// The most ONTAP requests one cluster received in a minute, without and with short pages.
    pub ontap_cluster_minute_max: (u64, u64),
    pub cpu_seconds: f64,
    pub writes_at_end: BTreeMap<String, f64>,
}

/// Writes in all, and OntapCluster status writes.
fn writes(text: &str) -> (f64, f64) {
    let samples = samples(text, "ontap_ipsec_api_writes_total");
    let cluster = samples
        .iter()
        .filter(|(labels, _)| labels.contains("kind=\"OntapCluster\""))
        .map(|(_, value)| value)
        .sum();
    (samples.values().sum(), cluster)
}

fn requests(world: &World) -> Vec<u64> {
    world
        .clusters
        .iter()
        .map(|cluster| cluster.state().request_count())
        .collect()
}

/// Samples memory every 2 s, and writes and ONTAP requests at every whole minute, until `done`
/// turns true; ends the soak when one leaves its bound or the operator exits.
pub async fn sample(
    world: Arc<World>,
    pid: u32,
    metrics_port: u16,
    mut done: watch::Receiver<bool>,
) -> Sampling {
    let mut sampling = Sampling::default();
    let (rss, _) = memory_kib(pid).unwrap_or_default();
    sampling.rss_at_start = rss;
    let cpu_at_start = cpu_seconds(pid).unwrap_or_default();
    let mut minute_start = Instant::now();
    let mut writes_before = metrics(metrics_port)
        .await
        .map_or((0.0, 0.0), |text| writes(&text));
    let mut requests_before = requests(&world);
    let limit_kib = RSS_LIMIT_MIB * 1024;
    while !pause(&mut done, Duration::from_secs(2)).await {
        let Some((rss, hwm)) = memory_kib(pid) else {
            world.fail("the operator process is gone".to_owned());
            break;
        };
        sampling.rss_max = sampling.rss_max.max(rss);
        sampling.hwm = sampling.hwm.max(hwm);
        if rss > limit_kib {
            world.fail(format!(
                "{} the operator's resident memory is {:.1} MiB, over the bound of \
                 {RSS_LIMIT_MIB} MiB",
                world.at(Instant::now()),
                rss as f64 / 1024.0
            ));
            break;
        }
        if minute_start.elapsed() < Duration::from_secs(60) {
            continue;
        }
        let Some(text) = metrics(metrics_port).await else {
            continue;
        };
        let now = Instant::now();
        let writes_now = writes(&text);
        let requests_now = requests(&world);
        let all_writes = writes_now.0 - writes_before.0;
        let cluster_writes = writes_now.1 - writes_before.1;
        let all_requests: u64 =
            requests_now.iter().sum::<u64>() - requests_before.iter().sum::<u64>();
        sampling.writes_per_minute.push(all_writes);
        sampling
            .cluster_status_writes_per_minute
            .push(cluster_writes);
        sampling.ontap_per_minute.push(all_requests as f64);
        eprintln!(
            "soak: {} minute {}: {all_writes} API writes ({cluster_writes} OntapCluster), \
             {all_requests} ONTAP requests, RSS {:.1} MiB",
            world.at(now),
            sampling.writes_per_minute.len(),
            rss as f64 / 1024.0
        );
        if all_writes > api_writes_per_minute_bound() as f64 {
            world.fail(format!(
                "{} {all_writes} API writes in one minute, over the bound of {}",
                world.at(now),
                api_writes_per_minute_bound()
            ));
        }
        if cluster_writes > CLUSTER_STATUS_WRITES_PER_MINUTE as f64 {
            world.fail(format!(
                "{} {cluster_writes} OntapCluster status writes in one minute, over the bound \
                 of {CLUSTER_STATUS_WRITES_PER_MINUTE}",
                world.at(now)
            ));
        }
        let book = world.book();
        for (index, (after, before)) in requests_now.iter().zip(&requests_before).enumerate() {
            let count = after - before;
            let paged = book.paged[index]
                .iter()
                .any(|span| span.overlaps(minute_start, now));
            let (bound, max) = if paged {
                (
                    ONTAP_REQUESTS_PER_PAGED_CLUSTER_MINUTE,
                    &mut sampling.ontap_cluster_minute_max.1,
                )
            } else {
                (
                    ONTAP_REQUESTS_PER_CLUSTER_MINUTE,
                    &mut sampling.ontap_cluster_minute_max.0,
                )
            };
            *max = (*max).max(count);
            if count > bound as u64 {
                world.fail(format!(
                    "{} {} received {count} ONTAP requests in one minute, over the bound of \
                     {bound}{}",
                    world.at(now),
                    world.clusters[index].name,
                    if paged {
                        " for a minute with short pages"
                    } else {
                        ""
                    }
                ));
            }
        }
        drop(book);
        minute_start = now;
        writes_before = writes_now;
        requests_before = requests_now;
    }
    sampling.cpu_seconds = cpu_seconds(pid).unwrap_or_default() - cpu_at_start;
    if let Some((rss, hwm)) = memory_kib(pid) {
        sampling.rss_at_end = rss;
        sampling.hwm = sampling.hwm.max(hwm);
    }
    if let Some(text) = metrics(metrics_port).await {
        sampling.writes_at_end = samples(&text, "ontap_ipsec_api_writes_total");
    }
    sampling
}
