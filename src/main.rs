//! Command-line entry point: `run`, `crds` and `poll`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use ontap_ipsec_operator::ontap::{ClientConfig, Credentials, OntapClient, Secret, Selector};
use ontap_ipsec_operator::controller::{self, RunOptions};
use ontap_ipsec_operator::poll;
use ontap_ipsec_operator::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(version, about = "Mirrors NetApp ONTAP IPsec security associations into Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller: watch OntapClusters and mirror their security associations.
    Run(RunArgs),
    /// Print both CustomResourceDefinitions as YAML (the content of crds/crds.yaml).
    Crds,
    /// Read the SAs of one ONTAP cluster once and print them with their health.
    Poll(PollArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Watch only this namespace; all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// OntapClusters polled at the same time.
    #[arg(long, env = "MAX_CONCURRENT_POLLS", default_value_t = controller::DEFAULT_MAX_CONCURRENT_POLLS, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_polls: u16,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Name of this process in Events; the Pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

#[derive(Debug, clap::Args)]
struct PollArgs {
    /// Cluster-management endpoint, like https://cluster1.example.com
    #[arg(long, env = "ONTAP_ENDPOINT")]
    endpoint: String,
    /// ONTAP user (HTTP Basic).
    #[arg(long, env = "ONTAP_USERNAME")]
    username: String,
    /// File holding the password; otherwise the ONTAP_PASSWORD environment variable is used.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// PEM bundle of CAs to trust instead of the system's.
    #[arg(long, conflicts_with = "insecure_skip_tls_verify")]
    ca_file: Option<PathBuf>,
    /// Name to verify the certificate against instead of the endpoint's host.
    #[arg(long)]
    tls_server_name: Option<String>,
    /// Accept any server certificate. Insecure; for a first look only.
    #[arg(long)]
    insecure_skip_tls_verify: bool,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_seconds: u64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Exit with status 1 when any SA is not healthy.
    #[arg(long)]
    fail_unhealthy: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
    Yaml,
}

/// Exit status when `--fail-unhealthy` finds an unhealthy SA.
const EXIT_UNHEALTHY: u8 = 1;
/// Exit status when the command itself fails (cannot reach ONTAP, bad flags, ...).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run_controller(args).await,
            Command::Crds => print_crds(),
            Command::Poll(args) => run_poll(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run_controller(args: RunArgs) -> anyhow::Result<ExitCode> {
    telemetry::init(args.log_format);
    let client = kube::Client::try_default()
        .await
        .context("cannot load a kubeconfig or the in-cluster configuration")?;
    let options = RunOptions {
        max_concurrent_polls: args.max_concurrent_polls,
        instance: args.instance,
        ..RunOptions::new(args.namespace)
    };
    tracing::info!(?options, version = env!("CARGO_PKG_VERSION"), "starting");
    controller::run(client, options, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

fn print_crds() -> anyhow::Result<ExitCode> {
    let yaml = ontap_ipsec_operator::crd::crds_yaml()?;
    std::io::stdout().write_all(yaml.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

async fn run_poll(args: PollArgs) -> anyhow::Result<ExitCode> {
    let password = match &args.password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the password file {}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None => std::env::var("ONTAP_PASSWORD")
            .context("give --password-file or set ONTAP_PASSWORD")?,
    };
    let mut config = ClientConfig::new(
        &args.endpoint,
        Credentials::Basic {
            username: args.username,
            password: Secret::new(password),
        },
    )?;
    if let Some(path) = &args.ca_file {
        config.tls.ca_bundle_pem = Some(
            std::fs::read(path).with_context(|| format!("reading the CA file {}", path.display()))?,
        );
    }
    config.tls.server_name = args.tls_server_name;
    config.tls.insecure_skip_verify = args.insecure_skip_tls_verify;
    if config.tls.insecure_skip_verify {
        eprintln!("warning: TLS verification is off; anyone on the path can read the credentials");
    }
    config.timeout = std::time::Duration::from_secs(args.timeout_seconds);

    let client = OntapClient::new(config)?;
    let listing = client.security_associations(&Selector::default()).await?;
    let rows = poll::rows(&listing.records);
    let text = match args.output {
        OutputFormat::Table => poll::render_table(&rows),
        OutputFormat::Json => poll::render_json(&rows)?,
        OutputFormat::Yaml => poll::render_yaml(&rows)?,
    };
    std::io::stdout().write_all(text.as_bytes())?;
    if args.fail_unhealthy && rows.iter().any(|row| !row.is_healthy()) {
        let unhealthy = rows.iter().filter(|row| !row.is_healthy()).count();
        eprintln!("{unhealthy} of {} SAs are not healthy", rows.len());
        return Ok(ExitCode::from(EXIT_UNHEALTHY));
    }
    Ok(ExitCode::SUCCESS)
}
