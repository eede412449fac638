//! Gathers the children's measurements, checks they agree, and writes them as Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::Args;
use crate::support::proc_stats::mebibytes;
use crate::support::report::thousands;
use crate::support::timing::{Summary, millis, ratio};
use crate::variants::{Measurement, Variant};

/// The product's time and peak memory may be at most this multiple of the floor's.
const TARGET_RATIO: f64 = 2.0;

/// Every child's measurement, in the order they ran.
#[derive(Debug, Default)]
pub struct Results {
    measurements: Vec<Measurement>,
}

/// One variant's figures over all its children.
#[derive(Debug, Clone, Copy)]
struct Figures {
    time: Summary,
    peak_rss: u64,
    /// Peak minus the resident set before the first listing: what the listing itself needs.
    working_set: u64,
    records: usize,
    pages: usize,
    bytes: usize,
}

impl Results {
    pub fn add(&mut self, measurement: Measurement) {
        self.measurements.push(measurement);
    }

    /// Fails unless every child read all `expected` records and judged every one ready.
    pub fn check(&self, expected: usize) -> anyhow::Result<()> {
        for measurement in &self.measurements {
            ensure!(
                measurement.records == expected,
                "{:?} saw {} records, not {expected}",
                measurement.variant,
                measurement.records
            );
            if matches!(
                measurement.variant,
                Variant::Product | Variant::DecodeTyped | Variant::DecodeTypedWithPath
            ) {
                ensure!(
                    measurement.ready == expected,
                    "{:?} judged {} of {expected} generated (healthy) SAs ready",
                    measurement.variant,
                    measurement.ready
                );
            }
        }
        Ok(())
    }

    fn figures(&self, variant: Variant) -> anyhow::Result<Figures> {
        let ours: Vec<&Measurement> = self
            .measurements
            .iter()
            .filter(|measurement| measurement.variant == variant)
            .collect();
        let times: Vec<Duration> = ours.iter().flat_map(|m| m.times.clone()).collect();
        let Some(time) = Summary::of(&times) else {
            bail!("no timings for {variant:?}");
        };
        Ok(Figures {
            time,
            peak_rss: ours.iter().map(|m| m.peak_rss).max().unwrap_or_default(),
            working_set: ours
                .iter()
                .map(|m| m.peak_rss.saturating_sub(m.start_rss))
                .max()
                .unwrap_or_default(),
            records: ours.first().map_or(0, |m| m.records),
            pages: ours.first().map_or(0, |m| m.pages),
            bytes: ours.iter().map(|m| m.bytes).max().unwrap_or_default(),
        })
    }
}

/// The Markdown section: conditions, the two tables and the verdict on the target.
pub fn render(results: &Results, machine: &str, args: &Args) -> anyhow::Result<String> {
    let floor = results.figures(Variant::Floor)?;
    let product = results.figures(Variant::Product)?;
    let value = results.figures(Variant::DecodeValue)?;
    let typed = results.figures(Variant::DecodeTyped)?;
    let typed_with_path = results.figures(Variant::DecodeTypedWithPath)?;
    let time_ratio = product.time.median.as_secs_f64() / floor.time.median.as_secs_f64();
    let memory_ratio = product.working_set as f64 / floor.working_set.max(1) as f64;
    let met = time_ratio <= TARGET_RATIO && memory_ratio <= TARGET_RATIO;

    let mut out = String::new();
    writeln!(
        out,
        "## ONTAP client: fetch, decode and health of {} SAs\n",
        thousands(floor.records)
    )?;
    out.push_str(machine);
    writeln!(
        out,
        "- command: `make bench-ontap` (`cargo bench --bench ontap`)\n\
         - workload: `ontap_sim::generate({}, {})` = {} SAs, served over HTTPS on loopback by `ontap-sim` \
         in the benchmark's own process; {} pages of at most 500 records, {:.1} MiB of JSON per listing\n\
         - method: each variant runs in a child process of its own; floor and product alternate \
         over {} rounds of one warm-up and {} timed listings each, so {} timed listings per variant. \
         Peak RSS is the child's `VmHWM`; the working set is that peak minus the child's resident \
         set just before its first listing (both variants build the same two HTTPS clients first).\n",
        args.nodes,
        args.tunnels,
        thousands(floor.records),
        floor.pages,
        floor.bytes as f64 / 1_048_576.0,
        args.rounds,
        args.repetitions,
        floor.time.runs,
    )?;
    writeln!(
        out,
        "| variant | median | min | median vs floor | peak RSS | working set | working set vs floor |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    )?;
    for (name, figures) in [
        (
            "floor: plain reqwest, each page parsed into `serde_json::Value`",
            floor,
        ),
        (
            "product: `OntapClient::security_associations` + `health::ready` per SA",
            product,
        ),
    ] {
        writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            millis(figures.time.median),
            millis(figures.time.min),
            ratio(
                figures.time.median.as_secs_f64(),
                floor.time.median.as_secs_f64()
            ),
            mebibytes(figures.peak_rss),
            mebibytes(figures.working_set),
            ratio(figures.working_set as f64, floor.working_set as f64),
        )?;
    }
    writeln!(
        out,
        "\nDecoding alone, on the same page bytes fetched beforehand (no network, no simulator):\n\n\
         | decoder | median | min | median vs `Value` |\n|---|---:|---:|---:|"
    )?;
    for (name, figures) in [
        ("`serde_json::Value`", value),
        (
            "typed models, as the client decodes + `health::ready` per SA",
            typed,
        ),
        (
            "typed models tracking every value's path (`serde_path_to_error`) + `health::ready` per SA",
            typed_with_path,
        ),
    ] {
        writeln!(
            out,
            "| {name} | {} | {} | {} |",
            millis(figures.time.median),
            millis(figures.time.min),
            ratio(
                figures.time.median.as_secs_f64(),
                value.time.median.as_secs_f64()
            ),
        )?;
    }
    writeln!(
        out,
        "\nTarget: the product within {TARGET_RATIO}× of the floor in time and memory — **{}** \
         (time {time_ratio:.2}×, working set {memory_ratio:.2}×).",
        if met { "met" } else { "missed" },
    )?;
    Ok(out)
}
