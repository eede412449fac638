//! The monitoring the chart ships, against a live scrape of the operator polling `ontap-sim`:
//! `/metrics` in the text format 0.0.4 passes `promtool check metrics`; every `PromQL` expression of
//! the Grafana dashboard parses and returns data, and every alert's expression evaluates, in
//! promtool's `PromQL` engine over two real scrapes (`promtool test rules` with the scraped samples
//! as input series).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::process::{OperatorProcess, sample};
use crate::support::k8s;
use crate::support::wait;

const PROMTOOL: &str = "target/prometheus/bin/promtool";
const DASHBOARD: &str = "charts/ontap-ipsec-operator/dashboards/ontap-ipsec-operator.json";
const CHART: &str = "charts/ontap-ipsec-operator";
const HELM: &str = "target/k8s/bin/helm";
const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";
/// What `$__rate_interval` becomes: it spans both scrapes (placed at 0–4m and 5–10m).
const RATE_INTERVAL: &str = "10m";

fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(k8s::repo_root().join(PROMTOOL))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run {PROMTOOL}: {error}; build it with `bash tests/prometheus/build.sh`")
        });
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("promtool reads");
    }
    drop(input);
    child.wait_with_output().expect("promtool finishes")
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// GETs `/metrics` with `accept`; returns the content type and the body.
async fn scrape(operator: &OperatorProcess, accept: Option<&str>) -> (String, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(format!(
        "http://127.0.0.1:{}/metrics",
        operator.metrics_port
    ));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("/metrics answers");
    assert!(response.status().is_success());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, response.text().await.expect("a body"))
}

/// Samples of a text-format scrape: series (as written, a valid `PromQL` selector) to value.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.to_owned()))
        })
        .collect()
}

/// promtool input series from two scrapes: the first at 0–4m, the second at 5–10m, so counters
/// that grew between them have a rate; a series in only one of them is missing (or stale) in
/// the other half, as Prometheus would have stored it.
fn input_series(first: &BTreeMap<String, String>, second: &BTreeMap<String, String>) -> Value {
    let mut names: Vec<&String> = first.keys().chain(second.keys()).collect();
    names.sort();
    names.dedup();
    let series: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let mut values = String::new();
            for minute in 0..=10 {
                let scrape = if minute < 5 { first } else { second };
                let value = match scrape.get(name) {
                    Some(value) => value.as_str(),
                    None if minute == 5 && first.contains_key(name) => "stale",
                    None => "_",
                };
                let _ = write!(values, "{value} ");
            }
            json!({"series": name, "values": values.trim_end()})
        })
        .collect();
    Value::Array(series)
}

/// A dashboard expression as Grafana sends it with every variable at "All".
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", "1m")
        .replace("$namespace", ".*")
        .replace("$ontapcluster", ".*")
        .replace("$Node", ".*")
        .replace("$SVM", ".*")
}

/// Every `PromQL` expression of the dashboard (panel targets and query variables), named.
fn dashboard_expressions() -> Vec<(String, String)> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(k8s::repo_root().join(DASHBOARD)).expect("dashboard readable"),
    )
    .expect("the dashboard parses");
    let mut expressions = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if variable["type"] != "query" {
            continue;
        }
        // label_values(SELECTOR, label): the selector must select something.
        let query = variable["definition"].as_str().expect("a definition");
        let (inner, _) = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .unwrap_or_else(|| panic!("variable query {query} is not label_values(...)"));
        expressions.push((format!("variable {}", variable["name"]), inner.to_owned()));
    }
    let mut panels: Vec<&Value> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        panels.push(panel);
        panels.extend(panel["panels"].as_array().into_iter().flatten());
    }
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            expressions.push((
                format!("panel {} {}", panel["title"], target["refId"]),
                target["expr"].as_str().expect("an expr").to_owned(),
            ));
        }
    }
    assert!(expressions.len() > 10, "{expressions:?}");
    expressions
}

/// The alert expressions of the chart's `PrometheusRule`, rendered with its defaults.
fn alert_expressions() -> Vec<(String, String)> {
    let output = Command::new(k8s::repo_root().join(HELM))
        .args([
            "template",
            "ontap-ipsec-operator",
            CHART,
            "--namespace",
            "ontap-system",
        ])
        .args(["--kube-version", &k8s::built_kubernetes_version()])
        .args(["--api-versions", "monitoring.coreos.com/v1"])
        .args(["--set", "metrics.prometheusRule.enabled=true"])
        .args(["--show-only", "templates/prometheusrule.yaml"])
        .current_dir(k8s::repo_root())
        .output()
        .expect("helm runs");
    assert!(output.status.success(), "{}", output_text(&output));
    let rule: Value = serde_norway::from_slice(&output.stdout).expect("the PrometheusRule parses");
    rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
        .map(|rule| {
            (
                rule["alert"].as_str().expect("an alert").to_owned(),
                rule["expr"].as_str().expect("an expr").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alert_queries_return_data_from_a_live_scrape_that_promtool_accepts() {
    let records = ontap_sim::generate(2, 2);
    let down = records.iter().find(|r| r["type"] == "ike").expect("ike")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let harness = Harness::new("monitoring", records.clone()).await;
    harness
        .simulator()
        .state()
        .patch_record(&down, &json!({"ike": {"state": "connecting"}}))
        .expect("patched");
    harness.create_cluster(CLUSTER, json!({})).await;
    let operator = OperatorProcess::start(harness.ns(), "solo", false);
    operator.wait_ready().await;
    let ns = harness.ns().to_owned();
    let polls = |text: &str| {
        sample(
            text,
            "ontap_ipsec_polls_total",
            &[("namespace", &ns), ("outcome", "success")],
        )
        .unwrap_or(0.0)
    };
    wait::until(WAIT, "a successful poll counted", || async {
        polls(&operator.metrics().await) >= 1.0
    })
    .await;

    // Prometheus gets OpenMetrics; a scraper asking only for text 0.0.4 gets that, and promtool
    // (the expfmt parser and Prometheus's metric lints) accepts it.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, openmetrics) = scrape(&operator, Some(prometheus)).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(openmetrics.ends_with("# EOF\n"));
    let (content_type, first) = scrape(&operator, Some("text/plain;version=0.0.4")).await;
    assert_eq!(content_type, TEXT_004);
    let output = promtool(&["check", "metrics"], Some(&first));
    assert!(
        output.status.success(),
        "promtool check metrics on the live scrape: {}\n{first}",
        output_text(&output)
    );

    // docs/metrics.md lists every family the operator exports.
    let docs = std::fs::read_to_string(k8s::repo_root().join("docs/metrics.md")).expect("docs");
    for family in first
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
    {
        let name = family.split(' ').next().expect("a name");
        assert!(
            docs.contains(&format!("`{name}")),
            "docs/metrics.md does not list {name}"
        );
    }

    let before = polls(&first);
    harness.refresh(CLUSTER).await;
    wait::until(WAIT, "a second poll", || async {
        polls(&operator.metrics().await) > before
    })
    .await;
    let (_, second) = scrape(&operator, Some("text/plain")).await;

    let series = input_series(&samples(&first), &samples(&second));
    let mut expression_tests = Vec::new();
    for (name, expr) in dashboard_expressions() {
        // absent(E) is empty exactly when E returns data.
        expression_tests.push((name, json!({"expr": format!("absent({})", substitute(&expr)), "eval_time": "10m", "exp_samples": []})));
    }
    for (name, expr) in alert_expressions() {
        // Evaluates E on the live series (an error fails the test) and answers {} 0 either way;
        // the tunnel down in the simulator must show in OntapIpsecTunnelDown's expression.
        let test = if name == "OntapIpsecTunnelDown" {
            json!({"expr": format!("absent({expr})"), "eval_time": "10m", "exp_samples": []})
        } else {
            json!({"expr": format!("absent({expr}) * 0 or vector(0)"), "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 0}]})
        };
        expression_tests.push((format!("alert {name}"), test));
    }
    let names: Vec<String> = expression_tests
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let tests = json!({"tests": [{
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": expression_tests.into_iter().map(|(_, test)| test).collect::<Vec<_>>(),
    }]});
    let directory = tempfile::tempdir().expect("a temporary directory");
    let file = directory.path().join("live.test.yaml");
    std::fs::write(
        &file,
        serde_norway::to_string(&tests).expect("tests serialize"),
    )
    .expect("written");
    let output = promtool(&["test", "rules", file.to_str().expect("UTF-8 path")], None);
    assert!(
        output.status.success(),
        "a dashboard or alert expression failed on the live scrape (absent(E) returning a sample means E returned no data): {}\nexpressions: {names:#?}",
        output_text(&output)
    );
    drop(operator);
    harness.finish().await;
}
