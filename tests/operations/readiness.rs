//! `/readyz` before and after the CRDs exist. The shared control plane has them installed, so
//! these tests use a fresh API server (`FreshApiServer`) that has never seen the CRDs.

use std::time::Duration;

use crate::process::OperatorProcess;
use crate::support::{k8s, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_not_ready_before_the_crds_exist_and_ready_after() {
    let server = k8s::FreshApiServer::start().await;
    let kubeconfig = server.kubeconfig.path().to_owned();
    let operator = OperatorProcess::start_with_kubeconfig(
        "default",
        "readiness",
        &kubeconfig,
        &["--crd-wait-seconds", "120"],
    );
    wait::until(Duration::from_secs(30), "readyz answers 503", || async {
        matches!(operator.get("/readyz").await, Some((503, text)) if text.contains("not installed"))
    })
    .await;
    let (_, text) = operator.get("/readyz").await.expect("answers");
    assert!(
        text.contains("kubectl apply --server-side"),
        "says how to install them: {text}"
    );
    assert!(
        matches!(operator.get("/healthz").await, Some((200, _))),
        "alive while not ready"
    );

    server.kubectl(&["apply", "--server-side", "-f", "crds/crds.yaml"]);
    operator.wait_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_make_the_operator_exit_with_how_to_install_them() {
    let server = k8s::FreshApiServer::start().await;
    let mut operator = OperatorProcess::start_with_kubeconfig(
        "default",
        "no-crds",
        server.kubeconfig.path(),
        &["--crd-wait-seconds", "0"],
    );
    let status = operator.child.wait().expect("exits");
    assert!(!status.success());
    let log = operator.log_text();
    assert!(
        log.contains("CustomResourceDefinition is not installed"),
        "{log}"
    );
    assert!(
        log.contains("ontap-ipsec-operator crds | kubectl apply --server-side -f -"),
        "{log}"
    );
}
