//! The soak's figures: printed at the end, and written into the results section of
//! docs/reliability.md after a run without violations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::checks::CheckFigures;
use crate::operator::Sampling;
use crate::settings::{
    CLUSTER_STATUS_WRITES_PER_MINUTE, CLUSTERS, ONTAP_REQUESTS_PER_CLUSTER_MINUTE,
    ONTAP_REQUESTS_PER_PAGED_CLUSTER_MINUTE, POLL_INTERVAL_SECONDS, RSS_LIMIT_MIB, SAS_PER_CLUSTER,
    STALE_AFTER, TIMEOUT_SECONDS, api_writes_per_minute_bound,
};
use crate::support::k8s::repo_root;

pub const RESULTS_FILE: &str = "docs/reliability.md";
const SECTION: &str = "soak";

pub struct Figures {
    pub seed: u64,
    pub planned: Duration,
    pub soaked: Duration,
    pub initial_mirror: Duration,
    pub convergence: Option<Duration>,
    pub sampling: Sampling,
    pub checks: CheckFigures,
    pub faults_by_kind: BTreeMap<&'static str, u32>,
    pub churn_by_kind: BTreeMap<&'static str, u32>,
    pub outages: Vec<Duration>,
    pub ontap_requests: u64,
    pub exit: Option<(Duration, bool)>,
    pub violation: Option<String>,
    pub load_at_start: String,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn max_and_mean(values: &[f64]) -> (f64, f64) {
    let max = values.iter().copied().fold(0.0, f64::max);
    let mean = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    (max, mean)
}

fn list<K: std::fmt::Display, V: std::fmt::Display>(map: &BTreeMap<K, V>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(key, value)| format!("{key} {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Figures {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let s = &self.sampling;
        let (writes_max, writes_mean) = max_and_mean(&s.writes_per_minute);
        let (ontap_max, ontap_mean) = max_and_mean(&s.ontap_per_minute);
        let (legal, illegal) = (self.checks.legal_deletions, self.checks.illegal_deletions);
        let operator_deletes: f64 = s
            .writes_at_end
            .iter()
            .filter(|(labels, _)| labels.contains("verb=\"delete\""))
            .map(|(_, value)| value)
            .sum();
        let by_verb: BTreeMap<String, f64> = s
            .writes_at_end
            .iter()
            .map(|(labels, value)| (labels.replace('"', ""), *value))
            .collect();
        let fault_episodes: u32 = self
            .faults_by_kind
            .iter()
            .filter(|(kind, _)| **kind != "none")
            .map(|(_, count)| count)
            .sum();
        let outage_total: Duration = self.outages.iter().sum();
        let _ = writeln!(out, "## Last soak\n");
        let _ = writeln!(
            out,
            "- date: {}\n- commit: {}\n- machine: {} cores; load average when it started: {}\n\
             - command: `make soak` (`SOAK_MINUTES={}`, `SOAK_SEED={}`)\n\
             - setup: {CLUSTERS} simulated clusters × {SAS_PER_CLUSTER} SAs, pollInterval \
             {POLL_INTERVAL_SECONDS}s, timeout {TIMEOUT_SECONDS}s, staleAfter {STALE_AFTER}; \
             operator built by cargo (debug profile)\n\
             - result: {}\n",
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            crate::machine::commit(),
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            self.load_at_start,
            self.planned.as_secs_f64() / 60.0,
            self.seed,
            self.violation.as_ref().map_or_else(
                || "no invariant violated".to_owned(),
                |violation| format!("VIOLATION: {violation}")
            ),
        );
        let _ = writeln!(out, "| figure | value | bound |\n|---|---:|---:|");
        let mut row = |name: &str, value: String, bound: &str| {
            let _ = writeln!(out, "| {name} | {value} | {bound} |");
        };
        row(
            "time under faults",
            format!("{:.1} min", self.soaked.as_secs_f64() / 60.0),
            "",
        );
        row(
            "first mirror of every SA",
            format!("{:.1} s", self.initial_mirror.as_secs_f64()),
            "",
        );
        row(
            "operator peak RSS (VmHWM)",
            mib(s.hwm),
            &format!("{RSS_LIMIT_MIB} MiB (RSS)"),
        );
        row(
            "operator RSS: after the first mirror / highest sampled / at the end",
            format!(
                "{} / {} / {}",
                mib(s.rss_at_start),
                mib(s.rss_max),
                mib(s.rss_at_end)
            ),
            "",
        );
        row(
            "operator CPU time during the soak",
            format!(
                "{:.0} s ({:.0} % of one core)",
                s.cpu_seconds,
                100.0 * s.cpu_seconds / self.soaked.as_secs_f64().max(1.0)
            ),
            "",
        );
        row(
            "API writes per minute: max / mean",
            format!("{writes_max:.0} / {writes_mean:.1}"),
            &api_writes_per_minute_bound().to_string(),
        );
        let (cluster_writes_max, _) = max_and_mean(&s.cluster_status_writes_per_minute);
        row(
            "OntapCluster status writes per minute: max",
            format!("{cluster_writes_max:.0}"),
            &CLUSTER_STATUS_WRITES_PER_MINUTE.to_string(),
        );
        row(
            "ONTAP requests per minute, all clusters: max / mean",
            format!("{ontap_max:.0} / {ontap_mean:.1}"),
            "",
        );
        row(
            "ONTAP requests of one cluster in a minute: max without / with short pages",
            format!(
                "{} / {}",
                s.ontap_cluster_minute_max.0, s.ontap_cluster_minute_max.1
            ),
            &format!(
                "{ONTAP_REQUESTS_PER_CLUSTER_MINUTE} / {ONTAP_REQUESTS_PER_PAGED_CLUSTER_MINUTE}"
            ),
        );
        row("ONTAP requests in all", self.ontap_requests.to_string(), "");
        row(
            "fault episodes (and calm ones)",
            format!(
                "{fault_episodes} ({} calm)",
                self.faults_by_kind.get("none").copied().unwrap_or(0)
            ),
            "",
        );
        row(
            "API-server outages",
            format!(
                "{} ({:.0} s down in all, from kill to ready)",
                self.outages.len(),
                outage_total.as_secs_f64()
            ),
            "",
        );
        row(
            "record changes",
            self.churn_by_kind.values().sum::<u32>().to_string(),
            "",
        );
        row(
            "deletions seen: legal / illegal",
            format!("{legal} / {illegal}"),
            "0 illegal",
        );
        row(
            "delete requests the operator counted",
            format!("{operator_deletes:.0}"),
            "",
        );
        row(
            "check rounds (skipped while the API server was down or silent)",
            format!("{} ({})", self.checks.rounds, self.checks.skipped),
            "",
        );
        row(
            "conditions checked right",
            self.checks.right.to_string(),
            "",
        );
        row(
            "conditions seen Unknown",
            self.checks.unknown.values().sum::<u64>().to_string(),
            "",
        );
        row(
            "OntapCluster Stalled checks",
            self.checks.cluster_checks.to_string(),
            "never True",
        );
        row(
            "convergence after the last fault",
            self.convergence.map_or_else(
                || "not reached".to_owned(),
                |time| format!("{:.1} s", time.as_secs_f64()),
            ),
            "120 s",
        );
        row(
            "exit on SIGTERM",
            self.exit.map_or_else(
                || "not asked".to_owned(),
                |(time, clean)| {
                    format!(
                        "{:.1} s, {}",
                        time.as_secs_f64(),
                        if clean { "clean" } else { "NOT clean" }
                    )
                },
            ),
            "",
        );
        let _ = writeln!(
            out,
            "\n- fault episodes by kind: {}\n- record changes by kind: {}\n\
             - Unknown conditions by reason: {}\n- mirrors seen before their first status \
             write: {}; mirrors of dropped SAs seen before their prune: {}\n\
             - API writes by kind and verb: {}\n- writes per minute: {}\n\
             - ONTAP requests per minute: {}",
            list(&self.faults_by_kind),
            list(&self.churn_by_kind),
            list(&self.checks.unknown),
            self.checks.without_status,
            self.checks.awaiting_prune,
            list(&by_verb),
            join(&s.writes_per_minute),
            join(&s.ontap_per_minute),
        );
        out
    }

    /// Replaces the results section of docs/reliability.md.
    pub fn write(&self) -> std::io::Result<PathBuf> {
        let path = repo_root().join(RESULTS_FILE);
        let existing =
            std::fs::read_to_string(&path).unwrap_or_else(|_| "# Reliability\n".to_owned());
        let start = format!("<!-- {SECTION}:start -->");
        let end = format!("<!-- {SECTION}:end -->");
        let section = format!("{start}\n{}\n{end}", self.markdown().trim_end());
        let updated = match (existing.find(&start), existing.find(&end)) {
            (Some(from), Some(to)) if to > from => format!(
                "{}{section}{}",
                &existing[..from],
                &existing[to + end.len()..]
            ),
            _ => format!("{}\n\n{section}\n", existing.trim_end()),
        };
        std::fs::write(&path, updated)?;
        Ok(path)
    }
}

fn join(values: &[f64]) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values
        .iter()
        .map(|value| format!("{value:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
