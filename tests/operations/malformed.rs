//! One OntapCluster that cannot be decoded must not stall the others. The API server's schema
//! normally makes such an object impossible, so this test uses a fresh API server whose
//! OntapCluster CRD accepts any spec, as after a schema change between versions.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, crds};
use ontap_sim::SimulatorConfig;
use serde_json::json;

use crate::process::OperatorProcess;
use crate::support::{k8s, wait};

const NAMESPACE: &str = "storage";

/// Both CRDs, with the OntapCluster spec schema replaced by "anything goes".
fn lenient_crds() -> Vec<CustomResourceDefinition> {
    let mut definitions = crds();
    let version = &mut definitions[0].spec.versions[0];
    let schema = version
        .schema
        .as_mut()
        .and_then(|schema| schema.open_api_v3_schema.as_mut())
        .expect("schema");
    schema.properties.as_mut().expect("properties").insert(
        "spec".into(),
        JSONSchemaProps {
            type_: Some("object".into()),
            x_kubernetes_preserve_unknown_fields: Some(true),
            ..JSONSchemaProps::default()
        },
    );
    definitions
}

/// Creates an OntapCluster with an arbitrary spec, bypassing the operator's types.
async fn ontap_cluster(client: &Client, name: &str, spec: serde_json::Value) {
    let resource = kube::api::ApiResource::erase::<ontap_ipsec_operator::crd::OntapCluster>(&());
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &resource);
    let object: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": resource.api_version, "kind": resource.kind,
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ontap_cluster_that_cannot_be_decoded_does_not_stall_the_others() {
    let server = k8s::FreshApiServer::start().await;
    let client = server.client().await;
    let definitions: Api<CustomResourceDefinition> = Api::all(client.clone());
    for definition in lenient_crds() {
        let name = definition.metadata.name.clone().expect("name");
        definitions
            .patch(
                &name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&definition),
            )
            .await
            .expect("CRD applied");
    }
    server.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");

    let records = ontap_sim::generate(1, 2);
    let simulator = ontap_sim::start(SimulatorConfig {
        records: records.clone(),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    let data: BTreeMap<String, ByteString> = [
        ("username", ontap_sim::DEFAULT_USERNAME.to_owned()),
        ("password", ontap_sim::DEFAULT_PASSWORD.to_owned()),
        ("ca.crt", simulator.certificate_pem()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), ByteString(value.into_bytes())))
    .collect();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("ontap".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");

    // "bad" sorts first and its endpoint is a number, which the operator's types refuse.
    ontap_cluster(
        &client,
        "a-bad",
        json!({
            "endpoint": 42, "credentialsSecretRef": {"name": "ontap"}, "pollInterval": "10s"
        }),
    )
    .await;
    ontap_cluster(
        &client,
        "good",
        json!({
            "endpoint": simulator.base_url(), "credentialsSecretRef": {"name": "ontap"},
            "tls": {"caSecretRef": {"name": "ontap"}}, "pollInterval": "10s",
            "timeout": "30s", "countersRefreshInterval": "0s", "staleAfter": 3
        }),
    )
    .await;

    let operator = OperatorProcess::start_with_kubeconfig(
        NAMESPACE,
        "malformed",
        server.kubeconfig.path(),
        &[],
    );
    let mirrored: Api<IpsecSecurityAssociation> = Api::namespaced(client.clone(), NAMESPACE);
    wait::until(
        Duration::from_secs(60),
        "the good cluster is mirrored",
        || async {
            mirrored
                .list(&ListParams::default())
                .await
                .is_ok_and(|list| list.items.len() == records.len())
        },
    )
    .await;
    let log = operator.log_text();
    assert!(
        log.contains("skipping an OntapCluster that cannot be decoded"),
        "{log}"
    );
    assert!(log.contains("a-bad"), "names the object: {log}");
    drop(operator);
    simulator.shutdown().await;
}
