//! `make bench`: the operator against the local control plane and `ontap-sim`, with 1,000 and
//! 10,000 SAs in one cluster and 50 clusters × 200 SAs, compared in the same run with the
//! physical limit (a bare client creating the same objects) and with the naive design that
//! applies everything on every poll; writes the figures to `docs/benchmarks.md`.

mod api_server;
mod bare_client;
mod operator;
mod scenario;
mod section;
#[path = "../support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use clap::Parser;

use api_server::ApiServer;
use scenario::Scenario;
use section::RunFacts;

/// The flag `cargo bench` passes; `cargo test --all-targets` runs this program without it.
const CARGO_BENCH_FLAG: &str = "--bench";
/// The section of `docs/benchmarks.md` this program owns.
const SECTION: &str = "bench";

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "1-cluster-1k",
        clusters: 1,
        nodes: 5,
        tunnels: 100,
    },
    Scenario {
        name: "1-cluster-10k",
        clusters: 1,
        nodes: 50,
        tunnels: 100,
    },
    Scenario {
        name: "50-clusters-200",
        clusters: 50,
        nodes: 1,
        tunnels: 100,
    },
];

#[derive(Debug, Parser)]
#[command(about = "Benchmark the operator on the control plane against the naive design")]
struct Args {
    /// Set by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// Run only these scenarios (by name); all when absent.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Print the figures without rewriting docs/benchmarks.md.
    #[arg(long)]
    no_write: bool,
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
    let chosen: Vec<Scenario> = SCENARIOS
        .into_iter()
        .filter(|scenario| {
            args.scenarios.is_empty() || args.scenarios.iter().any(|name| name == scenario.name)
        })
        .collect();
    if chosen.is_empty() {
        bail!(
            "no scenario named {:?}; choose from {:?}",
            args.scenarios,
            SCENARIOS.map(|scenario| scenario.name)
        );
    }
    let mut outcomes = Vec::with_capacity(chosen.len());
    for scenario in chosen {
        println!(
            "bench: {} ({} SAs, load {})",
            scenario.name,
            scenario.total(),
            support::machine::load_average()
        );
        let scenario_started = Instant::now();
        outcomes.push(scenario::run(&server, scenario).await?);
        println!(
            "  done in {:.0} s",
            scenario_started.elapsed().as_secs_f64()
        );
    }
    let facts = RunFacts {
        machine,
        kubernetes: server.version.clone(),
        load_after: support::machine::load_average(),
        elapsed: started.elapsed(),
        sees_processes: server.sees_processes(),
    };
    let body = section::render(&outcomes, &facts)?;
    println!("\n{body}");
    if !args.no_write {
        let path = support::report::write_section(SECTION, &body)?;
        println!("written to {}", path.display());
    }
    Ok(())
}
