//! The Argo CD health checks and the refresh action: every `health_test.yaml` and
//! `action_test.yaml` case run by the Lua runner, the `argocd-cm` snippet kept identical to the
//! scripts, the runner's sandbox, and the action applied to a live OntapCluster.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use ontap_ipsec_operator::crd::{OntapCluster, REFRESH_ANNOTATION};
use regex::Regex;
use serde_json::{Value, json};

use crate::argocd_cases::{
    ARGOCD_CM, GROUP, ONTAP_CLUSTER, SECURITY_ASSOCIATION, action_script, action_tests,
    discovery_script, health_script, health_tests, kind_dir, read_text, read_yaml,
};
use crate::argocd_lua::{self, HealthStatus, INVALID_HEALTH_STATUS, LuaRunError};
use crate::capture::fetch;
use crate::harness::{CLUSTER, Harness};
use crate::support::k8s::repo_root;
use crate::support::wait;

/// What the refresh action writes: a UTC timestamp to the second.
const REFRESH_VALUE_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$";

/// Runs every case of one kind's `health_test.yaml` against its committed input.
fn run_health_tests(kind: &str) -> usize {
    let script = health_script(kind);
    let tests = health_tests(kind);
    for test in &tests.tests {
        let input = kind_dir(kind).join(&test.input_path);
        let actual = argocd_lua::health(&script, &read_yaml(&input))
            .unwrap_or_else(|error| panic!("{kind}/{}: {error}", test.input_path));
        assert_eq!(actual, test.health_status, "{kind}/{}", test.input_path);
    }
    // Every file in testdata is a case, so none is left unchecked.
    let listed: BTreeSet<String> = tests
        .tests
        .iter()
        .map(|test| test.input_path.clone())
        .collect();
    for entry in std::fs::read_dir(kind_dir(kind).join("testdata")).expect("testdata exists") {
        let name = format!(
            "testdata/{}",
            entry.expect("entry").file_name().to_string_lossy()
        );
        assert!(
            listed.contains(&name),
            "{kind}/{name} is not a case in health_test.yaml"
        );
    }
    tests.tests.len()
}

#[test]
fn every_ontap_cluster_health_case_gives_the_expected_health() {
    assert!(run_health_tests(ONTAP_CLUSTER) >= 8);
}

#[test]
fn every_security_association_health_case_gives_the_expected_health() {
    assert!(run_health_tests(SECURITY_ASSOCIATION) >= 5);
}

/// `actual` equals `expected` except for the refresh annotation, which must be a fresh timestamp.
fn assert_refreshed(actual: &Value, expected: &Value, what: &str) {
    let stamp = actual["metadata"]["annotations"][REFRESH_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no refresh annotation in {actual}"));
    assert!(
        Regex::new(REFRESH_VALUE_PATTERN)
            .expect("pattern")
            .is_match(stamp),
        "{what}: {stamp}"
    );
    let mut actual = actual.clone();
    let mut expected = expected.clone();
    actual["metadata"]["annotations"][REFRESH_ANNOTATION] = Value::Null;
    expected["metadata"]["annotations"][REFRESH_ANNOTATION] = Value::Null;
    assert_eq!(actual, expected, "{what}");
}

#[test]
fn every_action_test_case_discovers_refresh_and_sets_the_refresh_annotation() {
    let tests = action_tests(ONTAP_CLUSTER);
    let actions_dir = kind_dir(ONTAP_CLUSTER).join("actions");
    assert!(!tests.discovery_tests.is_empty() && !tests.action_tests.is_empty());
    for test in &tests.discovery_tests {
        let object = read_yaml(&actions_dir.join(&test.input_path));
        let actual = argocd_lua::discover_actions(&discovery_script(ONTAP_CLUSTER), &object)
            .expect("discovery runs");
        // Argo CD's own test: every discovered action is among the expected ones.
        for action in &actual {
            assert!(
                test.result.contains(action),
                "{}: {action:?} not in {:?}",
                test.input_path,
                test.result
            );
        }
        assert_eq!(actual.len(), test.result.len(), "{}", test.input_path);
    }
    for test in &tests.action_tests {
        let input = read_yaml(&actions_dir.join(&test.input_path));
        let expected = read_yaml(&actions_dir.join(&test.expected_output_path));
        let actual = argocd_lua::run_action(&action_script(ONTAP_CLUSTER, &test.action), &input)
            .expect("action runs");
        assert_refreshed(&actual, &expected, &test.input_path);
    }
}

/// `text` as a YAML block scalar body indented by `indent` spaces.
fn indented(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines()
        .map(|line| {
            if line.is_empty() {
                "\n".to_owned()
            } else {
                format!("{pad}{line}\n")
            }
        })
        .collect()
}

/// The `argocd-cm` snippet for the committed scripts.
fn render_argocd_cm() -> String {
    let mut text = String::from(
        "# Installs the ontap-ipsec-operator health checks and the \"refresh\" action in Argo CD.\n\
         # Generated from integrations/argocd/resource_customizations by\n\
         # `UPDATE_GITOPS_TESTDATA=1 cargo test --test gitops argocd_cm`; merge it into the existing\n\
         # ConfigMap, for example: kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm.yaml\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n    \
         app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n",
    );
    for kind in [ONTAP_CLUSTER, SECURITY_ASSOCIATION] {
        writeln!(text, "  resource.customizations.health.{GROUP}_{kind}: |").expect("strings grow");
        text.push_str(&indented(&health_script(kind), 4));
    }
    writeln!(
        text,
        "  resource.customizations.actions.{GROUP}_{ONTAP_CLUSTER}: |\n    discovery.lua: |"
    )
    .expect("strings grow");
    text.push_str(&indented(&discovery_script(ONTAP_CLUSTER), 6));
    text.push_str("    definitions:\n      - name: refresh\n        action.lua: |\n");
    text.push_str(&indented(&action_script(ONTAP_CLUSTER, "refresh"), 10));
    text
}

#[test]
fn argocd_cm_installs_exactly_the_committed_scripts() {
    let file = repo_root().join(ARGOCD_CM);
    if std::env::var_os("UPDATE_GITOPS_TESTDATA")
        .is_some_and(|value| !value.is_empty() && value != "0")
    {
        std::fs::write(&file, render_argocd_cm()).expect("argocd-cm.yaml written");
    }
    assert!(
        read_text(&file) == render_argocd_cm(),
        "{ARGOCD_CM} differs from the scripts: run `UPDATE_GITOPS_TESTDATA=1 cargo test --test gitops argocd_cm`"
    );
    let config_map = read_yaml(&file);
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["name"], "argocd-cm");
    let data = &config_map["data"];
    for kind in [ONTAP_CLUSTER, SECURITY_ASSOCIATION] {
        let key = format!("resource.customizations.health.{GROUP}_{kind}");
        assert_eq!(
            data[&key].as_str(),
            Some(health_script(kind).as_str()),
            "{key} differs from {kind}/health.lua"
        );
    }
    let key = format!("resource.customizations.actions.{GROUP}_{ONTAP_CLUSTER}");
    let actions: Value = serde_norway::from_str(
        data[&key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing")),
    )
    .expect("actions are YAML");
    assert_eq!(
        actions["discovery.lua"].as_str(),
        Some(discovery_script(ONTAP_CLUSTER).as_str()),
        "discovery.lua differs"
    );
    let definitions = actions["definitions"].as_array().expect("definitions");
    assert_eq!(definitions.len(), 1);
    assert_eq!(definitions[0]["name"], "refresh");
    assert_eq!(
        definitions[0]["action.lua"].as_str(),
        Some(action_script(ONTAP_CLUSTER, "refresh").as_str()),
        "action.lua differs"
    );
    // Nothing else is configured, so the snippet can be merged into an existing argocd-cm.
    assert_eq!(data.as_object().expect("data").len(), 3, "{data}");
}

#[test]
fn the_runner_withholds_the_libraries_argo_cd_withholds() {
    let object = json!({"metadata": {"name": "a"}});
    for script in [
        "return {status = string.format('%s', 'Healthy')}",
        "return {status = ('Healthy'):lower()}",
        "os.execute('true') return {status = 'Healthy'}",
        "io.write('x') return {status = 'Healthy'}",
        "return {status = tostring(math.floor(1))}",
    ] {
        assert!(argocd_lua::health(script, &object).is_err(), "{script} ran");
    }
    let allowed = "local os = require('os') return {status = 'Healthy', message = os.date('!%Y') .. table.concat({'a', 'b'}, ',')}";
    assert_eq!(
        argocd_lua::health(allowed, &object).expect("runs").status,
        "Healthy"
    );
}

#[test]
fn the_runner_decodes_results_as_argo_cd_does() {
    let object = json!({"metadata": {"name": "a", "labels": {}}, "spec": {"n": 3, "gone": null}});
    let invalid = argocd_lua::health("return {status = 'Fine'}", &object).expect("runs");
    assert_eq!(
        invalid,
        HealthStatus {
            status: "Unknown".into(),
            message: INVALID_HEALTH_STATUS.into()
        }
    );
    assert!(matches!(
        argocd_lua::health("return 'Healthy'", &object),
        Err(LuaRunError::NotATable(_))
    ));
    // JSON null arrives as nil; numbers concatenate like integers, as in gopher-lua.
    let numbers = argocd_lua::health(
        "return {status = 'Healthy', message = obj.spec.n .. tostring(obj.spec.gone)}",
        &object,
    )
    .expect("runs");
    assert_eq!(numbers.message, "3nil");
    // An empty table the script leaves alone comes back as an object, not as `[]`.
    let unchanged = argocd_lua::run_action("return obj", &object).expect("runs");
    assert_eq!(
        unchanged,
        json!({"metadata": {"name": "a", "labels": {}}, "spec": {"n": 3}})
    );
    assert!(
        argocd_lua::run_action("local t = {} obj.a = t obj.b = t return obj", &object).is_err(),
        "a table used twice is refused"
    );
    assert!(
        argocd_lua::run_action("while true do end", &object).is_err(),
        "endless scripts are stopped"
    );
}

#[test]
fn the_merge_patch_of_an_action_holds_only_the_change() {
    let original = json!({"metadata": {"name": "a", "annotations": {"x": "1"}}, "spec": {"b": 1}});
    let modified =
        json!({"metadata": {"name": "a", "annotations": {"x": "1", "y": "2"}}, "spec": {}});
    assert_eq!(
        argocd_lua::merge_patch(&original, &modified),
        json!({"metadata": {"annotations": {"y": "2"}}, "spec": {"b": null}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_action_applied_as_argo_cd_applies_it_makes_the_operator_poll_at_once() {
    let records = ontap_sim::generate(1, 1);
    // A poll interval far beyond the test, so only the refresh can cause the next poll.
    let harness = Harness::start(
        "gitops-refresh",
        records.clone(),
        json!({"pollInterval": "1h"}),
    )
    .await;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    let live = fetch::<OntapCluster>(&harness.client, harness.ns(), CLUSTER).await;
    let actions = argocd_lua::discover_actions(&discovery_script(ONTAP_CLUSTER), &live)
        .expect("discovery runs");
    assert_eq!(
        actions
            .iter()
            .map(|action| (action.name.as_str(), action.disabled))
            .collect::<Vec<_>>(),
        [("refresh", false)]
    );

    let before = harness.simulator().state().request_count();
    let modified = argocd_lua::run_action(&action_script(ONTAP_CLUSTER, "refresh"), &live)
        .expect("action runs");
    let patch = argocd_lua::merge_patch(&live, &modified);
    assert_eq!(
        patch
            .as_object()
            .map(|map| map.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["metadata".to_owned()]),
        "{patch}"
    );
    let started = Instant::now();
    harness
        .clusters()
        .patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch applied");
    let polled = wait::until(
        Duration::from_secs(30),
        "a poll after the refresh action",
        || async { harness.simulator().state().request_count() > before },
    )
    .await;
    println!(
        "refresh action: ONTAP polled {polled:?} after the patch ({:?} including the patch)",
        started.elapsed()
    );
    assert!(polled < Duration::from_secs(10), "{polled:?}");
    harness.finish().await;
}
