//! The chart's `PrometheusRule` through promtool (Prometheus's own rule checker and `PromQL`
//! engine, built by tests/prometheus/build.sh), its runbook links, and the Grafana dashboard's
//! `ConfigMap` and structure. The dashboard's and alerts' `PromQL` against a live scrape is checked
//! in tests/operations/monitoring.rs.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::helm::{Render, documents};
use crate::support::k8s;
use crate::{MONITORING_API_VERSION, TROUBLESHOOTING};

/// promtool, relative to the repository root.
pub const PROMTOOL: &str = "target/prometheus/bin/promtool";
/// The alerts' unit tests; they name `rules.yaml`, which [`rendered_rules`] writes next to them.
const ALERT_TESTS: &str = "tests/prometheus/alerts.test.yaml";
/// Where the metrics, their labels and example queries are documented.
const METRICS_DOCS: &str = "docs/metrics.md";
/// The dashboard the chart ships.
pub const DASHBOARD: &str = "charts/ontap-ipsec-operator/dashboards/ontap-ipsec-operator.json";

fn promtool(args: &[&str]) -> Output {
    Command::new(k8s::repo_root().join(PROMTOOL))
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run {PROMTOOL}: {error}; build it with `bash tests/prometheus/build.sh`")
        })
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The rule groups of the `PrometheusRule` the chart renders with `values` merged over
/// `metrics.prometheusRule.enabled: true`, as a Prometheus rule file. The release is
/// `ontap-ipsec-operator` in `ontap-system`, as alerts.test.yaml expects.
fn rendered_rules(values: Value) -> Value {
    let mut render = Render::new("ontap-ipsec-operator", "ontap-system", values);
    render.values["metrics"]["prometheusRule"]["enabled"] = json!(true);
    render.api_versions.push(MONITORING_API_VERSION.to_owned());
    let rule = documents(&render.render())
        .into_iter()
        .find(|document| document["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    json!({"groups": rule["spec"]["groups"]})
}

fn alerts(rules: &Value) -> Vec<&Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
        .filter(|rule| rule.get("alert").is_some())
        .collect()
}

fn write_rules(directory: &Path, rules: &Value) {
    std::fs::write(
        directory.join("rules.yaml"),
        serde_norway::to_string(rules).expect("rules serialize"),
    )
    .expect("rules.yaml written");
}

#[test]
fn chart_alerts_pass_promtool_check_and_their_unit_tests_firing_and_quiet() {
    let rules = rendered_rules(json!({}));
    let directory = tempfile::tempdir().expect("a temporary directory");
    write_rules(directory.path(), &rules);
    let tests = directory.path().join("alerts.test.yaml");
    std::fs::copy(k8s::repo_root().join(ALERT_TESTS), &tests).expect("tests copied");

    let rules_file = directory.path().join("rules.yaml");
    let output = promtool(&["check", "rules", rules_file.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success(),
        "promtool check rules: {}",
        text(&output)
    );
    let output = promtool(&["test", "rules", tests.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success(),
        "promtool test rules: {}",
        text(&output)
    );

    // Every alert the chart ships has a case where it fires and one where it stays quiet.
    let cases: Value = serde_norway::from_str(
        &std::fs::read_to_string(k8s::repo_root().join(ALERT_TESTS)).expect("tests readable"),
    )
    .expect("tests parse");
    let checks: Vec<&Value> = cases["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|case| case["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    for alert in alerts(&rules) {
        let name = alert["alert"].as_str().expect("alert name");
        let of_alert = |check: &&&Value| check["alertname"] == name;
        let fires = |check: &&Value| {
            check["exp_alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        };
        assert!(
            checks.iter().filter(of_alert).any(&fires),
            "{name} never fires in {ALERT_TESTS}"
        );
        assert!(
            checks.iter().filter(of_alert).any(|check| !fires(check)),
            "{name} is never quiet in {ALERT_TESTS}"
        );
    }
}

#[test]
fn alert_values_reach_the_rendered_rules_and_still_pass_promtool_check() {
    let rules = rendered_rules(json!({"metrics": {"prometheusRule": {
        "tunnelDownFor": "20m", "stalePolls": 7, "peerLookback": "3h",
        "upSelector": "job=\"ontap\"", "pollFailureRatio": 0.5, "severity": "critical",
        "runbookBaseUrl": "https://docs.example/troubleshooting.md",
    }}}));
    let text_of = |name: &str| {
        let alert = alerts(&rules)
            .into_iter()
            .find(|alert| alert["alert"] == name)
            .unwrap_or_else(|| panic!("{name} rendered"));
        assert_eq!(alert["labels"]["severity"], "critical");
        alert.to_string()
    };
    assert!(text_of("OntapIpsecTunnelDown").contains("\"for\":\"20m\""));
    assert!(
        text_of("OntapIpsecNoSuccessfulPoll").contains("7 * ontap_ipsec_poll_interval_seconds")
    );
    assert!(text_of("OntapIpsecPeerSecurityAssociationsGone").contains("ontap_ipsec_sa_up[3h]"));
    assert!(text_of("OntapIpsecOperatorAbsent").contains("absent(up{job=\\\"ontap\\\"} == 1)"));
    assert!(text_of("OntapIpsecPollsFailing").contains("> 0.5"));
    assert!(
        text_of("OntapClusterUnreachable").contains("https://docs.example/troubleshooting.md#")
    );
    let directory = tempfile::tempdir().expect("a temporary directory");
    write_rules(directory.path(), &rules);
    let rules_file = directory.path().join("rules.yaml");
    let output = promtool(&["check", "rules", rules_file.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success(),
        "promtool check rules: {}",
        text(&output)
    );
}

#[test]
fn promql_examples_in_the_metrics_docs_parse() {
    let docs = std::fs::read_to_string(k8s::repo_root().join(METRICS_DOCS)).expect("docs readable");
    let examples: Vec<&str> = docs
        .split("```promql\n")
        .skip(1)
        .map(|block| block.split("```").next().expect("a closed block"))
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    let rules: Vec<Value> = examples
        .iter()
        .enumerate()
        .map(|(i, expr)| json!({"record": format!("docs:example{i}"), "expr": expr}))
        .collect();
    let directory = tempfile::tempdir().expect("a temporary directory");
    write_rules(
        directory.path(),
        &json!({"groups": [{"name": "docs", "rules": rules}]}),
    );
    let rules_file = directory.path().join("rules.yaml");
    let output = promtool(&["check", "rules", rules_file.to_str().expect("UTF-8 path")]);
    assert!(output.status.success(), "{METRICS_DOCS}: {}", text(&output));
}

/// GitHub's anchor of a Markdown heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_url_into_a_troubleshooting_section() {
    let troubleshooting =
        std::fs::read_to_string(k8s::repo_root().join(TROUBLESHOOTING)).expect("docs readable");
    let anchors: Vec<String> = troubleshooting
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect();
    let rules = rendered_rules(json!({}));
    for alert in alerts(&rules) {
        let name = alert["alert"].as_str().expect("name");
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no runbook_url"));
        let (page, fragment) = url.split_once('#').expect("an anchor");
        assert!(page.ends_with("docs/troubleshooting.md"), "{url}");
        assert!(
            anchors.iter().any(|a| a == fragment),
            "{name}: {TROUBLESHOOTING} has no heading with anchor #{fragment}"
        );
    }
}

#[test]
fn grafana_dashboard_ships_as_a_sidecar_config_map_only_when_enabled() {
    let off = Render::new("ontap-ipsec-operator", "ontap-system", json!({})).render();
    assert!(
        !documents(&off).iter().any(|d| d["kind"] == "ConfigMap"
            && d["metadata"]["name"] == "ontap-ipsec-operator-dashboard"),
        "off by default"
    );
    let on = Render::new(
        "ontap-ipsec-operator",
        "ontap-system",
        json!({"metrics": {"grafanaDashboard": {
            "enabled": true, "namespace": "monitoring", "annotations": {"grafana_folder": "ONTAP"},
        }}}),
    )
    .render();
    let config_map = documents(&on)
        .into_iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "ontap-ipsec-operator-dashboard"
        })
        .expect("the dashboard ConfigMap");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(config_map["metadata"]["namespace"], "monitoring");
    assert_eq!(
        config_map["metadata"]["annotations"]["grafana_folder"],
        "ONTAP"
    );
    let shipped: Value = serde_json::from_str(
        config_map["data"]["ontap-ipsec-operator.json"]
            .as_str()
            .expect("the dashboard's JSON"),
    )
    .expect("the shipped dashboard parses");
    let source: Value = serde_json::from_str(
        &std::fs::read_to_string(k8s::repo_root().join(DASHBOARD)).expect("dashboard readable"),
    )
    .expect("the dashboard parses");
    assert_eq!(shipped, source);
}

/// Every panel, those inside rows too.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// The rules of grafana/dashboard-linter that apply here, which is not served as a Go module:
/// a datasource variable every panel and target uses, variables for namespace and ontapcluster
/// (with Harvest's names `Datasource`, `Node`, `SVM`), `$__rate_interval` in every rate,
/// every panel titled and described, ids unique, panels inside the 24-column grid.
#[test]
fn grafana_dashboard_follows_the_dashboard_linter_rules() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(k8s::repo_root().join(DASHBOARD)).expect("dashboard readable"),
    )
    .expect("the dashboard parses");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(variable("Datasource")["type"], "datasource");
    assert_eq!(variable("Datasource")["query"], "prometheus");
    for name in ["namespace", "ontapcluster", "Node", "SVM"] {
        let v = variable(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"]["uid"], "${Datasource}", "{name}");
        assert_eq!(v["allValue"], ".*", "{name}: All must match every value");
    }
    let datasource = json!({"type": "prometheus", "uid": "${Datasource}"});
    let mut ids = std::collections::BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id reused"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (
            grid["x"].as_u64().expect("x"),
            grid["w"].as_u64().expect("w"),
        );
        assert!(x + w <= 24, "{title}: outside the grid");
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            !panel["description"].as_str().unwrap_or_default().is_empty(),
            "{title}: no description"
        );
        assert_eq!(panel["datasource"], datasource, "{title}");
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"], datasource, "{title}");
            let expr = target["expr"].as_str().expect("expr");
            for function in ["rate(", "increase(", "irate("] {
                for (at, _) in expr.match_indices(function) {
                    let rest = &expr[at..];
                    let range = &rest[rest.find('[').expect("a range")..];
                    assert!(
                        range.starts_with("[$__rate_interval]"),
                        "{title}: {expr} must use $__rate_interval"
                    );
                }
            }
        }
    }
}
