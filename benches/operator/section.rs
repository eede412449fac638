//! Writes the scenarios' figures as Markdown: first mirror against the bare client, steady
//! state against the naive baseline, state-change latency, and the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::bare_client;
use crate::scenario::{JITTER, Outcome, POLL_INTERVAL, Window};
use crate::support::proc_stats::mebibytes;
use crate::support::report::thousands;
use crate::support::timing::{Summary, ratio};

/// Targets from the scale issue.
const FIRST_MIRROR_RATIO: f64 = 2.0;
const PEAK_RSS_LIMIT: u64 = 150 * 1024 * 1024;
const LATENCY_SLACK: Duration = Duration::from_secs(2);
const STEADY_CPU_LIMIT: Duration = Duration::from_millis(500);
/// The scenario the 10,000-SA targets are judged on.
const LARGE: usize = 10_000;

/// Conditions of the run, gathered by `main`.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub machine: String,
    pub kubernetes: String,
    pub load_after: String,
    pub elapsed: Duration,
    pub sees_processes: bool,
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn rate(objects: usize, duration: Duration) -> String {
    format!("{:.0}/s", objects as f64 / duration.as_secs_f64().max(1e-9))
}

fn per_poll_cpu(window: &Window, cpu: Duration) -> Duration {
    cpu.div_f64(window.polls().max(1.0))
}

fn mean_poll(window: &Window) -> Duration {
    Duration::from_secs_f64(window.operator.poll_seconds / window.operator.poll_count.max(1.0))
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

/// The whole `bench` section.
pub fn render(outcomes: &[Outcome], facts: &RunFacts) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    writeln!(
        out,
        "## Operator on the control plane against the naive design\n"
    )?;
    out.push_str(&facts.machine);
    writeln!(
        out,
        "- Kubernetes: kube-apiserver {} with etcd and kube-controller-manager on this machine \
         (`make cluster-up`)\n\
         - command: `make bench` (`cargo bench --bench operator`), {} in all; load average at the \
         end: {}\n\
         - the operator: the release binary as a process (`ontap-ipsec-operator run --namespace \
         NS`), default `--max-concurrent-polls 8`; every OntapCluster polls every {} (the \
         minimum, jittered by ±{:.0} %), default `countersRefreshInterval` (15m) and `timeout`\n\
         - ONTAP: one in-process `ontap-sim` per cluster over HTTPS, in the benchmark's process\n\
         - other test suites may use the same control plane and cores during a run; the API \
         server's counters and CPU time include their requests, which the load averages hint at",
        facts.kubernetes,
        seconds(facts.elapsed),
        facts.load_after,
        seconds(POLL_INTERVAL),
        JITTER * 100.0,
    )?;
    if !facts.sees_processes {
        writeln!(
            out,
            "- the API server's and etcd's pids were not found in `target/k8s/pids`: their CPU \
             figures read 0"
        )?;
    }

    first_mirror_table(&mut out, outcomes)?;

    writeln!(
        out,
        "\n### Steady state: the operator against the naive baseline\n\n\
         Nothing changes in ONTAP but traffic counters. The operator is measured over 3 polls per \
         cluster; then the naive baseline (`--bench-apply-everything`: server-side apply of every \
         object and status on every poll) over one poll per cluster after its first. Writes are \
         counted by the API server (`apiserver_request_total`, write verbs on single objects of both \
         kinds, any answer) and by the operator (`ontap_ipsec_api_writes_total`, successful \
         writes); \"objects changed\" counts mirrored objects whose resourceVersion moved. CPU is \
         `utime + stime` from `/proc/PID/stat`.\n"
    )?;
    for outcome in outcomes {
        steady_table(&mut out, outcome)?;
    }

    writeln!(
        out,
        "\n### From an ONTAP state change to the condition\n\n\
         An IKE SA of the first cluster is taken down and up again in the simulator (4 changes, \
         each at a random point of the poll cycle); the time runs until the mirrored object's \
         `Ready` condition shows it. The bound is one poll interval plus 2 s; the jitter alone \
         can stretch an interval by {:.0} %.\n\n\
         | scenario | median | max | bound |\n|---|---:|---:|---:|",
        JITTER * 100.0
    )?;
    let bound = POLL_INTERVAL + LATENCY_SLACK;
    for outcome in outcomes {
        if let Some(summary) = Summary::of(&outcome.latencies) {
            let max = outcome.latencies.iter().max().copied().unwrap_or_default();
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                outcome.scenario.name,
                seconds(summary.median),
                seconds(max),
                seconds(bound)
            )?;
        }
    }

    targets(&mut out, outcomes)?;
    Ok(out)
}

fn first_mirror_table(out: &mut String, outcomes: &[Outcome]) -> std::fmt::Result {
    writeln!(
        out,
        "\n### First complete mirror\n\n\
         The physical limit is the same objects (labels, spec and status as the operator builds \
         them) written by a bare kube client with {} requests in flight: one create each, then \
         one status apply each. The operator writes the same two per object (an apply, then a \
         status apply) and finishes when every OntapCluster reports all its SAs.\n",
        bare_client::CONCURRENCY
    )?;
    writeln!(
        out,
        "| scenario | SAs | bare create | bare create + status | operator first mirror | vs bare create | vs bare create + status | API-server writes | kube-apiserver CPU | operator CPU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for outcome in outcomes {
        let total = outcome.scenario.total();
        let both = outcome.bare.create + outcome.bare.status;
        writeln!(
            out,
            "| {} | {} | {} ({}) | {} ({}) | {} ({}) | {} | {} | {:.0} | {} | {} |",
            outcome.scenario.name,
            thousands(total),
            seconds(outcome.bare.create),
            rate(total, outcome.bare.create),
            seconds(both),
            rate(total, both),
            seconds(outcome.first_mirror),
            rate(total, outcome.first_mirror),
            ratio(
                outcome.first_mirror.as_secs_f64(),
                outcome.bare.create.as_secs_f64()
            ),
            ratio(outcome.first_mirror.as_secs_f64(), both.as_secs_f64()),
            outcome.first_mirror_server.writes(),
            seconds(outcome.first_mirror_server.apiserver_cpu),
            seconds(outcome.first_mirror_cpu),
        )?;
    }

    Ok(())
}

/// A figure: its name, the operator's and the baseline's value, and how to show a value.
type Row = (&'static str, f64, f64, fn(f64) -> String);

fn steady_table(out: &mut String, outcome: &Outcome) -> std::fmt::Result {
    let (product, naive) = (&outcome.steady, &outcome.naive);
    writeln!(
        out,
        "**{}** — {} cluster(s) × {} SAs; {} and {} polls measured over {} and {}.\n",
        outcome.scenario.name,
        outcome.scenario.clusters,
        thousands(outcome.scenario.per_cluster()),
        product.polls(),
        naive.polls(),
        seconds(product.elapsed),
        seconds(naive.elapsed),
    )?;
    writeln!(
        out,
        "| per poll | operator | naive | naive / operator |\n|---|---:|---:|---:|"
    )?;
    let rows: [Row; 8] = [
        (
            "poll duration (mean)",
            mean_poll(product).as_secs_f64(),
            mean_poll(naive).as_secs_f64(),
            |value| format!("{value:.3} s"),
        ),
        (
            "API-server writes (apiserver_request_total)",
            product.per_poll(product.server.writes()),
            naive.per_poll(naive.server.writes()),
            |value| format!("{value:.1}"),
        ),
        (
            "writes the operator counted",
            product.per_poll(product.operator.writes),
            naive.per_poll(naive.operator.writes),
            |value| format!("{value:.1}"),
        ),
        (
            "objects changed",
            product.per_poll(product.changed_objects as f64),
            naive.per_poll(naive.changed_objects as f64),
            |value| format!("{value:.1}"),
        ),
        (
            "ONTAP requests",
            product.per_poll(product.operator.ontap_requests),
            naive.per_poll(naive.operator.ontap_requests),
            |value| format!("{value:.1}"),
        ),
        (
            "operator CPU",
            per_poll_cpu(product, product.operator.cpu).as_secs_f64(),
            per_poll_cpu(naive, naive.operator.cpu).as_secs_f64(),
            |value| format!("{value:.3} s"),
        ),
        (
            "kube-apiserver CPU",
            per_poll_cpu(product, product.server.apiserver_cpu).as_secs_f64(),
            per_poll_cpu(naive, naive.server.apiserver_cpu).as_secs_f64(),
            |value| format!("{value:.3} s"),
        ),
        (
            "etcd CPU",
            per_poll_cpu(product, product.server.etcd_cpu).as_secs_f64(),
            per_poll_cpu(naive, naive.server.etcd_cpu).as_secs_f64(),
            |value| format!("{value:.3} s"),
        ),
    ];
    for (name, ours, theirs, show) in rows {
        writeln!(
            out,
            "| {name} | {} | {} | {} |",
            show(ours),
            show(theirs),
            ratio(theirs, ours)
        )?;
    }
    writeln!(
        out,
        "| operator peak RSS (whole run) | {} | {} | {} |\n\n\
         The operator's resident set right after its steady-state window: {}.\n",
        mebibytes(outcome.peak_rss),
        mebibytes(outcome.naive_peak_rss),
        ratio(outcome.naive_peak_rss as f64, outcome.peak_rss as f64),
        mebibytes(outcome.steady_rss),
    )
}

fn targets(out: &mut String, outcomes: &[Outcome]) -> std::fmt::Result {
    writeln!(out, "\n### Targets\n")?;
    for outcome in outcomes {
        let steady = &outcome.steady;
        let writes = steady.per_poll(steady.server.writes());
        let counted = steady.per_poll(steady.operator.writes);
        let line = if writes == 0.0 && counted == 0.0 {
            format!(
                "{} — 0 per poll by the API server's count and by the operator's",
                verdict(true)
            )
        } else if counted == 0.0
            && steady.operator.failed_writes == 0.0
            && steady.changed_objects == 0
        {
            // The API server's counter covers every client of these kinds; the operator's
            // counters and the untouched objects say the writes were not the operator's.
            format!(
                "{} — the operator sent no write (none succeeded, none failed) and no object in \
                 its namespace changed; the API server counted {writes:.2} writes per poll to \
                 these kinds from all its clients, so from other clients of the shared control \
                 plane",
                verdict(true)
            )
        } else {
            format!(
                "{} — {writes:.2} per poll by the API server's count, {counted:.2} by the \
                 operator's, {} objects changed",
                verdict(false),
                steady.changed_objects
            )
        };
        writeln!(
            out,
            "- 0 writes per steady-state poll, {}: {line}",
            outcome.scenario.name
        )?;
    }
    let bound = POLL_INTERVAL + LATENCY_SLACK;
    for outcome in outcomes {
        let max = outcome.latencies.iter().max().copied().unwrap_or_default();
        writeln!(
            out,
            "- state change to condition within one poll interval + 2 s ({}), {}: {} — at most {}",
            seconds(bound),
            outcome.scenario.name,
            verdict(max <= bound),
            seconds(max)
        )?;
    }
    for outcome in outcomes
        .iter()
        .filter(|outcome| outcome.scenario.total() == LARGE)
    {
        let name = outcome.scenario.name;
        let first = outcome.first_mirror.as_secs_f64() / outcome.bare.create.as_secs_f64();
        writeln!(
            out,
            "- first mirror of 10,000 SAs within {FIRST_MIRROR_RATIO}× the bare-client create \
             time, {name}: {} — {first:.2}×",
            verdict(first <= FIRST_MIRROR_RATIO)
        )?;
        writeln!(
            out,
            "- peak RSS under {} with 10,000 SAs, {name}: {} — {} at the peak, {} after the \
             steady-state window",
            mebibytes(PEAK_RSS_LIMIT),
            verdict(outcome.peak_rss < PEAK_RSS_LIMIT),
            mebibytes(outcome.peak_rss),
            mebibytes(outcome.steady_rss),
        )?;
        let cpu = per_poll_cpu(&outcome.steady, outcome.steady.operator.cpu);
        // With several clusters, one round of polls covers the 10,000 SAs.
        let round = cpu.mul_f64(outcome.scenario.clusters as f64);
        let detail = if outcome.scenario.clusters > 1 {
            format!(
                "{} per poll of {} SAs, so {} for a round over all 10,000",
                seconds(cpu),
                thousands(outcome.scenario.per_cluster()),
                seconds(round)
            )
        } else {
            seconds(cpu)
        };
        writeln!(
            out,
            "- operator CPU per steady-state poll of 10,000 SAs under {}, {name}: {} — {detail}",
            seconds(STEADY_CPU_LIMIT),
            verdict(round < STEADY_CPU_LIMIT),
        )?;
    }
    Ok(())
}
