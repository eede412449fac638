//! Writes the allocator matrix as Markdown: one table per scenario, then memory per mirrored SA
//! for each variant when two sizes were measured.

use std::fmt::Write as _;

use crate::allocators::Measurement;
use crate::scenario::Scenario;
use crate::section::{self, RunFacts, per_poll_cpu, seconds};
use crate::slope::{self, Point};
use crate::support::proc_stats::mebibytes;
use crate::support::report::thousands;

/// Each scenario and what every variant measured in it.
pub type Matrix = Vec<(Scenario, Vec<Measurement>)>;

/// The whole `bench-allocators` section.
pub fn render(matrix: &Matrix, facts: &RunFacts) -> Result<String, std::fmt::Error> {
    let mut out = section::header("Operator memory and CPU by allocator", facts)?;
    writeln!(
        out,
        "\nEach scenario is mirrored once by the default operator, which then stops; each variant \
         in turn starts on that complete mirror (so its peak includes loading every object into \
         its watch cache, and no first-mirror writes), lets every cluster poll once, and is \
         measured over 3 polls per cluster in which nothing changes. mimalloc is the default \
         build, which sets `MIMALLOC_PURGE_DELAY=0` and `MIMALLOC_ARENA_EAGER_COMMIT=0` for \
         itself when the environment does not set them; its second row sets mimalloc's own \
         defaults back. glibc's malloc is the same code built with `--features \
         system-allocator`. An environment variable the benchmark itself was started with never \
         reaches a variant: each gets only its own.\n"
    )?;
    for (scenario, measurements) in matrix {
        writeln!(
            out,
            "**{}** — {} cluster(s) × {} SAs.\n\n\
             | allocator | environment | peak RSS | resident set after steady state | operator \
             CPU per steady poll | API-server writes per poll |\n|---|---|---:|---:|---:|---:|",
            scenario.name,
            scenario.clusters,
            thousands(scenario.per_cluster()),
        )?;
        for measurement in measurements {
            let steady = &measurement.steady;
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1} |",
                measurement.variant.allocator,
                environment(measurement),
                mebibytes(measurement.peak_rss),
                mebibytes(measurement.steady_rss),
                seconds(per_poll_cpu(steady, steady.operator.cpu)),
                steady.per_poll(steady.server.writes()),
            )?;
        }
        writeln!(out)?;
    }
    slopes(&mut out, matrix)?;
    Ok(out)
}

fn environment(measurement: &Measurement) -> String {
    let environment = &measurement.variant.program.environment;
    if environment.is_empty() {
        return "none set".into();
    }
    environment
        .iter()
        .map(|(name, value)| format!("`{name}={value}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Memory per mirrored SA of each variant, between the scenarios it ran in.
fn slopes(out: &mut String, matrix: &Matrix) -> std::fmt::Result {
    let Some((_, first)) = matrix.first() else {
        return Ok(());
    };
    let mut heading = false;
    for (index, measurement) in first.iter().enumerate() {
        let points: Vec<Point> = matrix
            .iter()
            .filter_map(|(scenario, measurements)| {
                measurements.get(index).map(|measured| Point {
                    name: scenario.name,
                    sas: scenario.total(),
                    rss: measured.steady_rss,
                })
            })
            .collect();
        let slopes = slope::between(&points);
        if slopes.is_empty() {
            continue;
        }
        if !heading {
            writeln!(
                out,
                "Memory per mirrored SA (the slope of the resident set after steady state \
                 between sizes; target under {}):\n",
                slope::kibibytes(slope::LIMIT_BYTES_PER_SA)
            )?;
            heading = true;
        }
        writeln!(
            out,
            "*{}, {}*\n",
            measurement.variant.allocator,
            environment(measurement)
        )?;
        section::slope_table(out, &slopes)?;
        writeln!(out)?;
    }
    Ok(())
}
