//! The operator runs with mimalloc's settings for a small resident set (`src/main.rs`): set for
//! itself when the environment lacks them, left alone when the user set them.

use std::collections::BTreeMap;

use crate::harness::Harness;
use crate::process::OperatorProcess;
use crate::support::k8s;

/// The `MIMALLOC_*` variables of the running process, read from `/proc`: the pid is the one
/// spawned, since the restart replaces the program in place.
fn mimalloc_environment(operator: &OperatorProcess) -> BTreeMap<String, String> {
    let path = format!("/proc/{}/environ", operator.child.id());
    let environ = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    environ
        .split(|byte| *byte == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .filter_map(|entry| entry.split_once('='))
        .filter(|(name, _)| name.starts_with("MIMALLOC_"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_with_mimallocs_memory_settings_unless_the_user_set_them() {
    // The harness installs the CRDs, without which the operator never becomes ready.
    let harness = Harness::new("allocator", Vec::new()).await;
    let namespace = harness.ns();
    let kubeconfig = k8s::default_admin_kubeconfig_path();
    let operator =
        OperatorProcess::start_with_environment(namespace, "shipped", &kubeconfig, &[], &[]);
    operator.wait_ready().await;
    assert_eq!(
        mimalloc_environment(&operator),
        expected(&[
            ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
            ("MIMALLOC_PURGE_DELAY", "0")
        ]),
        "log {}",
        operator.log.display()
    );

    let chosen = OperatorProcess::start_with_environment(
        namespace,
        "chosen",
        &kubeconfig,
        &[],
        &[("MIMALLOC_PURGE_DELAY", "250")],
    );
    chosen.wait_ready().await;
    assert_eq!(
        mimalloc_environment(&chosen),
        expected(&[
            ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
            ("MIMALLOC_PURGE_DELAY", "250")
        ]),
        "a value the user set is kept; log {}",
        chosen.log.display()
    );
}
