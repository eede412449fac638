//! The committed test data is what the operator produces today: the operator is driven through
//! every case on the control plane, each object is compared with its committed file (or written
//! there with `UPDATE_GITOPS_TESTDATA=1`), and the Argo CD health checks, the refresh action's
//! discovery and the Flux expressions are run against the live objects themselves.

use std::collections::BTreeMap;
use std::path::Path;

use ontap_ipsec_operator::crd::REFRESH_ANNOTATION;
use serde_json::Value;

use crate::argocd_cases::{
    ONTAP_CLUSTER, SECURITY_ASSOCIATION, discovery_script, health_script, health_tests, kind_dir,
    read_yaml,
};
use crate::argocd_lua::{self, HealthStatus};
use crate::capture::{self, ASSOCIATION_CASES, CLUSTER_CASES, Captured};
use crate::flux;
use crate::normalize::{FIXED_REFRESH, testdata_yaml};

/// Set to write the captured objects to the test data files instead of comparing.
const UPDATE_ENV: &str = "UPDATE_GITOPS_TESTDATA";
const UPDATE_HINT: &str = "the operator's objects changed: review, then run `UPDATE_GITOPS_TESTDATA=1 cargo test --test gitops live` and commit the test data";
/// Inputs of the refresh action's tests, copied from the OntapCluster cases.
const ACTION_INPUTS: [&str; 2] = ["healthy", "suspended"];

fn updating() -> bool {
    std::env::var_os(UPDATE_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

/// Writes `object` to `file` when updating, otherwise checks that `file` holds exactly it.
fn write_or_compare(file: &Path, object: &Value) {
    if updating() {
        std::fs::write(file, testdata_yaml(object))
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", file.display()));
        return;
    }
    assert!(
        file.exists(),
        "{} is missing; {UPDATE_HINT}",
        file.display()
    );
    let committed = read_yaml(file);
    assert!(
        &committed == object,
        "{} differs from the live object; {UPDATE_HINT}\ncommitted:\n{}\nlive:\n{}",
        file.display(),
        serde_norway::to_string(&committed).unwrap_or_default(),
        serde_norway::to_string(object).unwrap_or_default(),
    );
}

/// Checks one kind: test data, the health of every live object, and that the cases listed in
/// `health_test.yaml` are exactly the captured ones.
fn check_kind(kind: &str, objects: &BTreeMap<&'static str, Value>, captured: &Captured) {
    let script = health_script(kind);
    let tests = health_tests(kind);
    let expected: BTreeMap<String, HealthStatus> = tests
        .tests
        .iter()
        .map(|test| (test.input_path.clone(), test.health_status.clone()))
        .collect();
    for (case, live) in objects {
        write_or_compare(
            &kind_dir(kind).join(format!("testdata/{case}.yaml")),
            &captured.normalizer.object(live),
        );
    }
    let listed: Vec<&String> = expected.keys().collect();
    let mut captured_paths: Vec<String> = objects
        .keys()
        .map(|case| format!("testdata/{case}.yaml"))
        .collect();
    captured_paths.sort();
    assert_eq!(
        listed,
        captured_paths.iter().collect::<Vec<_>>(),
        "{kind}: health_test.yaml must list exactly the captured cases"
    );
    let mut wrong = Vec::new();
    for (case, live) in objects {
        let relative = format!("testdata/{case}.yaml");
        let mut health = argocd_lua::health(&script, live)
            .unwrap_or_else(|error| panic!("{kind}/{case} live: {error}"));
        health.message = captured.normalizer.text(&health.message);
        if health != expected[&relative] {
            wrong.push(format!(
                "{kind}/{case}: live {health:?}, health_test.yaml {:?}",
                expected[&relative]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "health of live objects:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_objects_match_the_committed_cases_and_get_the_expected_health_and_flux_status() {
    let captured = capture::capture().await;
    assert_eq!(
        captured.clusters.keys().copied().collect::<Vec<_>>().len(),
        CLUSTER_CASES.len()
    );
    assert_eq!(
        captured
            .associations
            .keys()
            .copied()
            .collect::<Vec<_>>()
            .len(),
        ASSOCIATION_CASES.len()
    );
    check_kind(ONTAP_CLUSTER, &captured.clusters, &captured);
    check_kind(SECURITY_ASSOCIATION, &captured.associations, &captured);

    for (case, live) in &captured.clusters {
        flux::check_cluster(case, live, &format!("live OntapCluster {case}"));
    }
    for (case, live) in &captured.associations {
        flux::check_association(case, live, &format!("live IpsecSecurityAssociation {case}"));
    }

    // The refresh action is offered on live objects, and disabled while polling is suspended.
    let discovery = discovery_script(ONTAP_CLUSTER);
    for (case, disabled) in [("healthy", false), ("suspended", true)] {
        let actions = argocd_lua::discover_actions(&discovery, &captured.clusters[case])
            .expect("discovery runs");
        assert_eq!(actions.len(), 1, "{case}");
        assert_eq!(
            (actions[0].name.as_str(), actions[0].disabled),
            ("refresh", disabled),
            "{case}"
        );
    }

    // The action tests' inputs are live objects too; the expected output adds the annotation.
    let actions_data = kind_dir(ONTAP_CLUSTER).join("actions").join("testdata");
    for case in ACTION_INPUTS {
        let input = captured.normalizer.object(&captured.clusters[case]);
        let mut refreshed = input.clone();
        refreshed["metadata"]["annotations"][REFRESH_ANNOTATION] = Value::from(FIXED_REFRESH);
        write_or_compare(&actions_data.join(format!("{case}.yaml")), &input);
        write_or_compare(
            &actions_data.join(format!("{case}-refreshed.yaml")),
            &refreshed,
        );
    }
}
