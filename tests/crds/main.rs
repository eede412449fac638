//! Installs `crds/crds.yaml` into the local control plane and checks what users meet: defaults,
//! validation messages, the immutable spec, the conditions list-map, printer columns, the
//! category, field selectors and `kubectl explain`.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use ontap_ipsec_operator::crd::condition::{
    REASON_ESTABLISHED, REASON_SYNCED, REASON_TUNNELS_DOWN, TYPE_IKE_ESTABLISHED, TYPE_READY,
    TYPE_TUNNELS_HEALTHY,
};
use ontap_ipsec_operator::crd::ontap_cluster::{
    COUNTERS_REFRESH_INTERVAL_MESSAGE, ENDPOINT_SCHEME_MESSAGE, ENDPOINT_URL_MESSAGE,
    POLL_INTERVAL_MESSAGE, TIMEOUT_MESSAGE, TLS_MESSAGE,
};
use ontap_ipsec_operator::crd::security_association::SPEC_IMMUTABLE_MESSAGE;
use ontap_ipsec_operator::crd::{
    CRDS_FILE, ConditionStatus, IpsecSecurityAssociation, OntapCluster, find_condition,
    new_condition, upsert_condition,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::k8s::{TestNamespace, client, kubectl, repo_root};

/// A new CRD is Established, and its `OpenAPI` document published for `kubectl explain`, within seconds.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The field manager these tests install the CRDs and write status with.
const TEST_FIELD_MANAGER: &str = "ontap-ipsec-operator-crd-tests";
/// A second field manager, to show that condition lists merge by type.
const OTHER_FIELD_MANAGER: &str = "ontap-ipsec-operator-crd-tests-other";
const INVALID_CODE: u16 = 422;
const CRD_ESTABLISHED: &str = "Established";
const CONDITION_TRUE: &str = "True";
const ENDPOINT: &str = "https://cluster-mgmt.example.com";
const SECRET_NAME: &str = "ontap-credentials";
const SA_UUID: &str = "6b3f4a9e-2c1d-11ef-9f3a-005056bb1c2d";

/// Applies every document of `crds/crds.yaml` (the file users apply) and waits until each CRD is
/// Established. Idempotent, so every test calls it and they may run in any order.
async fn install_crds(client: &Client) {
    let path = repo_root().join(CRDS_FILE);
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let apply = PatchParams::apply(TEST_FIELD_MANAGER).force();
    for document in serde_norway::Deserializer::from_str(&yaml) {
        let crd = CustomResourceDefinition::deserialize(document).expect("crds.yaml holds CRDs");
        let name = crd.name_any();
        crds.patch(&name, &apply, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|error| panic!("the API server refuses CRD {name}: {error}"));
        support::wait::until(
            PROPAGATION_TIMEOUT,
            &format!("CRD {name} becomes Established"),
            || {
                let crds = crds.clone();
                let name = name.clone();
                async move { crd_is_established(&crds, &name).await }
            },
        )
        .await;
    }
}

async fn crd_is_established(crds: &Api<CustomResourceDefinition>, name: &str) -> bool {
    crds.get(name)
        .await
        .ok()
        .and_then(|crd| crd.status)
        .and_then(|status| status.conditions)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition.type_ == CRD_ESTABLISHED && condition.status == CONDITION_TRUE
            })
        })
}

/// Objects are sent as raw JSON so the API server, not the Rust types, fills in the defaults.
fn dynamic_api<K: Resource<DynamicType = ()>>(
    client: &Client,
    namespace: &str,
) -> (Api<DynamicObject>, ApiResource) {
    let resource = ApiResource::erase::<K>(&());
    (
        Api::namespaced_with(client.clone(), namespace, &resource),
        resource,
    )
}

async fn create_ontap_cluster(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> Result<DynamicObject, kube::Error> {
    let (api, resource) = dynamic_api::<OntapCluster>(client, namespace);
    let object = DynamicObject::new(name, &resource).data(json!({ "spec": spec }));
    api.create(&PostParams::default(), &object).await
}

async fn create_security_association(
    client: &Client,
    namespace: &str,
    name: &str,
    uuid: &str,
) -> IpsecSecurityAssociation {
    let (api, resource) = dynamic_api::<IpsecSecurityAssociation>(client, namespace);
    let object = DynamicObject::new(name, &resource)
        .data(json!({ "spec": { "clusterRef": { "name": "cluster-a" }, "uuid": uuid } }));
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|error| panic!("IpsecSecurityAssociation {name} is refused: {error}"));
    Api::<IpsecSecurityAssociation>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .expect("the new IpsecSecurityAssociation reads back as the Rust type")
}

/// The message of a 422 Invalid answer; anything else fails the test.
fn rejection<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) if status.code == INVALID_CODE => status.message,
        other => panic!("expected 422 Invalid, got {other:?}"),
    }
}

fn minimal_spec() -> Value {
    json!({ "endpoint": ENDPOINT, "credentialsSecretRef": { "name": SECRET_NAME } })
}

fn with(mut spec: Value, field: &str, value: Value) -> Value {
    spec[field] = value;
    spec
}

fn stdout_of(args: &[&str]) -> String {
    let output = kubectl(args);
    assert!(
        output.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Splits one line of `kubectl get` output into cells (columns are padded with 3+ spaces; a
/// column name like "TUNNELS HEALTHY" holds a single space).
fn cells(line: &str) -> Vec<String> {
    regex::Regex::new(r"\s{2,}")
        .expect("valid regex")
        .split(line.trim())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn minimal_ontap_cluster_is_accepted_and_gets_every_default() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-defaults").await;

    create_ontap_cluster(&client, namespace.name(), "cluster-a", minimal_spec())
        .await
        .expect("endpoint and credentialsSecretRef.name are enough");

    let stored = Api::<OntapCluster>::namespaced(client.clone(), namespace.name())
        .get("cluster-a")
        .await
        .expect("the OntapCluster reads back as the Rust type");
    let spec = &stored.spec;
    assert_eq!(spec.poll_interval, "60s");
    assert_eq!(spec.timeout, "30s");
    assert_eq!(spec.counters_refresh_interval, "15m");
    assert_eq!(spec.stale_after, 3);
    assert!(!spec.allow_insecure_http);
    assert!(!spec.suspend);
    assert_eq!(spec.credentials_secret_ref.username_key, "username");
    assert_eq!(spec.credentials_secret_ref.password_key, "password");
    assert_eq!(spec.tls, None);
    assert_eq!(spec.selector, None);
    assert!(
        spec.validate().is_ok(),
        "defaults pass the operator's checks"
    );
    namespace.cleanup().await;
}

#[tokio::test]
async fn tls_defaults_fill_in_when_tls_is_given() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-tls-defaults").await;

    let spec = with(
        minimal_spec(),
        "tls",
        json!({ "caSecretRef": { "name": "ontap-ca" } }),
    );
    create_ontap_cluster(&client, namespace.name(), "cluster-a", spec)
        .await
        .expect("a CA Secret reference is accepted");

    let stored = Api::<OntapCluster>::namespaced(client.clone(), namespace.name())
        .get("cluster-a")
        .await
        .expect("the OntapCluster reads back");
    let tls = stored.spec.tls.expect("tls is kept");
    assert_eq!(
        tls.ca_secret_ref.expect("caSecretRef is kept").key,
        "ca.crt"
    );
    assert!(!tls.insecure_skip_verify);
    namespace.cleanup().await;
}

#[tokio::test]
async fn plain_http_endpoint_is_rejected_unless_allow_insecure_http_is_true() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-http").await;
    let http = with(minimal_spec(), "endpoint", json!("http://127.0.0.1:8080"));

    let message =
        rejection(create_ontap_cluster(&client, namespace.name(), "plain", http.clone()).await);
    assert!(message.contains(ENDPOINT_SCHEME_MESSAGE), "{message}");
    assert!(message.contains("spec.endpoint"), "{message}");

    let allowed = with(http, "allowInsecureHttp", json!(true));
    create_ontap_cluster(&client, namespace.name(), "allowed", allowed)
        .await
        .expect("http:// with allowInsecureHttp: true is accepted");

    let ftp = with(minimal_spec(), "endpoint", json!("ftp://cluster-mgmt"));
    let message = rejection(create_ontap_cluster(&client, namespace.name(), "ftp", ftp).await);
    assert!(message.contains(ENDPOINT_SCHEME_MESSAGE), "{message}");
    namespace.cleanup().await;
}

#[tokio::test]
async fn endpoint_without_a_host_is_rejected() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-hostless").await;

    for (name, endpoint) in [("bare-scheme", "https://"), ("not-a-url", "https://a b")] {
        let spec = with(minimal_spec(), "endpoint", json!(endpoint));
        let message = rejection(create_ontap_cluster(&client, namespace.name(), name, spec).await);
        assert!(
            message.contains(ENDPOINT_URL_MESSAGE),
            "{endpoint}: {message}"
        );
    }
    namespace.cleanup().await;
}

#[tokio::test]
async fn poll_interval_shorter_than_ten_seconds_is_rejected() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-poll-interval").await;

    for (name, interval) in [("five", "5s"), ("almost-ten", "9.999s"), ("zero", "0s")] {
        let spec = with(minimal_spec(), "pollInterval", json!(interval));
        let message = rejection(create_ontap_cluster(&client, namespace.name(), name, spec).await);
        assert!(
            message.contains(POLL_INTERVAL_MESSAGE),
            "{interval}: {message}"
        );
    }
    for (name, interval) in [
        ("ten", "10s"),
        ("hour-and-a-half", "1h30m"),
        ("fraction", "1.5m"),
    ] {
        let spec = with(minimal_spec(), "pollInterval", json!(interval));
        create_ontap_cluster(&client, namespace.name(), name, spec)
            .await
            .unwrap_or_else(|error| panic!("pollInterval {interval} is refused: {error}"));
    }
    namespace.cleanup().await;
}

#[tokio::test]
async fn durations_without_a_unit_are_rejected_by_the_pattern() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-duration-syntax").await;

    for (name, field, value) in [
        ("no-unit", "pollInterval", "60"),
        ("days", "timeout", "1d"),
        ("negative", "countersRefreshInterval", "-5m"),
    ] {
        let spec = with(minimal_spec(), field, json!(value));
        let message = rejection(create_ontap_cluster(&client, namespace.name(), name, spec).await);
        assert!(
            message.contains(&format!("spec.{field}")),
            "{value}: {message}"
        );
        assert!(message.contains("should match"), "{value}: {message}");
    }
    let never = with(minimal_spec(), "countersRefreshInterval", json!("0s"));
    create_ontap_cluster(&client, namespace.name(), "never", never)
        .await
        .expect("countersRefreshInterval 0s means never and is accepted");
    namespace.cleanup().await;
}

#[tokio::test]
async fn zero_timeout_and_zero_stale_after_are_rejected() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-timeout").await;

    let spec = with(minimal_spec(), "timeout", json!("0s"));
    let message = rejection(create_ontap_cluster(&client, namespace.name(), "t", spec).await);
    assert!(message.contains(TIMEOUT_MESSAGE), "{message}");

    let spec = with(minimal_spec(), "staleAfter", json!(0));
    let message = rejection(create_ontap_cluster(&client, namespace.name(), "s", spec).await);
    assert!(message.contains("spec.staleAfter"), "{message}");
    namespace.cleanup().await;
}

#[tokio::test]
async fn timing_fields_have_upper_and_lower_bounds() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-bounds").await;

    for (name, field, value, message) in [
        ("long-timeout", "timeout", json!("6m"), TIMEOUT_MESSAGE),
        ("short-timeout", "timeout", json!("500ms"), TIMEOUT_MESSAGE),
        (
            "long-interval",
            "pollInterval",
            json!("25h"),
            POLL_INTERVAL_MESSAGE,
        ),
        (
            "nanosecond-counters",
            "countersRefreshInterval",
            json!("1ns"),
            COUNTERS_REFRESH_INTERVAL_MESSAGE,
        ),
        (
            "daily-plus-counters",
            "countersRefreshInterval",
            json!("25h"),
            COUNTERS_REFRESH_INTERVAL_MESSAGE,
        ),
        ("stale-after", "staleAfter", json!(101), "spec.staleAfter"),
    ] {
        let spec = with(minimal_spec(), field, value.clone());
        let refused = rejection(create_ontap_cluster(&client, namespace.name(), name, spec).await);
        assert!(refused.contains(message), "{field} {value}: {refused}");
    }
    let mut edges = minimal_spec();
    for (field, value) in [
        ("timeout", json!("5m")),
        ("pollInterval", json!("24h")),
        ("countersRefreshInterval", json!("1m")),
        ("staleAfter", json!(100)),
    ] {
        edges = with(edges, field, value);
    }
    create_ontap_cluster(&client, namespace.name(), "edges", edges)
        .await
        .expect("the bounds themselves are accepted");
    namespace.cleanup().await;
}

#[tokio::test]
async fn ca_secret_and_insecure_skip_verify_together_are_rejected() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-tls-conflict").await;

    let spec = with(
        minimal_spec(),
        "tls",
        json!({ "caSecretRef": { "name": "ontap-ca" }, "insecureSkipVerify": true }),
    );
    let message = rejection(create_ontap_cluster(&client, namespace.name(), "both", spec).await);
    assert!(message.contains(TLS_MESSAGE), "{message}");
    namespace.cleanup().await;
}

#[tokio::test]
async fn secret_names_and_keys_must_be_what_kubernetes_allows() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-secret-refs").await;

    let too_long = "a".repeat(254);
    for (name, field, reference) in [
        (
            "upper-case",
            "spec.credentialsSecretRef.name",
            json!({ "credentialsSecretRef": { "name": "Ontap_Credentials" } }),
        ),
        (
            "long-name",
            "spec.credentialsSecretRef.name",
            json!({ "credentialsSecretRef": { "name": too_long } }),
        ),
        (
            "slash-key",
            "spec.credentialsSecretRef.passwordKey",
            json!({ "credentialsSecretRef": { "name": SECRET_NAME, "passwordKey": "a/b" } }),
        ),
        (
            "long-key",
            "spec.credentialsSecretRef.usernameKey",
            json!({ "credentialsSecretRef": { "name": SECRET_NAME, "usernameKey": too_long } }),
        ),
        (
            "ca-name",
            "spec.tls.caSecretRef.name",
            json!({ "tls": { "caSecretRef": { "name": "ca/../x" } } }),
        ),
        (
            "ca-key",
            "spec.tls.caSecretRef.key",
            json!({ "tls": { "caSecretRef": { "name": "ontap-ca", "key": "ca crt" } } }),
        ),
    ] {
        let mut spec = minimal_spec();
        for (key, value) in reference.as_object().expect("an object") {
            spec[key] = value.clone();
        }
        let message = rejection(create_ontap_cluster(&client, namespace.name(), name, spec).await);
        assert!(message.contains(field), "{name}: {message}");
    }

    let longest = format!("{}.example", "a".repeat(245));
    let spec = json!({
        "endpoint": ENDPOINT,
        "credentialsSecretRef": {
            "name": longest, "usernameKey": "_user.name-1", "passwordKey": "k".repeat(253),
        },
        "tls": { "caSecretRef": { "name": "ontap-ca.v2", "key": "tls.crt" } },
    });
    create_ontap_cluster(&client, namespace.name(), "edges", spec)
        .await
        .expect("names and keys Kubernetes allows are accepted");
    namespace.cleanup().await;
}

#[tokio::test]
async fn selector_types_other_than_ike_and_ipsec_are_rejected() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-selector").await;

    let spec = with(minimal_spec(), "selector", json!({ "types": ["esp"] }));
    let message = rejection(create_ontap_cluster(&client, namespace.name(), "esp", spec).await);
    assert!(message.contains("spec.selector.types[0]"), "{message}");

    let spec = with(
        minimal_spec(),
        "selector",
        json!({ "types": ["ike", "ipsec"], "svms": ["vs0"], "nodes": ["node-1"], "policies": ["p"] }),
    );
    create_ontap_cluster(&client, namespace.name(), "both-types", spec)
        .await
        .expect("a selector with both types is accepted");
    namespace.cleanup().await;
}

#[tokio::test]
async fn security_association_spec_cannot_be_changed() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-immutable").await;
    let name = format!("cluster-a-{SA_UUID}");
    create_security_association(&client, namespace.name(), &name, SA_UUID).await;
    let api = Api::<IpsecSecurityAssociation>::namespaced(client.clone(), namespace.name());

    for change in [
        json!({ "spec": { "uuid": "00000000-0000-0000-0000-000000000000" } }),
        json!({ "spec": { "clusterRef": { "name": "cluster-b" } } }),
    ] {
        let message = rejection(
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&change))
                .await,
        );
        assert!(message.contains(SPEC_IMMUTABLE_MESSAGE), "{message}");
    }
    let stored = api.get(&name).await.expect("the object is still there");
    assert_eq!(stored.spec.uuid, SA_UUID);
    assert_eq!(stored.spec.cluster_ref.name, "cluster-a");
    namespace.cleanup().await;
}

/// Writes a full status as the operator would, then a second manager adds one condition: with a
/// list-map keyed by type both conditions stay, and each reads back exactly as written.
#[tokio::test]
async fn security_association_conditions_merge_by_type_and_read_back_exactly() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-conditions").await;
    let name = format!("cluster-a-{SA_UUID}");
    create_security_association(&client, namespace.name(), &name, SA_UUID).await;
    let api = Api::<IpsecSecurityAssociation>::namespaced(client.clone(), namespace.name());

    let now = Timestamp::now();
    let mut conditions = Vec::new();
    upsert_condition(
        &mut conditions,
        new_condition(
            TYPE_READY,
            ConditionStatus::True,
            REASON_ESTABLISHED,
            "IKE SA is established",
            Some(1),
            now,
        ),
    );
    let status = sample_status(&conditions);
    api.patch_status(
        &name,
        &PatchParams::apply(TEST_FIELD_MANAGER).force(),
        &Patch::Apply(status_patch::<IpsecSecurityAssociation>(&status)),
    )
    .await
    .expect("the status subresource takes the operator's status");

    let ike = new_condition(
        TYPE_IKE_ESTABLISHED,
        ConditionStatus::True,
        REASON_ESTABLISHED,
        "IKE SA is established",
        Some(1),
        now,
    );
    api.patch_status(
        &name,
        &PatchParams::apply(OTHER_FIELD_MANAGER).force(),
        &Patch::Apply(status_patch::<IpsecSecurityAssociation>(
            &json!({ "conditions": [ike] }),
        )),
    )
    .await
    .expect("a second manager adds its condition");

    let stored = api.get(&name).await.expect("the object reads back");
    let stored_status = stored.status.expect("status is stored");
    assert_eq!(stored_status.conditions.len(), 2);
    assert_eq!(
        find_condition(&stored_status.conditions, TYPE_READY),
        Some(&conditions[0]),
        "Ready reads back exactly as held, lastTransitionTime included"
    );
    assert_eq!(
        find_condition(&stored_status.conditions, TYPE_IKE_ESTABLISHED),
        Some(&ike)
    );
    assert_eq!(stored_status.state.as_deref(), Some("established"));
    assert_eq!(
        stored_status.ike.and_then(|ike| ike.is_initiator),
        Some(true)
    );
    namespace.cleanup().await;
}

fn status_patch<K: Resource<DynamicType = ()>>(status: &impl serde::Serialize) -> Value {
    json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    })
}

fn sample_status(conditions: &[Condition]) -> Value {
    json!({
        "type": "ike",
        "node": { "name": "node-1", "uuid": "7a0e6c9c-2c1d-11ef-9f3a-005056bb1c2d" },
        "svm": { "name": "vs0", "uuid": "8b1f7dad-2c1d-11ef-9f3a-005056bb1c2d" },
        "scope": "svm",
        "policyName": "policy-a",
        "localAddress": "192.0.2.10",
        "remoteAddress": "192.0.2.20",
        "cipherSuite": "suiteb_gcm256",
        "lifetime": 28800,
        "state": "established",
        "ike": {
            "state": "established",
            "version": "2",
            "authentication": "psk",
            "isInitiator": true,
            "initiatorSpi": "4e1f2a3b4c5d6e7f",
            "responderSpi": "0a1b2c3d4e5f6071"
        },
        "conditions": conditions,
        "observedGeneration": 1
    })
}

#[tokio::test]
async fn kubectl_get_shows_the_security_association_columns_and_selects_by_field() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-columns").await;
    let name = format!("cluster-a-{SA_UUID}");
    create_security_association(&client, namespace.name(), &name, SA_UUID).await;
    let mut conditions = Vec::new();
    upsert_condition(
        &mut conditions,
        new_condition(
            TYPE_READY,
            ConditionStatus::True,
            REASON_ESTABLISHED,
            "",
            Some(1),
            Timestamp::now(),
        ),
    );
    Api::<IpsecSecurityAssociation>::namespaced(client.clone(), namespace.name())
        .patch_status(
            &name,
            &PatchParams::apply(TEST_FIELD_MANAGER).force(),
            &Patch::Apply(status_patch::<IpsecSecurityAssociation>(&sample_status(
                &conditions,
            ))),
        )
        .await
        .expect("status is written");

    let wide = stdout_of(&["get", "ipsecsa", "-n", namespace.name(), "-o", "wide"]);
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(lines.len(), 2, "{wide}");
    assert_eq!(
        cells(lines[0]),
        [
            "NAME", "TYPE", "NODE", "LOCAL", "REMOTE", "POLICY", "STATE", "READY", "AGE",
            "NETWORK", "SVM", "CIPHER"
        ],
        "{wide}"
    );
    let row = cells(lines[1]);
    assert_eq!(
        [&row[..8], &row[9..]].concat(),
        [
            name.as_str(),
            "ike",
            "node-1",
            "192.0.2.10",
            "192.0.2.20",
            "policy-a",
            "established",
            "True",
            "vs0",
            "suiteb_gcm256"
        ],
        "{wide}"
    );

    let narrow = stdout_of(&["get", "isa", "-n", namespace.name()]);
    assert_eq!(
        cells(narrow.lines().next().unwrap_or_default()),
        [
            "NAME", "TYPE", "NODE", "LOCAL", "REMOTE", "POLICY", "STATE", "READY", "AGE"
        ],
        "{narrow}"
    );

    let established = stdout_of(&[
        "get",
        "isa",
        "-n",
        namespace.name(),
        "--field-selector",
        "status.state=established,spec.clusterRef.name=cluster-a",
        "-o",
        "name",
    ]);
    assert_eq!(
        established.trim(),
        format!("ipsecsecurityassociation.ontap-ipsec.dev/{name}")
    );
    let connecting = stdout_of(&[
        "get",
        "isa",
        "-n",
        namespace.name(),
        "--field-selector",
        "status.state=connecting",
        "-o",
        "name",
    ]);
    assert_eq!(connecting.trim(), "");
    namespace.cleanup().await;
}

#[tokio::test]
async fn kubectl_get_shows_the_ontap_cluster_columns_and_the_category_lists_both_kinds() {
    let client = client().await;
    install_crds(&client).await;
    let namespace = TestNamespace::create(&client, "crd-cluster-columns").await;
    create_ontap_cluster(&client, namespace.name(), "cluster-a", minimal_spec())
        .await
        .expect("the OntapCluster is created");
    create_security_association(
        &client,
        namespace.name(),
        &format!("cluster-a-{SA_UUID}"),
        SA_UUID,
    )
    .await;
    let now = Timestamp::now();
    let mut conditions = Vec::new();
    upsert_condition(
        &mut conditions,
        new_condition(
            TYPE_READY,
            ConditionStatus::True,
            REASON_SYNCED,
            "",
            Some(1),
            now,
        ),
    );
    upsert_condition(
        &mut conditions,
        new_condition(
            TYPE_TUNNELS_HEALTHY,
            ConditionStatus::False,
            REASON_TUNNELS_DOWN,
            "1 of 4 security associations is not Ready",
            Some(1),
            now,
        ),
    );
    let status = json!({
        "observedGeneration": 1,
        "conditions": conditions,
        "ontap": { "clusterName": "cluster1", "clusterUuid": "1cd8a442-86d1-11e0-ae1c-123478563412", "version": "9.14.1" },
        "securityAssociations": { "total": 4, "ike": 2, "ipsec": 2, "ready": 3, "notReady": 1 },
        "unhealthyPeers": [{ "svm": "vs0", "localAddress": "192.0.2.10", "remoteAddress": "192.0.2.30", "policyName": "policy-b", "reason": "Connecting" }],
    });
    Api::<OntapCluster>::namespaced(client.clone(), namespace.name())
        .patch_status(
            "cluster-a",
            &PatchParams::apply(TEST_FIELD_MANAGER).force(),
            &Patch::Apply(status_patch::<OntapCluster>(&status)),
        )
        .await
        .expect("the status subresource takes the operator's status");

    let wide = stdout_of(&["get", "ontap", "-n", namespace.name(), "-o", "wide"]);
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "NAME",
            "ENDPOINT",
            "READY",
            "TUNNELS HEALTHY",
            "SAS",
            "AGE",
            "VERSION",
            "REASON"
        ],
        "{wide}"
    );
    let row = cells(lines[1]);
    assert_eq!(
        [&row[..5], &row[6..]].concat(),
        [
            "cluster-a",
            ENDPOINT,
            "True",
            "False",
            "4",
            "9.14.1",
            "Synced"
        ],
        "{wide}"
    );

    let everything = stdout_of(&["get", "ontap-ipsec", "-n", namespace.name(), "-o", "name"]);
    let mut names: Vec<&str> = everything.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            format!("ipsecsecurityassociation.ontap-ipsec.dev/cluster-a-{SA_UUID}"),
            "ontapcluster.ontap-ipsec.dev/cluster-a".to_owned()
        ],
        "{everything}"
    );
    namespace.cleanup().await;
}

#[tokio::test]
async fn kubectl_explain_shows_the_field_documentation() {
    let client = client().await;
    install_crds(&client).await;

    // The OpenAPI document that explain reads is published shortly after the CRD.
    let mut explained = String::new();
    support::wait::until(
        PROPAGATION_TIMEOUT,
        "kubectl explain knows ontapcluster.spec",
        || {
            let output = kubectl(["explain", "ontapcluster.spec"]);
            explained = String::from_utf8_lossy(&output.stdout).into_owned();
            std::future::ready(output.status.success() && explained.contains("pollInterval"))
        },
    )
    .await;
    for expected in [
        "Where and how to poll one ONTAP cluster",
        "credentialsSecretRef",
        "from 10s to 24h",
        "allowInsecureHttp",
        "staleAfter",
    ] {
        assert!(
            explained.contains(expected),
            "{expected:?} in:\n{explained}"
        );
    }

    let ike = stdout_of(&["explain", "ipsecsa.status.ike"]);
    for expected in ["initiatorSpi", "isInitiator", "dead_peer_probe"] {
        assert!(ike.contains(expected), "{expected:?} in:\n{ike}");
    }
}
