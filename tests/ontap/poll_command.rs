//! `ontap-ipsec-operator poll` as a user runs it: a real process against the simulator.

use std::process::{Command, Output};

use ontap_sim::{RunningSimulator, SimulatorConfig};
use serde_json::json;

use super::simulator_from;

fn fixture() -> Vec<serde_json::Value> {
    vec![
        json!({"uuid": "11111111-0000-0000-0000-000000000001", "type": "ike", "scope": "svm",
            "svm": {"name": "vs0"}, "node": {"name": "c1-01"}, "policy_name": "p1",
            "local_address": "10.0.0.1", "remote_address": "10.0.0.2",
            "ike": {"state": "established", "version": 2}}),
        json!({"uuid": "11111111-0000-0000-0000-000000000002", "type": "ipsec", "scope": "svm",
            "svm": {"name": "vs0"}, "node": {"name": "c1-01"}, "policy_name": "p1",
            "local_address": "10.0.0.1", "remote_address": "10.0.0.2",
            "ipsec": {"state": "installed"}}),
        json!({"uuid": "11111111-0000-0000-0000-000000000003", "type": "ike", "scope": "cluster",
            "node": {"name": "c1-02"}, "policy_name": "p2",
            "local_address": "fd00::1", "remote_address": "fd00::9",
            "ike": {"state": "connecting", "version": 2}}),
    ]
}

struct Poll {
    simulator: RunningSimulator,
    ca_file: tempfile::NamedTempFile,
}

impl Poll {
    async fn start(records: Vec<serde_json::Value>) -> Self {
        Self::start_from(SimulatorConfig {
            records,
            ..SimulatorConfig::default()
        })
        .await
    }

    async fn start_from(config: SimulatorConfig) -> Self {
        let (simulator, _) = simulator_from(config).await;
        let ca_file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(ca_file.path(), simulator.certificate_pem()).expect("write CA");
        Self { simulator, ca_file }
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ontap-ipsec-operator"));
        command
            .args(["poll", "--endpoint", &self.simulator.base_url()])
            .args(["--username", ontap_sim::DEFAULT_USERNAME])
            .env("ONTAP_PASSWORD", ontap_sim::DEFAULT_PASSWORD)
            .args(extra);
        command.output().expect("poll runs")
    }

    fn ca(&self) -> String {
        self.ca_file.path().display().to_string()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_prints_one_table_row_per_sa_with_its_health() {
    let poll = Poll::start(fixture()).await;
    let output = poll.run(&["--ca-file", &poll.ca()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("NETWORK"), "{text}");
    for header in [
        "TYPE", "NODE", "SVM", "POLICY", "LOCAL", "REMOTE", "STATE", "HEALTHY",
    ] {
        assert!(lines[0].contains(header), "{text}");
    }
    assert!(
        lines[1].contains("established") && lines[1].ends_with("True"),
        "{text}"
    );
    assert!(
        lines[2].contains("installed") && lines[2].ends_with("True"),
        "{text}"
    );
    assert!(
        lines[3].contains("fd00::9") && lines[3].ends_with("False"),
        "{text}"
    );
    poll.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_json_output_carries_health_and_reason() {
    let poll = Poll::start(fixture()).await;
    let output = poll.run(&["--ca-file", &poll.ca(), "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["healthy"], "False");
    assert_eq!(rows[2]["reason"], "Connecting");
    assert_eq!(rows[0]["svm"], "vs0");
    let yaml = poll.run(&["--ca-file", &poll.ca(), "-o", "yaml"]);
    assert!(
        stdout(&yaml).contains("reason: Connecting"),
        "{}",
        stdout(&yaml)
    );
    poll.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_unhealthy_exits_non_zero_only_when_an_sa_is_unhealthy() {
    let poll = Poll::start(fixture()).await;
    let unhealthy = poll.run(&["--ca-file", &poll.ca(), "--fail-unhealthy"]);
    assert_eq!(unhealthy.status.code(), Some(1), "{}", stderr(&unhealthy));
    assert!(stderr(&unhealthy).contains("1 of 3 SAs are not healthy"));
    let without_flag = poll.run(&["--ca-file", &poll.ca()]);
    assert_eq!(without_flag.status.code(), Some(0));
    poll.simulator
        .state()
        .patch_record(
            "11111111-0000-0000-0000-000000000003",
            &json!({"ike": {"state": "established"}}),
        )
        .expect("patch");
    let healthy = poll.run(&["--ca-file", &poll.ca(), "--fail-unhealthy"]);
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));
    poll.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_refuses_an_untrusted_certificate_by_default() {
    let poll = Poll::start(fixture()).await;
    let output = poll.run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("TLS"), "{message}");
    let insecure = poll.run(&["--insecure-skip-tls-verify"]);
    assert!(insecure.status.success(), "{}", stderr(&insecure));
    assert!(stderr(&insecure).contains("warning: TLS verification is off"));
    poll.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_reports_a_wrong_password_clearly() {
    let poll = Poll::start(fixture()).await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_ontap-ipsec-operator"));
    let output = command
        .args([
            "poll",
            "--endpoint",
            &poll.simulator.base_url(),
            "--username",
            "admin",
        ])
        .args(["--ca-file", &poll.ca()])
        .env("ONTAP_PASSWORD", "wrong")
        .output()
        .expect("poll runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("rejected the credentials"),
        "{}",
        stderr(&output)
    );
    poll.simulator.shutdown().await;
}

/// The networks of the rows `poll -o json` printed.
fn networks(output: &Output) -> Vec<String> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("json rows");
    rows.iter()
        .map(|row| row["network"].as_str().expect("network").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_source_chooses_the_data_network_the_interconnect_or_both() {
    let interconnect = ontap_sim::generate_cluster_network(1, 1);
    let poll = Poll::start_from(SimulatorConfig {
        ontap_version: "9.19.1".parse().expect("version"),
        records: fixture(),
        cluster_network: interconnect.clone(),
        ..SimulatorConfig::default()
    })
    .await;
    let run = |source: &str| poll.run(&["--ca-file", &poll.ca(), "-o", "json", "--source", source]);
    let data = run("data");
    assert!(data.status.success(), "{}", stderr(&data));
    assert_eq!(networks(&data), vec!["data"; fixture().len()]);
    let cluster = run("cluster");
    assert!(cluster.status.success(), "{}", stderr(&cluster));
    assert_eq!(networks(&cluster), vec!["cluster"; interconnect.len()]);
    let all = run("all");
    assert_eq!(networks(&all).len(), fixture().len() + interconnect.len());
    let default = poll.run(&["--ca-file", &poll.ca(), "-o", "json"]);
    assert_eq!(networks(&default), networks(&data), "data unless asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_source_all_notes_an_older_release_and_source_cluster_fails_on_it() {
    let poll = Poll::start(fixture()).await;
    let all = poll.run(&["--ca-file", &poll.ca(), "-o", "json", "--source", "all"]);
    assert!(all.status.success(), "{}", stderr(&all));
    assert_eq!(networks(&all), vec!["data"; fixture().len()]);
    assert!(
        stderr(&all).contains("cluster SAs not listed"),
        "{}",
        stderr(&all)
    );
    let cluster = poll.run(&["--ca-file", &poll.ca(), "--source", "cluster"]);
    assert_eq!(cluster.status.code(), Some(2), "{}", stderr(&cluster));
}
