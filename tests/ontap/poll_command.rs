//! `ontap-ipsec-operator poll` as a user runs it: a real process against the simulator.

use std::process::{Command, Output};

use ontap_sim::RunningSimulator;
use serde_json::json;

use super::simulator_with;

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
        let (simulator, _) = simulator_with(records).await;
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
    assert!(lines[0].starts_with("TYPE"), "{text}");
    for header in [
        "NODE", "SVM", "POLICY", "LOCAL", "REMOTE", "STATE", "HEALTHY",
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
