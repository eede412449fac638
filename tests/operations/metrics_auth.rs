//! `--metrics-auth kubernetes` with `--metrics-cert-dir`: `/metrics` over HTTPS with the
//! certificate from the directory, asking for a token; and the flag combination refused without
//! it. Readers, strangers and the chart's RBAC are in `tests/chart/metrics_auth.rs`.

use std::time::Duration;

use ontap_ipsec_operator::http::tls::{CERTIFICATE_FILE, KEY_FILE, self_signed};

use crate::harness::Harness;
use crate::process::OperatorProcess;
use crate::support::k8s;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_with_the_certificate_from_the_directory_and_want_a_token() {
    let harness = Harness::new("metrics-cert", vec![]).await;
    let directory = tempfile::tempdir().expect("tempdir");
    let (certificate, key) = self_signed(&[]).expect("a certificate");
    std::fs::write(directory.path().join(CERTIFICATE_FILE), &certificate).expect("write");
    std::fs::write(directory.path().join(KEY_FILE), &key).expect("write");
    let cert_dir = directory.path().to_str().expect("UTF-8 path").to_owned();
    let operator = OperatorProcess::start_with_kubeconfig(
        harness.ns(),
        "metrics-cert",
        &k8s::default_admin_kubeconfig_path(),
        &[
            "--metrics-auth",
            "kubernetes",
            "--metrics-cert-dir",
            &cert_dir,
        ],
    );
    operator.wait_ready().await;

    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    // Only the directory's certificate is trusted, and the name is checked.
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certificate.as_bytes()).expect("a PEM certificate"),
        )
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    let url = format!("https://localhost:{}/metrics", operator.metrics_port);
    // The operator is ready before its metrics port may be: retry the connection briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let response = loop {
        match client.get(&url).send().await {
            Ok(response) => break response,
            Err(error) => assert!(
                std::time::Instant::now() < deadline,
                "/metrics does not answer over HTTPS: {error:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok()),
        Some("Bearer realm=\"ontap-ipsec-operator\"")
    );
    let text = response.text().await.unwrap_or_default();
    assert!(!text.contains("ontap_ipsec"), "{text}");
    let response = client
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status().as_u16(),
        401,
        "a token the API server does not know"
    );
    drop(operator);
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_directory_without_metrics_auth_is_refused_at_start() {
    let directory = tempfile::tempdir().expect("tempdir");
    let cert_dir = directory.path().to_str().expect("UTF-8 path").to_owned();
    let mut operator = OperatorProcess::start_with_kubeconfig(
        "default",
        "cert-dir-without-auth",
        &k8s::default_admin_kubeconfig_path(),
        &["--metrics-cert-dir", &cert_dir],
    );
    let status = operator.child.wait().expect("exits");
    assert!(!status.success());
    assert!(
        operator
            .log_text()
            .contains("--metrics-cert-dir needs --metrics-auth kubernetes"),
        "{}",
        operator.log_text()
    );
}
