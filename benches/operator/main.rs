//! `make bench`: the operator against the local control plane and `ontap-sim`, with 1,000 and
//! 10,000 SAs in one cluster and 50 clusters × 200 SAs, compared in the same run with the
//! physical limit (a bare client creating the same objects) and with the naive design that
//! applies everything on every poll; `make bench-fleet`: 100 clusters × 1,000 SAs against the
//! bare client only; `make bench-allocators`: the steady state under mimalloc and glibc's
//! malloc. Each writes its own section of `docs/benchmarks.md`.

mod allocator_section;
mod allocators;
mod api_server;
mod bare_client;
mod catalogue;
mod operator;
mod scenario;
mod section;
mod slope;
#[path = "../support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Parser;

use api_server::ApiServer;
use scenario::Scenario;
use section::RunFacts;

/// The flag `cargo bench` passes; `cargo test --all-targets` runs this program without it.
const CARGO_BENCH_FLAG: &str = "--bench";
/// The sections of `docs/benchmarks.md` this program owns, named after their make targets.
const SECTION: &str = "bench";
const FLEET_SECTION: &str = "bench-fleet";
const ALLOCATOR_SECTION: &str = "bench-allocators";

// Each bool is a command-line switch.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Parser)]
#[command(about = "Benchmark the operator on the control plane against the naive design")]
struct Args {
    /// Set by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Run only these scenarios (by name), of any program; the program's own when absent.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Print the figures without rewriting docs/benchmarks.md.
    #[arg(long)]
    no_write: bool,
    /// Run the fleet scenario (`make bench-fleet`, long) instead of the `make bench` ones.
    #[arg(long)]
    fleet: bool,
    /// Clusters of the fleet scenario, to check its code path at a small scale; needs
    /// `--no-write`, since the figures would not be the fleet's.
    #[arg(long, hide = true, requires = "no_write")]
    fleet_clusters: Option<usize>,
    /// Compare allocators in steady state (`make bench-allocators`) instead.
    #[arg(long, requires = "system_allocator_binary", conflicts_with = "fleet")]
    allocator_matrix: bool,
    /// The operator built with `--features system-allocator`, for the allocator matrix.
    #[arg(long)]
    system_allocator_binary: Option<PathBuf>,
}

fn main() -> ExitCode {
    if !std::env::args().any(|arg| arg == CARGO_BENCH_FLAG) {
        println!("benchmark: run it with `make bench` (cargo bench --bench operator)");
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let machine = support::machine::describe();
    let server = ApiServer::connect().await?;
    server.install_crds()?;
    let chosen = choose(args)?;
    let (section, body) = if args.allocator_matrix {
        let binary = args
            .system_allocator_binary
            .as_deref()
            .context("--allocator-matrix needs --system-allocator-binary")?;
        let matrix = allocator_matrix(&server, chosen, binary).await?;
        let facts = facts(&server, machine, started);
        (
            ALLOCATOR_SECTION,
            allocator_section::render(&matrix, &facts)?,
        )
    } else {
        let outcomes = scenarios(&server, chosen).await?;
        let facts = facts(&server, machine, started);
        if outcomes.iter().any(|outcome| outcome.scenario.fleet) {
            let title = "Operator fleet on the control plane against the bare client";
            (FLEET_SECTION, section::render(title, &outcomes, &facts)?)
        } else {
            let title = "Operator on the control plane against the naive design";
            (SECTION, section::render(title, &outcomes, &facts)?)
        }
    };
    println!("\n{body}");
    if !args.no_write {
        let path = support::report::write_section(section, &body)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// The scenarios named by `--scenarios`, or the program's own.
fn choose(args: &Args) -> anyhow::Result<Vec<Scenario>> {
    let defaults: Vec<&str> = if args.allocator_matrix {
        catalogue::ALLOCATOR_SCENARIOS.to_vec()
    } else {
        catalogue::SCENARIOS
            .iter()
            .filter(|scenario| scenario.fleet == args.fleet)
            .map(|scenario| scenario.name)
            .collect()
    };
    let names: Vec<&str> = if args.scenarios.is_empty() {
        defaults
    } else {
        args.scenarios.iter().map(String::as_str).collect()
    };
    names
        .into_iter()
        .map(|name| {
            let mut scenario = catalogue::find(name).with_context(|| {
                format!(
                    "no scenario named {name:?}; choose from {:?}",
                    catalogue::SCENARIOS.map(|scenario| scenario.name)
                )
            })?;
            if let Some(clusters) = args.fleet_clusters.filter(|_| scenario.fleet) {
                println!("bench: {name} with {clusters} clusters (--fleet-clusters)");
                scenario.clusters = clusters;
            }
            Ok(scenario)
        })
        .collect()
}

async fn scenarios(
    server: &ApiServer,
    chosen: Vec<Scenario>,
) -> anyhow::Result<Vec<scenario::Outcome>> {
    let mut outcomes = Vec::with_capacity(chosen.len());
    for scenario in chosen {
        announce(scenario);
        let scenario_started = Instant::now();
        outcomes.push(scenario::run(server, scenario).await?);
        done(scenario_started);
    }
    Ok(outcomes)
}

async fn allocator_matrix(
    server: &ApiServer,
    chosen: Vec<Scenario>,
    system_allocator_binary: &std::path::Path,
) -> anyhow::Result<allocator_section::Matrix> {
    if !system_allocator_binary.is_file() {
        bail!(
            "{} is not a file; build it with `cargo build --release --features system-allocator`",
            system_allocator_binary.display()
        );
    }
    let variants = allocators::variants(system_allocator_binary);
    let mut matrix = Vec::with_capacity(chosen.len());
    for scenario in chosen {
        announce(scenario);
        let scenario_started = Instant::now();
        matrix.push((
            scenario,
            allocators::run(server, scenario, &variants).await?,
        ));
        done(scenario_started);
    }
    Ok(matrix)
}

fn announce(scenario: Scenario) {
    println!(
        "bench: {} ({} SAs, load {})",
        scenario.name,
        scenario.total(),
        support::machine::load_average()
    );
}

fn done(started: Instant) {
    println!("  done in {:.0} s", started.elapsed().as_secs_f64());
}

fn facts(server: &ApiServer, machine: String, started: Instant) -> RunFacts {
    RunFacts {
        machine,
        kubernetes: server.version.clone(),
        command: command(),
        load_after: support::machine::load_average(),
        elapsed: started.elapsed(),
        sees_processes: server.sees_processes(),
    }
}

/// The cargo command this run was started with, as Markdown.
fn command() -> String {
    let arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|argument| argument != CARGO_BENCH_FLAG)
        .collect();
    if arguments.is_empty() {
        "`cargo bench --bench operator`".into()
    } else {
        format!("`cargo bench --bench operator -- {}`", arguments.join(" "))
    }
}
