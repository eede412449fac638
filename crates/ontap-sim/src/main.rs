//! The `ontap-sim` binary: serves the ONTAP REST simulator.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use ontap_sim::{
    DEFAULT_CLUSTER_NAME, DEFAULT_PASSWORD, DEFAULT_USERNAME, OntapVersion, RecordSet,
    SimulatorConfig, TlsIdentity,
};
use serde_json::Value;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "ontap-sim",
    version,
    about = "Serves ONTAP's REST API for IPsec security associations, for tests and demos."
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "ONTAP_SIM_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    plain_http: bool,
    /// Write the server's self-signed certificate (PEM) here, for clients to trust.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<PathBuf>,
    /// Present this certificate (PEM) instead of generating one; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// HTTP Basic user name.
    #[arg(long, env = "ONTAP_SIM_USERNAME", default_value = DEFAULT_USERNAME)]
    username: String,
    /// HTTP Basic password.
    #[arg(long, env = "ONTAP_SIM_PASSWORD", default_value = DEFAULT_PASSWORD, hide_env_values = true)]
    password: String,
    /// JSON file with SA records: an array, or an ONTAP response with `records`.
    #[arg(long, value_name = "FILE", conflicts_with = "generate")]
    fixture: Option<PathBuf>,
    #[arg(
        long,
        value_name = "NODES:TUNNELS",
        value_parser = parse_generate,
        help = "Generate NODES nodes with TUNNELS tunnels each (one IKE and one IPsec SA per tunnel)."
    )]
    generate: Option<(usize, usize)>,
    /// Generate cluster-network SAs (ONTAP 9.19's cluster interconnect): NODES nodes with
    /// TUNNELS tunnels each. Needs --ontap-version 9.19 or later.
    #[arg(long, value_name = "NODES:TUNNELS", value_parser = parse_generate)]
    cluster_network: Option<(usize, usize)>,
    /// ONTAP release to impersonate, e.g. 9.14.1 or 9.16.1P3.
    #[arg(long, default_value = "9.14.1")]
    ontap_version: OntapVersion,
    /// Cluster name reported by /api/cluster and used as the certificate's CN.
    #[arg(long, default_value = DEFAULT_CLUSTER_NAME)]
    cluster_name: String,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_generate(value: &str) -> Result<(usize, usize), String> {
    let (nodes, tunnels) = value
        .split_once(':')
        .ok_or_else(|| format!("expected NODES:TUNNELS, got {value:?}"))?;
    let number = |text: &str| {
        text.trim()
            .parse::<usize>()
            .map_err(|error| format!("{text:?} in {value:?}: {error}"))
    };
    Ok((number(nodes)?, number(tunnels)?))
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn read_fixture(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fixture {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("fixture {} is not valid json", path.display()))?;
    match value {
        Value::Array(records) => Ok(records),
        Value::Object(mut response) => match response.remove("records") {
            Some(Value::Array(records)) => Ok(records),
            _ => bail!(
                "fixture {} must be a json array of records or an object with a records array",
                path.display()
            ),
        },
        _ => bail!("fixture {} must be a json array of records", path.display()),
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// SIGINT and SIGTERM handlers, registered before the address is announced so a supervisor that
/// stops the simulator right after reading the line still gets a clean exit.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn register() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.cluster_network.is_some() && !RecordSet::ClusterNetwork.exists_on(&args.ontap_version) {
        bail!(
            "--cluster-network needs --ontap-version 9.19 or later: ONTAP {} has no cluster-network IPsec endpoints",
            args.ontap_version
        );
    }
    init_logging(args.log_format);
    let stop_signals = StopSignals::register()?;
    let records = match (&args.fixture, args.generate) {
        (Some(path), _) => read_fixture(path)?,
        (None, Some((nodes, tunnels))) => ontap_sim::generate(nodes, tunnels),
        (None, None) => Vec::new(),
    };
    let tls_identity = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(TlsIdentity::from_pem(
            read_text(certificate, "certificate")?,
            read_text(key, "private key")?,
        )),
        _ => None,
    };
    let config = SimulatorConfig {
        listen: args.listen,
        tls: !args.plain_http,
        username: args.username,
        password: args.password,
        ontap_version: args.ontap_version,
        cluster_name: args.cluster_name,
        records,
        cluster_network: args
            .cluster_network
            .map(|(nodes, tunnels)| ontap_sim::generate_cluster_network(nodes, tunnels))
            .unwrap_or_default(),
        tls_identity,
    };
    let running = ontap_sim::start(config)
        .await
        .context("cannot start the simulator")?;
    if let Some(path) = &args.cert_out {
        std::fs::write(path, running.certificate_pem())
            .with_context(|| format!("cannot write certificate to {}", path.display()))?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", running.base_url())?;
        stdout.flush()?;
    }
    stop_signals.wait().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
