//! The tunnel-triggered workload examples: their `kubectl wait` commands run against mirrored SAs
//! on the control plane (returning when the tunnel comes up or goes down, timing out otherwise),
//! and the manifests pass a server-side dry run.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::capture::wait_association;
use crate::harness::{CLUSTER, Harness};
use crate::manifests::{WORKLOADS, container_command, documents, path, server_dry_run, yaml_files};
use crate::support::k8s::{self, TestNamespace};

/// The peer the examples wait for.
const PEER: &str = "198.51.100.7";
/// How long a wait that must time out is given.
const SHORT_TIMEOUT: &str = "--timeout=5s";
/// How long a wait that must succeed is given.
const LONG_TIMEOUT: &str = "--timeout=90s";

fn workload(file: &str, kind: &str) -> Value {
    documents(&path(WORKLOADS).join(file))
        .into_iter()
        .find(|document| document["kind"] == kind)
        .unwrap_or_else(|| panic!("{file} has no {kind}"))
}

/// The example's command run by the control plane's kubectl in `namespace` (the pod's own
/// namespace in a cluster), with its timeout replaced by `timeout` (the last flag wins).
fn command(words: &[String], namespace: &str, timeout: &str) -> std::process::Command {
    assert_eq!(
        words.first().map(String::as_str),
        Some("kubectl"),
        "{words:?}"
    );
    let mut command = k8s::kubectl_command();
    command
        .args(&words[1..])
        .args(["--namespace", namespace, timeout]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a wait that must time out, and returns how long it took.
fn expect_timeout(words: &[String], namespace: &str) -> Duration {
    let started = Instant::now();
    let output = command(words, namespace, SHORT_TIMEOUT)
        .output()
        .expect("kubectl runs");
    let elapsed = started.elapsed();
    assert!(
        !output.status.success(),
        "{words:?} returned early: {}",
        text(&output)
    );
    assert!(text(&output).contains("timed out"), "{}", text(&output));
    assert!(elapsed >= Duration::from_secs(5), "{elapsed:?}");
    elapsed
}

/// Waits for a spawned `kubectl wait` to exit, up to two minutes.
async fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("child state").is_none() {
        assert!(Instant::now() < deadline, "kubectl wait did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.wait_with_output().expect("output")
}

async fn set_ike_state(harness: &Harness, record: &Value, state: &str) {
    let uuid = record["uuid"].as_str().expect("uuid");
    harness
        .simulator()
        .state()
        .patch_record(uuid, &json!({"ike": {"state": state}}))
        .expect("patched");
    harness.refresh(CLUSTER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubectl_wait_examples_return_when_the_tunnel_changes_and_time_out_otherwise() {
    // The first tunnel goes to the examples' peer and starts down; the second stays up throughout.
    let mut records = ontap_sim::generate(1, 2);
    for record in records.iter_mut().take(2) {
        record["remote_address"] = PEER.into();
    }
    records[0]["ike"]["state"] = "connecting".into();
    let harness = Harness::start(
        "gitops-wait",
        records.clone(),
        json!({"pollInterval": "1h"}),
    )
    .await;
    harness.wait_for_mirror(records.len()).await;
    wait_association(&harness, &records[0], "False", "Connecting").await;
    let namespace = harness.ns().to_owned();

    let up = container_command(&workload("wait-for-tunnel-up-job.yaml", "Job"), "wait");
    let down = container_command(
        &workload("wait-for-tunnel-down-job.yaml", "Job"),
        "wait-for-tunnel-down",
    );
    let init = container_command(
        &workload("init-container-deployment.yaml", "Deployment"),
        "wait-for-tunnel",
    );
    assert!(up.contains(&"--for=condition=Ready".to_owned()), "{up:?}");
    assert!(
        down.contains(&"--for=condition=Ready=False".to_owned()),
        "{down:?}"
    );
    let without_timeout = |words: &[String]| {
        words
            .iter()
            .filter(|word| !word.starts_with("--timeout"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_timeout(&init),
        without_timeout(&up),
        "the init container waits exactly as the Job does"
    );

    // Down: waiting for it to come up times out; waiting for it to go down returns at once.
    let timed_out = expect_timeout(&up, &namespace);
    let output = command(&down, &namespace, LONG_TIMEOUT)
        .output()
        .expect("kubectl runs");
    assert!(output.status.success(), "{}", text(&output));

    // It comes up while the example waits.
    let child = command(&up, &namespace, LONG_TIMEOUT)
        .spawn()
        .expect("kubectl starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let changed = Instant::now();
    set_ike_state(&harness, &records[0], "established").await;
    let output = finish(child).await;
    let came_up = changed.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("condition met").count(),
        2,
        "both SAs to the peer: {stdout}"
    );

    // Up: waiting for it to go down times out, until it goes down while the example waits.
    expect_timeout(&down, &namespace);
    let child = command(&down, &namespace, LONG_TIMEOUT)
        .spawn()
        .expect("kubectl starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let changed = Instant::now();
    set_ike_state(&harness, &records[0], "dead_peer_probe").await;
    let output = finish(child).await;
    let went_down = changed.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .matches("condition met")
            .count(),
        1,
        "only the IKE SA"
    );
    println!(
        "kubectl wait: timed out after {timed_out:?}; returned {came_up:?} after the tunnel came up, {went_down:?} after it went down"
    );
    assert!(came_up < Duration::from_secs(15) && went_down < Duration::from_secs(15));
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_manifests_pass_a_server_side_dry_run() {
    let client = k8s::client().await;
    let namespace = TestNamespace::create(&client, "gitops-dry-run").await;
    let files = yaml_files(WORKLOADS);
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let output = server_dry_run(&file, namespace.name())
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        println!("{}: {}", file.display(), output.trim());
    }
    namespace.cleanup().await;
}
