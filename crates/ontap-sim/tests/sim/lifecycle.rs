//! Starting, stopping and restarting simulators, plain HTTP, certificate names, and the binary.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use ontap_sim::{SimulatorConfig, TlsIdentity};
use serde_json::json;

use crate::support::{
    CLUSTER_NETWORK, PASSWORD, SECURITY_ASSOCIATIONS, Sim, USERNAME, client_trusting, four_records,
    plain_client, send,
};

const SIM_BINARY: &str = env!("CARGO_BIN_EXE_ontap-sim");

#[tokio::test]
async fn shutdown_stops_listening_and_closes_open_connections() {
    let sim = Sim::with_records(four_records()).await;
    assert_eq!(sim.collection("").await.status, StatusCode::OK);
    let addr = sim.running.local_addr();
    let Sim { running, client } = sim;
    running.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );
    let result = client
        .get(format!("https://{addr}{SECURITY_ASSOCIATIONS}"))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await;
    assert!(result.is_err(), "the pooled connection is gone too");
}

#[tokio::test]
async fn simulator_restarts_on_the_same_port() {
    let sim = Sim::with_records(four_records()).await;
    let addr = sim.running.local_addr();
    // Keep a connection open so the old socket lingers in TIME_WAIT after shutdown.
    assert_eq!(sim.collection("").await.status, StatusCode::OK);
    sim.running.shutdown().await;
    let restarted = Sim::start(SimulatorConfig {
        listen: addr,
        records: four_records(),
        ..SimulatorConfig::default()
    })
    .await;
    assert_eq!(restarted.running.local_addr(), addr);
    assert_eq!(restarted.collection("").await.records().len(), 4);
}

#[tokio::test]
async fn restart_with_the_same_tls_identity_keeps_clients_trusting_it() {
    let sim = Sim::with_records(four_records()).await;
    let addr = sim.running.local_addr();
    let identity = sim.running.tls_identity();
    let Sim { running, client } = sim;
    running.shutdown().await;
    let restarted = ontap_sim::start(SimulatorConfig {
        listen: addr,
        records: four_records(),
        tls_identity: Some(identity.clone()),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator restarts");
    assert_eq!(restarted.certificate_pem(), identity.certificate_pem());
    let reply = send(
        client
            .get(format!("{}{SECURITY_ASSOCIATIONS}", restarted.base_url()))
            .basic_auth(USERNAME, Some(PASSWORD)),
    )
    .await;
    assert_eq!(
        reply.records().len(),
        4,
        "the old client still trusts the server"
    );
}

#[tokio::test]
async fn invalid_tls_identity_refuses_to_start() {
    let result = ontap_sim::start(SimulatorConfig {
        tls_identity: Some(TlsIdentity::from_pem("no certificate", "no key")),
        ..SimulatorConfig::default()
    })
    .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let running = ontap_sim::start(SimulatorConfig::default())
        .await
        .expect("simulator starts");
    let addr = running.local_addr();
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn plain_http_serves_the_same_api() {
    let running = ontap_sim::start(SimulatorConfig {
        tls: false,
        records: four_records(),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let base = running.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let reply = send(
        plain_client()
            .get(format!("{base}{SECURITY_ASSOCIATIONS}"))
            .basic_auth(USERNAME, Some(PASSWORD)),
    )
    .await;
    assert_eq!(reply.records().len(), 4);
}

#[tokio::test]
async fn certificate_is_valid_for_localhost_and_the_loopback_address() {
    let sim = Sim::with_records(four_records()).await;
    assert!(sim.running.base_url().starts_with("https://127.0.0.1:"));
    assert!(
        sim.running
            .certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let port = sim.running.local_addr().port();
    let reply = send(
        sim.client
            .get(format!("https://localhost:{port}/api/cluster"))
            .basic_auth(USERNAME, Some(PASSWORD)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn certificate_of_another_simulator_is_not_trusted() {
    let sim = Sim::with_records(four_records()).await;
    let other = ontap_sim::start(SimulatorConfig::default())
        .await
        .expect("simulator starts");
    let stranger = client_trusting(&other.certificate_pem());
    let result = stranger.get(sim.url("/api/cluster")).send().await;
    assert!(
        result.is_err(),
        "a certificate we do not trust must fail the handshake"
    );
}

#[tokio::test]
async fn records_without_uuid_refuse_to_start() {
    let result = ontap_sim::start(SimulatorConfig {
        records: vec![json!({"type": "ike"})],
        ..SimulatorConfig::default()
    })
    .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn busy_port_is_a_bind_error() {
    let sim = Sim::with_records(Vec::new()).await;
    let result = ontap_sim::start(SimulatorConfig {
        listen: sim.running.local_addr(),
        ..SimulatorConfig::default()
    })
    .await;
    let error = result.expect_err("the port is taken");
    assert!(error.to_string().contains("cannot listen"), "{error}");
}

/// A child `ontap-sim` killed on drop, so failing tests leave nothing running.
struct SimProcess {
    child: Child,
    url: String,
}

impl SimProcess {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(SIM_BINARY);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("ontap-sim starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("ontap-sim prints its address");
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, url }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(Instant::now() < deadline, "ontap-sim ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn binary_prints_its_url_writes_its_certificate_and_stops_on_sigterm() {
    let directory = tempfile::tempdir().expect("temp dir");
    let cert = directory.path().join("sim.pem");
    let cert_arg = cert.to_str().expect("utf-8 path");
    let mut process = SimProcess::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert-out",
            cert_arg,
            "--generate",
            "2:2",
        ],
        &[],
    );
    assert!(
        process.url.starts_with("https://127.0.0.1:"),
        "{}",
        process.url
    );
    let pem = std::fs::read_to_string(&cert).expect("certificate written before the line");
    let reply = send(
        client_trusting(&pem)
            .get(format!(
                "{}{SECURITY_ASSOCIATIONS}?return_records=false",
                process.url
            ))
            .basic_auth(USERNAME, Some(PASSWORD)),
    )
    .await;
    assert_eq!(reply.body["num_records"], 8);
    let status = process.terminate();
    assert!(status.success(), "{status:?}");
    let addr: SocketAddr = process
        .url
        .trim_start_matches("https://")
        .parse()
        .expect("url holds an address");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn binary_serves_fixtures_over_plain_http_with_env_password_and_old_version() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fixture = directory.path().join("records.json");
    // An ONTAP response dump works as a fixture too.
    std::fs::write(
        &fixture,
        serde_json::to_vec(&json!({"records": four_records(), "num_records": 4}))
            .expect("serializes"),
    )
    .expect("fixture written");
    let mut process = SimProcess::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--fixture",
            fixture.to_str().expect("utf-8 path"),
            "--ontap-version",
            "9.10.1",
            "--cluster-name",
            "lab",
            "--username",
            "monitor",
        ],
        &[("ONTAP_SIM_PASSWORD", "s3cret")],
    );
    assert!(
        process.url.starts_with("http://127.0.0.1:"),
        "{}",
        process.url
    );
    let client = plain_client();
    let reply = send(
        client
            .get(format!(
                "{}{SECURITY_ASSOCIATIONS}?fields=ike.version&type=ike",
                process.url
            ))
            .basic_auth("monitor", Some("s3cret")),
    )
    .await;
    assert_eq!(reply.records()[0]["ike"]["version"], "2");
    let cluster = send(
        client
            .get(format!("{}/api/cluster", process.url))
            .basic_auth("monitor", Some("s3cret")),
    )
    .await;
    assert_eq!(cluster.body["name"], "lab");
    let refused = send(
        client
            .get(format!("{}/api/cluster", process.url))
            .basic_auth("admin", Some(PASSWORD)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(process.terminate().success());
}

#[tokio::test]
async fn binary_presents_a_given_certificate_and_key() {
    let identity = TlsIdentity::generate("given", Ipv4Addr::LOCALHOST.into()).expect("generates");
    let directory = tempfile::tempdir().expect("temp dir");
    let cert = directory.path().join("given.pem");
    let key = directory.path().join("given.key");
    std::fs::write(&cert, identity.certificate_pem()).expect("certificate written");
    std::fs::write(&key, identity.private_key_pem()).expect("key written");
    let mut process = SimProcess::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ],
        &[],
    );
    let reply = send(
        client_trusting(identity.certificate_pem())
            .get(format!("{}/api/cluster", process.url))
            .basic_auth(USERNAME, Some(PASSWORD)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(process.terminate().success());
}

#[test]
fn binary_rejects_a_malformed_generate_argument() {
    let output = Command::new(SIM_BINARY)
        .args(["--listen", "127.0.0.1:0", "--generate", "two-by-three"])
        .output()
        .expect("ontap-sim runs");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing listened");
    assert!(String::from_utf8_lossy(&output.stderr).contains("NODES:TUNNELS"));
}

#[test]
fn binary_refuses_cluster_network_before_9_19() {
    for version in [&["--ontap-version", "9.18.1"][..], &[]] {
        let output = Command::new(SIM_BINARY)
            .args(["--listen", "127.0.0.1:0", "--cluster-network", "2:3"])
            .args(version)
            .output()
            .expect("ontap-sim runs");
        assert!(!output.status.success(), "{version:?}");
        assert!(output.stdout.is_empty(), "nothing listened");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--cluster-network needs --ontap-version 9.19 or later"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn binary_serves_generated_cluster_network_from_9_19() {
    let mut process = SimProcess::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--ontap-version",
            "9.19.1",
            "--generate",
            "1:1",
            "--cluster-network",
            "2:3",
        ],
        &[],
    );
    let count = |path: &'static str| {
        send(
            plain_client()
                .get(format!("{}{path}?return_records=false", process.url))
                .basic_auth(USERNAME, Some(PASSWORD)),
        )
    };
    assert_eq!(count(CLUSTER_NETWORK).await.body["num_records"], 12);
    assert_eq!(count(SECURITY_ASSOCIATIONS).await.body["num_records"], 2);
    assert!(process.terminate().success());
}

#[test]
fn binary_refuses_a_missing_fixture() {
    let output = Command::new(SIM_BINARY)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--fixture",
            "/nonexistent/records.json",
        ])
        .output()
        .expect("ontap-sim runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read fixture"));
}

#[test]
fn default_listen_address_is_loopback_8443() {
    let output = Command::new(SIM_BINARY)
        .arg("--help")
        .output()
        .expect("ontap-sim runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains(&format!("{}:8443", Ipv4Addr::LOCALHOST)),
        "{help}"
    );
}
