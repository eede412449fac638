//! `/metrics` for those allowed to read it: the chart's default `metrics.auth: kubernetes`, with
//! the operator running on the chart's `ServiceAccount` token (its `TokenReview` and
//! `SubjectAccessReview` rights come from the chart) and readers bound to the chart's
//! `<release>-ontap-ipsec-operator-metrics-reader` `ClusterRole`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::PROPAGATION;
use crate::helm::{Render, documents};
use crate::mirror::Mirror;
use crate::release::unique_release;
use crate::support::k8s::service_account_token;

/// A `ServiceAccount` the release binds to the reader `ClusterRole` (`metrics.readers`).
const READER: &str = "prometheus";
/// A `ServiceAccount` with no binding at all.
const STRANGER: &str = "stranger";
/// Outlasts the operator's cache of refusals (10 s) once the reader's binding has propagated.
const READER_WAIT: Duration = Duration::from_secs(PROPAGATION.as_secs() + 15);

/// A client that accepts the operator's self-signed certificate, as the chart's `ServiceMonitor`
/// does by default (`tlsConfig.insecureSkipVerify`).
fn https_client() -> reqwest::Client {
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

async fn scrape(port: u16, token: Option<&str>) -> (u16, String) {
    let mut request = https_client().get(format!("https://127.0.0.1:{port}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .expect("the metrics port answers over HTTPS");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn metrics_answer_a_reader_token_refuse_others_and_ask_for_one() {
    let mirror = Mirror::start(
        "chart-metrics-auth",
        |namespace| {
            json!({"metrics": {"readers": [
                {"kind": "ServiceAccount", "name": READER, "namespace": namespace},
            ]}})
        },
        &["--metrics-auth", "kubernetes"],
        &[],
    )
    .await;
    let ns = mirror.release.ns().to_owned();
    let admin = mirror.release.client.clone();
    let reader = service_account_token(&admin, &ns, READER).await;
    let stranger = service_account_token(&admin, &ns, STRANGER).await;
    mirror.wait_for_complete_mirror().await;
    let (metrics_port, health_port) = mirror.ports();

    // RBAC reaches the authorizer a moment after the apply; a refusal is cached for 10 s.
    let deadline = Instant::now() + READER_WAIT;
    let allowed = loop {
        match scrape(metrics_port, Some(&reader)).await {
            (200, text) => break text,
            (status, text) => assert!(
                Instant::now() < deadline,
                "the reader's token still gets {status} after {READER_WAIT:?}: {text}"
            ),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(
        allowed.contains(&format!("ontap_ipsec_sa_up{{namespace=\"{ns}\"")),
        "{allowed}"
    );

    let (status, text) = scrape(metrics_port, Some(&stranger)).await;
    assert_eq!(status, 403, "a token without the reader role: {text}");
    assert!(!text.contains("ontap_ipsec"), "{text}");
    let (status, text) = scrape(metrics_port, None).await;
    assert_eq!(status, 401, "no token: {text}");
    assert!(!text.contains("ontap_ipsec"), "{text}");
    let (status, _) = scrape(metrics_port, Some("not-a-token")).await;
    assert_eq!(status, 401, "a token the API server does not know");

    // Nothing is served in clear on the metrics port; the probes stay plain HTTP.
    let plain = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    assert!(
        !matches!(&plain, Ok(response) if response.status().is_success()),
        "{plain:?}"
    );
    let health = reqwest::get(format!("http://127.0.0.1:{health_port}/readyz"))
        .await
        .expect("the health port answers");
    assert_eq!(health.status().as_u16(), 200);
    mirror.finish().await;
}

#[test]
fn scraping_follows_metrics_auth() {
    let secure = Render::new(&unique_release(), "monitoring-test", json!({}));
    let mut plain = secure.clone();
    plain.values = json!({"metrics": {"auth": "none"}});
    for render in [&secure, &plain] {
        let render = {
            let mut render = render.clone();
            render.values["metrics"]["serviceMonitor"] = json!({"enabled": true});
            render
                .api_versions
                .push(crate::MONITORING_API_VERSION.to_owned());
            render
        };
        let manifest = render.render();
        let documents = documents(&manifest);
        let auth = render.values["metrics"]["auth"]
            .as_str()
            .unwrap_or("kubernetes");
        let deployment = documents
            .iter()
            .find(|document| document["kind"] == "Deployment")
            .expect("a Deployment");
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(args.contains(&format!("--metrics-auth={auth}")), "{args}");
        assert!(args.contains("--health-addr=[::]:8081"), "{args}");
        let endpoint = &documents
            .iter()
            .find(|document| document["kind"] == "ServiceMonitor")
            .expect("a ServiceMonitor")["spec"]["endpoints"][0];
        let roles: Vec<String> = documents
            .iter()
            .filter(|document| document["kind"] == "ClusterRole")
            .filter_map(|document| document["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let reader_role = roles.iter().any(|name| name.ends_with("-metrics-reader"));
        let review_role = roles.iter().any(|name| name.ends_with("-metrics-auth"));
        if auth == "kubernetes" {
            assert_eq!(endpoint["scheme"], "https", "{endpoint}");
            assert_eq!(
                endpoint["bearerTokenFile"],
                "/var/run/secrets/kubernetes.io/serviceaccount/token"
            );
            assert_eq!(endpoint["tlsConfig"]["insecureSkipVerify"], true);
            assert!(reader_role && review_role, "{roles:?}");
            let reader_rules = documents
                .iter()
                .find(|document| {
                    document["kind"] == "ClusterRole"
                        && document["metadata"]["name"]
                            .as_str()
                            .is_some_and(|name| name.ends_with("-metrics-reader"))
                })
                .expect("the reader role")["rules"]
                .clone();
            assert_eq!(
                reader_rules,
                json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
            );
        } else {
            assert!(endpoint.get("scheme").is_none(), "{endpoint}");
            assert!(endpoint.get("bearerTokenFile").is_none(), "{endpoint}");
            assert!(!reader_role && !review_role, "{roles:?}");
        }
    }
}
