//! The operator reads a Secret's data only when its `resourceVersion` changed: each poll asks the
//! API server for the Secrets' metadata alone. Observed on the wire, through a client that
//! records every request the controller sends.

use std::sync::{Arc, Mutex};

use http::Request;
use kube::client::{Body, ClientBuilder};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use tower::ServiceBuilder;

use crate::harness::{CLUSTER, CREDENTIALS, Harness, WAIT};
use crate::support::k8s;
use crate::support::wait;

/// `GET`s of one Secret, split by whether they asked for metadata only.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SecretGets {
    metadata: usize,
    full: usize,
}

/// A client for the admin kubeconfig that records the path and `Accept` header of every GET.
async fn recording_client() -> (kube::Client, Arc<Mutex<Vec<(String, String)>>>) {
    k8s::install_crypto_provider();
    let kubeconfig: Kubeconfig = k8s::admin_kubeconfig();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("admin kubeconfig");
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    let layer = ServiceBuilder::new().map_request(move |request: Request<Body>| {
        if request.method() == http::Method::GET {
            let accept = request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            recorder
                .lock()
                .expect("lock")
                .push((request.uri().path().to_owned(), accept));
        }
        request
    });
    let client = ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&layer)
        .build();
    (client, seen)
}

fn secret_gets(seen: &Mutex<Vec<(String, String)>>, namespace: &str) -> SecretGets {
    let path = format!("/api/v1/namespaces/{namespace}/secrets/{CREDENTIALS}");
    let seen = seen.lock().expect("lock");
    let mut gets = SecretGets::default();
    for (_, accept) in seen.iter().filter(|(requested, _)| *requested == path) {
        if accept.contains("as=PartialObjectMetadata") {
            gets.metadata += 1;
        } else {
            gets.full += 1;
        }
    }
    gets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_read_again_only_after_it_changed() {
    k8s::apply_crds();
    let (client, seen) = recording_client().await;
    let records = ontap_sim::generate(1, 2);
    let mut harness = Harness::new_with_client(client, "secret-reads", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();
    harness.wait_for_mirror(records.len()).await;
    harness.wait_for_polls(3).await;
    let namespace = harness.ns().to_owned();
    let before = secret_gets(&seen, &namespace);
    assert_eq!(before.full, 1, "read once: {before:?}");
    assert!(
        before.metadata >= 3,
        "one metadata look-up per poll: {before:?}"
    );

    // A rotation (same password, new resourceVersion) is read by the next poll, once.
    harness
        .put_secret(
            CREDENTIALS,
            &[
                ("username", ontap_sim::DEFAULT_USERNAME),
                ("password", ontap_sim::DEFAULT_PASSWORD),
                ("rotated", "1"),
            ],
        )
        .await;
    wait::until(WAIT, "the rotated Secret to be read", || async {
        secret_gets(&seen, &namespace).full == 2
    })
    .await;
    harness.wait_for_polls(2).await;
    assert_eq!(secret_gets(&seen, &namespace).full, 2);
    harness.finish().await;
}
