//! Command-line entry point: `run`, `crds` and `poll`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use ontap_ipsec_operator::ontap::{ClientConfig, Credentials, OntapClient, OntapError, Secret};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use ontap_ipsec_operator::controller::source::{self, MirrorSource};
use ontap_ipsec_operator::controller::{self, RunOptions};
use ontap_ipsec_operator::http;
use ontap_ipsec_operator::leader::Candidacy;
use ontap_ipsec_operator::metrics::Metrics;
use ontap_ipsec_operator::metrics::WriteCounter;
use ontap_ipsec_operator::poll;
use ontap_ipsec_operator::telemetry::{self, LogFormat};
use prometheus_client::registry::Registry;

/// Every poll builds and drops many small strings and maps; with glibc's allocator that churn
/// cost close to half of a steady-state poll's CPU (docs/benchmarks.md).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's settings for a long-running process whose working set rises and falls with each
/// poll: return freed memory at once (`purge_delay`, 1 s by default) and commit arena memory only
/// when used (`arena_eager_commit`, eager on Linux by default). They took the resident set of
/// 10,000 mirrored SAs from 86 to 30 MiB for 10 % more CPU per poll (docs/benchmarks.md).
#[cfg(not(feature = "system-allocator"))]
const ALLOCATOR_ENVIRONMENT: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// mimalloc reads its settings from the environment once, before `main`, and setting them from
/// Rust needs `unsafe`; so the binary starts itself again (same pid, arguments and environment)
/// with any of [`ALLOCATOR_ENVIRONMENT`] the environment lacks. A value set by the user is kept.
/// Returns only when nothing is missing or the restart failed.
#[cfg(not(feature = "system-allocator"))]
fn restart_with_allocator_settings() {
    use std::os::unix::process::CommandExt as _;

    let missing: Vec<(&str, &str)> = ALLOCATOR_ENVIRONMENT
        .into_iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(binary) = std::env::current_exe() else {
        return;
    };
    let mut arguments = std::env::args_os();
    let mut command = std::process::Command::new(binary);
    if let Some(name) = arguments.next() {
        command.arg0(name);
    }
    let error = command.args(arguments).envs(missing).exec();
    eprintln!("warning: cannot restart with mimalloc's settings ({error}); running without them");
}

/// The system allocator, only so `make bench-allocators` can compare the two.
#[cfg(feature = "system-allocator")]
#[global_allocator]
static ALLOCATOR: std::alloc::System = std::alloc::System;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Mirrors NetApp ONTAP IPsec security associations into Kubernetes"
)]
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
    /// Address for /metrics only: HTTPS with `--metrics-auth kubernetes`, else plain HTTP.
    /// `[::]` accepts IPv6 and IPv4 (IPv4 only where the kernel has no IPv6).
    #[arg(long, env = "METRICS_ADDR", default_value = "[::]:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Who may read /metrics: `none` (plain HTTP, anyone who reaches the port) or `kubernetes`
    /// (HTTPS; a bearer token the API server authenticates with a `TokenReview` and authorizes
    /// with a `SubjectAccessReview` for `get` on the non-resource URL /metrics).
    #[arg(long, env = "METRICS_AUTH", value_enum, default_value_t = http::MetricsAuth::None)]
    metrics_auth: http::MetricsAuth,
    /// Directory with `tls.crt` and `tls.key` (a mounted Secret, re-read every minute) for HTTPS
    /// /metrics; unset: a self-signed certificate generated at start.
    #[arg(long, env = "METRICS_CERT_DIR")]
    metrics_cert_dir: Option<PathBuf>,
    /// Address for /healthz and /readyz, plain HTTP for the kubelet's probes; `[::]` as for
    /// `--metrics-addr`.
    #[arg(long, env = "HEALTH_ADDR", default_value = "[::]:8081")]
    health_addr: std::net::SocketAddr,
    /// Elect a leader through a Lease so that only one replica polls and writes.
    #[arg(long, env = "LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the Lease; defaults to `POD_NAMESPACE`, then the in-cluster namespace, then default.
    #[arg(long, env = "LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Name of the Lease; releases sharing a namespace need one each (the chart uses its
    /// release's full name).
    #[arg(long, env = "LEASE_NAME", default_value = ontap_ipsec_operator::leader::LEASE_NAME)]
    lease_name: String,
    /// Seconds to wait at start for the CustomResourceDefinitions before exiting.
    #[arg(long, env = "CRD_WAIT_SECONDS", default_value_t = 60)]
    crd_wait_seconds: u64,
    /// Watch only this namespace; all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// OntapClusters polled at the same time.
    #[arg(long, env = "MAX_CONCURRENT_POLLS", default_value_t = controller::DEFAULT_MAX_CONCURRENT_POLLS, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_polls: u16,
    /// Most security associations one OntapCluster may list; a cluster listing more is
    /// Stalled (reason `TooManySecurityAssociations`) and nothing of it is written.
    // The default is ontap::config::DEFAULT_MAX_SECURITY_ASSOCIATIONS, which a test compares.
    #[arg(long, env = "MAX_SECURITY_ASSOCIATIONS", default_value = "50000", value_parser = clap::value_parser!(u64).range(1..))]
    max_security_associations: u64,
    /// Refuse OntapClusters whose spec turns TLS verification off or allows plain HTTP: they
    /// are Stalled (reason `InsecureTransportForbidden`) and never polled.
    #[arg(long, env = "FORBID_INSECURE_TRANSPORT")]
    forbid_insecure_transport: bool,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Benchmark baseline only: server-side apply every object on every poll.
    #[arg(long, hide = true)]
    bench_apply_everything: bool,
    /// Name of this process in Events; the Pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

#[derive(Debug, clap::Args)]
struct PollArgs {
    /// Cluster-management endpoint, like <https://cluster1.example.com>
    #[arg(long, env = "ONTAP_ENDPOINT")]
    endpoint: String,
    /// ONTAP user (HTTP Basic).
    #[arg(long, env = "ONTAP_USERNAME")]
    username: String,
    /// File holding the password; otherwise the `ONTAP_PASSWORD` environment variable is used.
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
    /// Which SAs to list: the data (front-end) network's, the cluster interconnect's (ONTAP
    /// 9.19 and later), or all; with all, a cluster that does not serve the cluster network's
    /// is noted on stderr.
    #[arg(long, value_enum, default_value_t = SourceChoice::Data)]
    source: SourceChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceChoice {
    Data,
    Cluster,
    All,
}

impl SourceChoice {
    fn sources(self) -> Vec<&'static MirrorSource> {
        match self {
            Self::Data => vec![&source::DATA],
            Self::Cluster => vec![&source::CLUSTER_NETWORK],
            Self::All => source::ALL.to_vec(),
        }
    }
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
    #[cfg(not(feature = "system-allocator"))]
    if matches!(cli.command, Command::Run(_)) {
        restart_with_allocator_settings();
    }
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
    let mut registry = Registry::default();
    let writes: Arc<WriteCounter> = Arc::default();
    let metrics = Metrics::register(&mut registry, writes.clone());
    let options = RunOptions {
        max_concurrent_polls: args.max_concurrent_polls,
        instance: args.instance.clone(),
        crd_wait: Duration::from_secs(args.crd_wait_seconds),
        apply_everything: args.bench_apply_everything,
        max_security_associations: usize::try_from(args.max_security_associations)
            .unwrap_or(usize::MAX),
        forbid_insecure_transport: args.forbid_insecure_transport,
        ..RunOptions::with_metrics(args.namespace.clone(), writes, metrics)
    };
    let health = http::serve_health(args.health_addr, options.readiness.clone())
        .with_context(|| format!("cannot listen on {}", args.health_addr))?;
    let serving = match args.metrics_auth {
        http::MetricsAuth::None if args.metrics_cert_dir.is_some() => {
            anyhow::bail!("--metrics-cert-dir needs --metrics-auth kubernetes");
        }
        http::MetricsAuth::None => http::MetricsServing::Plain,
        http::MetricsAuth::Kubernetes => http::MetricsServing::Secure {
            certificate: args.metrics_cert_dir.clone().map_or_else(
                || http::tls::CertificateSource::SelfSigned { names: vec![] },
                http::tls::CertificateSource::Directory,
            ),
            authorizer: Arc::new(http::auth::Authorizer::new(client.clone())),
        },
    };
    let bound = http::serve_metrics(args.metrics_addr, Arc::new(registry), serving)
        .await
        .context("cannot serve /metrics")?;
    tracing::info!(?options, metrics = %bound, metrics_auth = ?args.metrics_auth, %health, version = env!("CARGO_PKG_VERSION"), "starting");

    let shutdown = shutdown_signal().shared();
    if !args.leader_elect {
        controller::run(client, options, shutdown).await?;
        return Ok(ExitCode::SUCCESS);
    }

    let lease_namespace = lease_namespace(args.lease_namespace, &client);
    let identity = args
        .instance
        .unwrap_or_else(|| format!("ontap-ipsec-operator-{}", uuid::Uuid::new_v4()));
    let mut candidacy = Candidacy::start(
        client.clone(),
        &lease_namespace,
        &args.lease_name,
        &identity,
    )
    .await
    .context("cannot take part in leader election")?;
    // A healthy standby is ready: it is doing its job, which is to wait.
    options.readiness.set_ready();
    tracing::info!(%identity, namespace = %lease_namespace, lease = %args.lease_name, "waiting to become the leader");
    tokio::select! {
        () = shutdown.clone() => {
            candidacy.release().await;
            return Ok(ExitCode::SUCCESS);
        }
        () = candidacy.acquired() => tracing::info!(%identity, "became the leader"),
    }
    let lost = Candidacy::lost(candidacy.is_leader.clone()).shared();
    let stop = {
        let lost = lost.clone();
        async move {
            tokio::select! {
                () = shutdown => {},
                () = lost => tracing::warn!("lost the lease; stopping"),
            }
        }
    };
    let result = controller::run(client, options, stop.boxed().shared()).await;
    let lost_lease = lost.peek().is_some();
    // Every receiver must be gone for the lease manager to release the Lease.
    drop(lost);
    candidacy.release().await;
    result?;
    // A replica that lost the lease exits so it restarts as a clean standby.
    Ok(if lost_lease {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--lease-namespace`, else `POD_NAMESPACE`, else the client's default (the in-cluster
/// ServiceAccount's namespace, or the kubeconfig context's), which is `default` when unset.
fn lease_namespace(flag: Option<String>, client: &kube::Client) -> String {
    flag.filter(|namespace| !namespace.is_empty())
        .or_else(|| {
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|namespace| !namespace.is_empty())
        })
        .unwrap_or_else(|| client.default_namespace().to_owned())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let kind = tokio::signal::unix::SignalKind::terminate();
        let Ok(mut terminate) = tokio::signal::unix::signal(kind) else {
            let _ = interrupt.await;
            return;
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
        None => {
            std::env::var("ONTAP_PASSWORD").context("give --password-file or set ONTAP_PASSWORD")?
        }
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
            std::fs::read(path)
                .with_context(|| format!("reading the CA file {}", path.display()))?,
        );
    }
    config.tls.server_name = args.tls_server_name;
    config.tls.insecure_skip_verify = args.insecure_skip_tls_verify;
    if config.tls.insecure_skip_verify {
        eprintln!("warning: TLS verification is off; anyone on the path can read the credentials");
    }
    config.timeout = std::time::Duration::from_secs(args.timeout_seconds);

    let client = OntapClient::new(config)?;
    let mut rows = Vec::new();
    for source in args.source.sources() {
        let listing = match client.list(source.path, source.fields, &[]).await {
            Ok(listing) => listing,
            Err(error @ (OntapError::NotFound { .. } | OntapError::Forbidden { .. }))
                if args.source == SourceChoice::All && !source.required =>
            {
                eprintln!("note: {} SAs not listed: {error}", source.network.as_str());
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        rows.extend(poll::rows(source.network, &listing.records));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_association_limit_defaults_to_the_clients_default() {
        let cli = Cli::parse_from(["ontap-ipsec-operator", "run"]);
        let Command::Run(args) = cli.command else {
            panic!("run parses as Run");
        };
        assert_eq!(
            usize::try_from(args.max_security_associations).ok(),
            Some(ontap_ipsec_operator::ontap::config::DEFAULT_MAX_SECURITY_ASSOCIATIONS)
        );
    }

    #[test]
    fn endpoints_listen_on_ipv6_and_ipv4_by_default() {
        let cli = Cli::parse_from(["ontap-ipsec-operator", "run"]);
        let Command::Run(args) = cli.command else {
            panic!("run parses as Run");
        };
        assert_eq!(
            args.metrics_addr,
            ontap_ipsec_operator::net::dual_stack(8080)
        );
        assert_eq!(
            args.health_addr,
            ontap_ipsec_operator::net::dual_stack(8081)
        );
    }

    #[test]
    fn the_lease_name_defaults_to_the_historic_name_and_can_be_set() {
        let parse = |extra: &[&str]| {
            let cli = Cli::parse_from(["ontap-ipsec-operator", "run"].iter().chain(extra));
            let Command::Run(args) = cli.command else {
                panic!("run parses as Run");
            };
            args.lease_name
        };
        assert_eq!(parse(&[]), "ontap-ipsec-operator");
        assert_eq!(parse(&["--lease-name", "tenant-a"]), "tenant-a");
    }
}
