//! Writes the scenarios' figures as Markdown: first mirror against the bare client, steady
//! state against the naive baseline where it ran, state-change latency, memory per mirrored SA,
//! and the targets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::bare_client;
use crate::scenario::{JITTER, Outcome, POLL_INTERVAL, Window};
use crate::slope::{self, Point};
use crate::support::proc_stats::mebibytes;
use crate::support::report::thousands;
use crate::support::timing::{Summary, ratio};

const LATENCY_SLACK: Duration = Duration::from_secs(2);

/// Conditions of the run, gathered by `main`.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub machine: String,
    pub kubernetes: String,
    /// How the run was started, as Markdown.
    pub command: String,
    pub load_after: String,
    pub elapsed: Duration,
    pub sees_processes: bool,
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn rate(objects: usize, duration: Duration) -> String {
    format!("{:.0}/s", objects as f64 / duration.as_secs_f64().max(1e-9))
}

pub fn per_poll_cpu(window: &Window, cpu: Duration) -> Duration {
    cpu.div_f64(window.polls().max(1.0))
}

fn mean_poll(window: &Window) -> Duration {
    Duration::from_secs_f64(window.operator.poll_seconds / window.operator.poll_count.max(1.0))
}

pub fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

/// The title, the machine, the control plane, the command and how the operator runs.
pub fn header(title: &str, facts: &RunFacts) -> Result<String, std::fmt::Error> {
    let mut out = format!("## {title}\n\n");
    out.push_str(&facts.machine);
    writeln!(
        out,
        "- Kubernetes: kube-apiserver {} with etcd and kube-controller-manager on this machine \
         (`make cluster-up`)\n\
         - command: {}, {} in all; load average at the end: {}\n\
         - the operator: the release binary as a process (`ontap-ipsec-operator run --namespace \
         NS`), default `--max-concurrent-polls 8`; every OntapCluster polls every {} (the \
         minimum, jittered by ±{:.0} %), default `countersRefreshInterval` (15m) and `timeout`\n\
         - ONTAP: one in-process `ontap-sim` per cluster over HTTPS, in the benchmark's process\n\
         - other test suites may use the same control plane and cores during a run; the API \
         server's counters and CPU time include their requests, which the load averages hint at",
        facts.kubernetes,
        facts.command,
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
    Ok(out)
}

/// A whole section on `outcomes`, under `title`.
pub fn render(
    title: &str,
    outcomes: &[Outcome],
    facts: &RunFacts,
) -> Result<String, std::fmt::Error> {
    let mut out = header(title, facts)?;

    first_mirror_table(&mut out, outcomes)?;

    steady_text(&mut out, outcomes)?;
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

    let slopes = slope::between(&points(outcomes));
    if !slopes.is_empty() {
        writeln!(
            out,
            "\n### Memory per mirrored SA\n\n\
             The slope of the operator's resident set right after its steady-state window against \
             the SAs it mirrors, between scenarios of this run; what every size pays alike \
             (code, runtime, TLS, the allocator's floor) drops out.\n"
        )?;
        slope_table(&mut out, &slopes)?;
    }
    targets(&mut out, outcomes)?;
    for slope in &slopes {
        writeln!(
            out,
            "- memory per mirrored SA under {}, {} to {}: {} — {}",
            slope::kibibytes(slope::LIMIT_BYTES_PER_SA),
            slope.from.name,
            slope.to.name,
            verdict(slope.met()),
            slope::kibibytes(slope.bytes_per_sa),
        )?;
    }
    Ok(out)
}

fn points(outcomes: &[Outcome]) -> Vec<Point> {
    outcomes
        .iter()
        .map(|outcome| Point {
            name: outcome.scenario.name,
            sas: outcome.scenario.total(),
            rss: outcome.steady_rss,
        })
        .collect()
}

/// One row per pair of sizes: both resident sets and the bytes per SA between them.
pub fn slope_table(out: &mut String, slopes: &[slope::Slope]) -> std::fmt::Result {
    writeln!(
        out,
        "| from | to | resident set | resident set | per mirrored SA |\n|---|---|---:|---:|---:|"
    )?;
    for slope in slopes {
        writeln!(
            out,
            "| {} ({} SAs) | {} ({} SAs) | {} | {} | {} |",
            slope.from.name,
            thousands(slope.from.sas),
            slope.to.name,
            thousands(slope.to.sas),
            mebibytes(slope.from.rss),
            mebibytes(slope.to.rss),
            slope::kibibytes(slope.bytes_per_sa),
        )?;
    }
    Ok(())
}

fn steady_text(out: &mut String, outcomes: &[Outcome]) -> std::fmt::Result {
    let skipped: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| outcome.naive.is_none())
        .map(|outcome| outcome.scenario.name)
        .collect();
    let with_naive = skipped.len() < outcomes.len();
    let title = if with_naive {
        "Steady state: the operator against the naive baseline"
    } else {
        "Steady state"
    };
    write!(
        out,
        "\n### {title}\n\n\
         Nothing changes in ONTAP but traffic counters. The operator is measured over 3 polls per \
         cluster"
    )?;
    if with_naive {
        write!(
            out,
            "; then the naive baseline (`--bench-apply-everything`: server-side apply of every \
             object and status on every poll) over one poll per cluster after its first"
        )?;
    }
    if !skipped.is_empty() {
        write!(
            out,
            ". No naive baseline for {}: it would write every object and status on every poll, \
             so its one measured round would take longer than the rest of the run",
            skipped.join(", ")
        )?;
    }
    writeln!(
        out,
        ". Writes are counted by the API server (`apiserver_request_total`, write verbs on \
         single objects of both kinds, any answer) and by the operator \
         (`ontap_ipsec_api_writes_total`, successful writes); \"objects changed\" counts mirrored \
         objects whose resourceVersion moved. CPU is `utime + stime` from `/proc/PID/stat`.\n"
    )
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

/// A figure: its name, how to read it from a window, and how to show a value.
type Row = (&'static str, fn(&Window) -> f64, fn(f64) -> String);

const ROWS: [Row; 8] = [
    (
        "poll duration (mean)",
        |window| mean_poll(window).as_secs_f64(),
        |value| format!("{value:.3} s"),
    ),
    (
        "API-server writes (apiserver_request_total)",
        |window| window.per_poll(window.server.writes()),
        |value| format!("{value:.1}"),
    ),
    (
        "writes the operator counted",
        |window| window.per_poll(window.operator.writes),
        |value| format!("{value:.1}"),
    ),
    (
        "objects changed",
        |window| window.per_poll(window.changed_objects as f64),
        |value| format!("{value:.1}"),
    ),
    (
        "ONTAP requests",
        |window| window.per_poll(window.operator.ontap_requests),
        |value| format!("{value:.1}"),
    ),
    (
        "operator CPU",
        |window| per_poll_cpu(window, window.operator.cpu).as_secs_f64(),
        |value| format!("{value:.3} s"),
    ),
    (
        "kube-apiserver CPU",
        |window| per_poll_cpu(window, window.server.apiserver_cpu).as_secs_f64(),
        |value| format!("{value:.3} s"),
    ),
    (
        "etcd CPU",
        |window| per_poll_cpu(window, window.server.etcd_cpu).as_secs_f64(),
        |value| format!("{value:.3} s"),
    ),
];

fn steady_table(out: &mut String, outcome: &Outcome) -> std::fmt::Result {
    let product = &outcome.steady;
    let naive = outcome.naive.as_ref();
    write!(
        out,
        "**{}** — {} cluster(s) × {} SAs; {} polls measured over {}",
        outcome.scenario.name,
        outcome.scenario.clusters,
        thousands(outcome.scenario.per_cluster()),
        product.polls(),
        seconds(product.elapsed),
    )?;
    match naive {
        Some(naive) => writeln!(
            out,
            ", the naive baseline's {} over {}.\n\n\
             | per poll | operator | naive | naive / operator |\n|---|---:|---:|---:|",
            naive.window.polls(),
            seconds(naive.window.elapsed)
        )?,
        None => writeln!(out, ".\n\n| per poll | operator |\n|---|---:|")?,
    }
    for (name, read, show) in ROWS {
        row(
            out,
            name,
            read(product),
            naive.map(|naive| read(&naive.window)),
            &show,
        )?;
    }
    row(
        out,
        "operator peak RSS (whole run)",
        outcome.peak_rss as f64,
        naive.map(|naive| naive.peak_rss as f64),
        &|bytes| format!("{:.1} MiB", bytes / (1024.0 * 1024.0)),
    )?;
    writeln!(
        out,
        "\nThe operator's resident set right after its steady-state window: {}.\n",
        mebibytes(outcome.steady_rss),
    )
}

/// A table row: the operator's value, and the baseline's with the ratio when it ran.
fn row(
    out: &mut String,
    name: &str,
    ours: f64,
    theirs: Option<f64>,
    show: &dyn Fn(f64) -> String,
) -> std::fmt::Result {
    match theirs {
        Some(theirs) => writeln!(
            out,
            "| {name} | {} | {} | {} |",
            show(ours),
            show(theirs),
            ratio(theirs, ours)
        ),
        None => writeln!(out, "| {name} | {} |", show(ours)),
    }
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
    for outcome in outcomes {
        scenario_targets(out, outcome)?;
    }
    Ok(())
}

/// The lines of the targets `outcome`'s scenario is judged on.
fn scenario_targets(out: &mut String, outcome: &Outcome) -> std::fmt::Result {
    let targets = outcome.scenario.targets;
    let name = outcome.scenario.name;
    let sas = thousands(outcome.scenario.total());
    let first = outcome.first_mirror.as_secs_f64();
    let create = outcome.bare.create.as_secs_f64();
    if let Some(limit) = targets.first_mirror_vs_create {
        writeln!(
            out,
            "- first mirror of {sas} SAs within {limit}× the bare-client create time, {name}: {} \
             — {:.2}×",
            verdict(first <= limit * create),
            first / create,
        )?;
    }
    if let Some(limit) = targets.first_mirror_vs_create_status {
        let both = create + outcome.bare.status.as_secs_f64();
        writeln!(
            out,
            "- first mirror of {sas} SAs within {limit}× the bare client's create + status \
             time, {name}: {} — {:.2}× ({} against {})",
            verdict(first <= limit * both),
            first / both,
            seconds(outcome.first_mirror),
            seconds(Duration::from_secs_f64(both)),
        )?;
    }
    if let Some(limit) = targets.peak_rss {
        writeln!(
            out,
            "- peak RSS under {} with {sas} SAs, {name}: {} — {} at the peak, {} after the \
             steady-state window",
            mebibytes(limit),
            verdict(outcome.peak_rss < limit),
            mebibytes(outcome.peak_rss),
            mebibytes(outcome.steady_rss),
        )?;
    }
    if let Some(limit) = targets.steady_rss {
        writeln!(
            out,
            "- resident set after the steady-state window under {} with {sas} SAs, {name}: {} — \
             {}",
            mebibytes(limit),
            verdict(outcome.steady_rss < limit),
            mebibytes(outcome.steady_rss),
        )?;
    }
    if let Some(limit) = targets.round_cpu {
        let cpu = per_poll_cpu(&outcome.steady, outcome.steady.operator.cpu);
        // With several clusters, one round of polls covers all the SAs.
        let round = cpu.mul_f64(outcome.scenario.clusters as f64);
        let detail = if outcome.scenario.clusters > 1 {
            format!(
                "{} per poll of {} SAs, so {} for a round over all {sas}",
                seconds(cpu),
                thousands(outcome.scenario.per_cluster()),
                seconds(round)
            )
        } else {
            seconds(cpu)
        };
        writeln!(
            out,
            "- operator CPU for one steady-state round of polls over {sas} SAs under {}, {name}: \
             {} — {detail}",
            seconds(limit),
            verdict(round < limit),
        )?;
    }
    Ok(())
}
