//! `make bench-ontap`: fetches, decodes and judges the health of 10,000 SAs served by an
//! in-process `ontap-sim`, against the floor of parsing the same pages into `serde_json::Value`,
//! and writes the figures to `docs/benchmarks.md`.
//!
//! The simulator runs in this process; every measured variant runs in a child process of its own
//! (this same program with `--child`), so that each peak resident set (`VmHWM`) is that
//! variant's alone. Floor and product children alternate over several rounds so that a burst of
//! load on the machine hits both.

mod section;
#[path = "../support/mod.rs"]
mod support;
mod variants;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum as _};
use ontap_sim::SimulatorConfig;

use section::Results;
use variants::{Measurement, Target, Variant};

/// The flag `cargo bench` passes; `cargo test --all-targets` runs this program without it.
const CARGO_BENCH_FLAG: &str = "--bench";
const CHILD_FLAG: &str = "--child";
/// The section of `docs/benchmarks.md` this program owns.
const SECTION: &str = "bench-ontap";

#[derive(Debug, Parser)]
#[command(about = "Benchmark the ONTAP client against the serde_json::Value floor")]
struct Args {
    /// Set by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Measure one variant against `--endpoint` and print the result as JSON (internal).
    #[arg(long, hide = true, value_enum)]
    child: Option<Variant>,
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    #[arg(long, hide = true)]
    ca_file: Option<PathBuf>,
    /// Simulated nodes.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// Tunnels per node; each tunnel is one IKE and one IPsec SA.
    #[arg(long, default_value_t = 100)]
    tunnels: usize,
    /// Alternating floor and product children.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Timed listings per child, after one warm-up listing.
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Print the figures without rewriting docs/benchmarks.md.
    #[arg(long)]
    no_write: bool,
}

fn main() -> ExitCode {
    let requested = std::env::args().any(|arg| arg == CARGO_BENCH_FLAG || arg == CHILD_FLAG);
    if !requested {
        println!("benchmark: run it with `make bench-ontap` (cargo bench --bench ontap)");
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let outcome = match args.child {
        Some(variant) => run_child(variant, &args),
        None => run_parent(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-ontap: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures one variant and prints the result as one JSON line.
fn run_child(variant: Variant, args: &Args) -> anyhow::Result<()> {
    let endpoint = args.endpoint.clone().context("--endpoint is required")?;
    let ca_file = args.ca_file.as_deref().context("--ca-file is required")?;
    let target = Target {
        endpoint,
        ca_pem: std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let measurement = runtime.block_on(variants::measure(variant, &target, args.repetitions))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&measurement)?)?;
    stdout.flush()?;
    Ok(())
}

/// Serves the records, runs the children, checks they all saw the same listing, and reports.
fn run_parent(args: &Args) -> anyhow::Result<()> {
    let started_load = support::machine::load_average();
    let machine = support::machine::describe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let records = ontap_sim::generate(args.nodes, args.tunnels);
    let expected = records.len();
    // The runtime's worker threads serve while this thread waits for the children.
    let simulator = runtime.block_on(ontap_sim::start(SimulatorConfig {
        records,
        ..SimulatorConfig::default()
    }))?;
    let ca = tempfile::NamedTempFile::new()?;
    std::fs::write(ca.path(), simulator.certificate_pem())?;
    println!(
        "bench-ontap: {expected} SAs at {}; {} rounds × {} listings per variant (load {started_load})",
        simulator.base_url(),
        args.rounds,
        args.repetitions
    );

    let mut results = Results::default();
    for round in 1..=args.rounds {
        for variant in [Variant::Floor, Variant::Product] {
            let measurement = child(variant, &simulator.base_url(), ca.path(), args.repetitions)?;
            println!(
                "  round {round}: {:<8} median {:.1} ms, peak RSS {:.1} MiB",
                format!("{variant:?}").to_lowercase(),
                support::timing::Summary::of(&measurement.times)
                    .map_or(0.0, |summary| summary.median.as_secs_f64() * 1000.0),
                measurement.peak_rss as f64 / 1_048_576.0
            );
            results.add(measurement);
        }
    }
    for variant in [
        Variant::DecodeValue,
        Variant::DecodeTyped,
        Variant::DecodeTypedWithPath,
    ] {
        let repetitions = args.rounds * args.repetitions;
        results.add(child(
            variant,
            &simulator.base_url(),
            ca.path(),
            repetitions,
        )?);
    }
    results.check(expected)?;
    runtime.block_on(simulator.shutdown());

    let body = section::render(&results, &machine, args)?;
    println!("\n{body}");
    if !args.no_write {
        let path = support::report::write_section(SECTION, &body)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// Runs this program as a child measuring `variant` and reads its JSON line.
fn child(
    variant: Variant,
    endpoint: &str,
    ca_file: &Path,
    repetitions: usize,
) -> anyhow::Result<Measurement> {
    let name = variant
        .to_possible_value()
        .context("every variant has a name")?;
    let output = Command::new(std::env::current_exe()?)
        .args([CHILD_FLAG, name.get_name(), "--endpoint", endpoint])
        .arg("--ca-file")
        .arg(ca_file)
        .args(["--repetitions", &repetitions.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("the {} child failed: {}", name.get_name(), output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout.lines().last().context("the child printed nothing")?;
    Ok(serde_json::from_str(line)?)
}
