//! Checks that the local control plane behaves like a real cluster: version, garbage collection,
//! namespace deletion, RBAC for `ServiceAccount` tokens and CRD schema validation.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, PostParams,
};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use support::k8s::{TestNamespace, client, kubectl, service_account_kubeconfig};

/// The garbage collector must remove dependents within this time (its CRD discovery runs every 30 s).
const GARBAGE_COLLECTION_TIMEOUT: Duration = Duration::from_secs(60);
const NAMESPACE_DELETION_TIMEOUT: Duration = Duration::from_secs(60);
/// RBAC and CRD changes reach the API server's caches within a few seconds.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);

const CORE_API_GROUP: &str = "";
const CONFIG_MAP_API_VERSION: &str = "v1";
const CONFIG_MAP_KIND: &str = "ConfigMap";
const CONFIG_MAPS: &str = "configmaps";
const RBAC_API_GROUP: &str = "rbac.authorization.k8s.io";
const ROLE_KIND: &str = "Role";
const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";
const VERB_GET: &str = "get";
const VERB_LIST: &str = "list";
const FORBIDDEN_CODE: u16 = 403;
const INVALID_CODE: u16 = 422;

const WIDGET_GROUP_DOMAIN: &str = "harness.ontap-ipsec-operator.test";
const WIDGET_VERSION: &str = "v1";
const WIDGET_KIND: &str = "Widget";
const WIDGET_PLURAL: &str = "widgets";
const CRD_ESTABLISHED: &str = "Established";
const CONDITION_TRUE: &str = "True";

fn config_map(name: &str, owner: Option<OwnerReference>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            owner_references: owner.map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        data: Some([("key".to_owned(), "value".to_owned())].into()),
        ..ConfigMap::default()
    }
}

async fn config_map_exists(config_maps: &Api<ConfigMap>, name: &str) -> bool {
    config_maps
        .get_opt(name)
        .await
        .unwrap_or_else(|error| panic!("cannot read ConfigMap {name}: {error}"))
        .is_some()
}

fn api_error_code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Option<u16> {
    match result {
        Err(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    }
}

#[tokio::test]
async fn server_version_equals_the_built_release() {
    let client = client().await;

    let info = client.apiserver_version().await.expect("/version answers");

    assert_eq!(info.git_version, support::k8s::built_kubernetes_version());
}

#[tokio::test]
async fn kubectl_reports_the_built_release_for_client_and_server() {
    let output = kubectl(["version", "--output=json"]);

    assert!(
        output.status.success(),
        "kubectl version: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let versions: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("kubectl prints JSON");
    let built = support::k8s::built_kubernetes_version();
    assert_eq!(versions["clientVersion"]["gitVersion"], built.as_str());
    assert_eq!(versions["serverVersion"]["gitVersion"], built.as_str());
}

#[tokio::test]
async fn config_map_owned_by_a_deleted_config_map_is_garbage_collected_within_a_minute() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "garbage-collection").await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), namespace.name());
    let post = PostParams::default();
    let owner = config_maps
        .create(&post, &config_map("owner", None))
        .await
        .expect("owner is created");
    let owner_reference = OwnerReference {
        api_version: CONFIG_MAP_API_VERSION.to_owned(),
        kind: CONFIG_MAP_KIND.to_owned(),
        name: owner.name_any(),
        uid: owner.uid().expect("the API server assigns a uid"),
        ..OwnerReference::default()
    };
    config_maps
        .create(&post, &config_map("dependent", Some(owner_reference)))
        .await
        .expect("dependent is created");
    config_maps
        .create(&post, &config_map("bystander", None))
        .await
        .expect("bystander is created");

    config_maps
        .delete("owner", &DeleteParams::default())
        .await
        .expect("owner is deleted");

    let took = support::wait::until(
        GARBAGE_COLLECTION_TIMEOUT,
        "dependent ConfigMap is garbage-collected",
        || {
            let config_maps = config_maps.clone();
            async move { !config_map_exists(&config_maps, "dependent").await }
        },
    )
    .await;
    eprintln!("garbage collection took {took:?}");
    assert!(
        config_map_exists(&config_maps, "bystander").await,
        "a ConfigMap without owner stays"
    );
    namespace.cleanup().await;
}

#[tokio::test]
async fn deleted_namespace_disappears() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "namespace-deletion").await;
    let name = namespace.name().to_owned();
    Api::<ConfigMap>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &config_map("content", None))
        .await
        .expect("a ConfigMap is created in the namespace");

    namespace.cleanup().await;

    let namespaces = Api::<Namespace>::all(client.clone());
    let took = support::wait::until(
        NAMESPACE_DELETION_TIMEOUT,
        "deleted namespace disappears",
        || {
            let namespaces = namespaces.clone();
            let name = name.clone();
            async move {
                namespaces
                    .get_opt(&name)
                    .await
                    .expect("namespaces can be read")
                    .is_none()
            }
        },
    )
    .await;
    eprintln!("namespace deletion took {took:?}");
}

/// A Role that may get and list `ConfigMaps` in `namespace`, bound to `service_account` there.
async fn grant_config_map_reading(admin: &Client, namespace: &str, service_account: &str) {
    let post = PostParams::default();
    let role = Role {
        metadata: ObjectMeta {
            name: Some("config-map-reader".to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![CORE_API_GROUP.to_owned()]),
            resources: Some(vec![CONFIG_MAPS.to_owned()]),
            verbs: vec![VERB_GET.to_owned(), VERB_LIST.to_owned()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(&post, &role)
        .await
        .expect("Role is created");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("reader-reads-config-maps".to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: RBAC_API_GROUP.to_owned(),
            kind: ROLE_KIND.to_owned(),
            name: "config-map-reader".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: SERVICE_ACCOUNT_KIND.to_owned(),
            name: service_account.to_owned(),
            namespace: Some(namespace.to_owned()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(&post, &binding)
        .await
        .expect("RoleBinding is created");
}

#[tokio::test]
async fn service_account_token_client_is_forbidden_outside_its_role_and_allowed_inside_it() {
    let admin = client().await;
    let namespace = TestNamespace::create(&admin, "service-account-rbac").await;
    let ns = namespace.name();
    let post = PostParams::default();
    grant_config_map_reading(&admin, ns, "reader").await;
    Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .create(&post, &config_map("visible", None))
        .await
        .expect("ConfigMap is created");

    let credentials = service_account_kubeconfig(&admin, ns, "reader").await;
    let reader = credentials.client().await;

    let review = Api::<SelfSubjectReview>::all(reader.clone())
        .create(&post, &SelfSubjectReview::default())
        .await
        .expect("any user may review itself");
    let username = review
        .status
        .and_then(|status| status.user_info)
        .and_then(|user| user.username);
    assert_eq!(username.as_deref(), Some(credentials.user()));
    let own_config_maps = Api::<ConfigMap>::namespaced(reader.clone(), ns);
    support::wait::until(
        PROPAGATION_TIMEOUT,
        "the RoleBinding lets the ServiceAccount list ConfigMaps",
        || {
            let own_config_maps = own_config_maps.clone();
            async move { own_config_maps.list(&ListParams::default()).await.is_ok() }
        },
    )
    .await;
    let visible = own_config_maps
        .get("visible")
        .await
        .expect("get is inside the Role");
    assert_eq!(visible.name_any(), "visible");
    assert_eq!(
        api_error_code(
            own_config_maps
                .create(&post, &config_map("written", None))
                .await
        ),
        Some(FORBIDDEN_CODE),
        "create is outside the Role"
    );
    assert_eq!(
        api_error_code(
            Api::<Secret>::namespaced(reader.clone(), ns)
                .list(&ListParams::default())
                .await
        ),
        Some(FORBIDDEN_CODE),
        "Secrets are outside the Role"
    );
    assert_eq!(
        api_error_code(
            Api::<ConfigMap>::namespaced(reader.clone(), "default")
                .list(&ListParams::default())
                .await
        ),
        Some(FORBIDDEN_CODE),
        "other namespaces are outside the RoleBinding"
    );

    // The kubeconfig file carries the same identity for a child process.
    let path = credentials
        .path()
        .to_str()
        .expect("temporary paths are UTF-8");
    let allowed = kubectl([
        "--kubeconfig",
        path,
        "get",
        "configmap",
        "visible",
        "--namespace",
        ns,
    ]);
    assert!(
        allowed.status.success(),
        "kubectl get: {}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let forbidden = kubectl(["--kubeconfig", path, "get", "secrets", "--namespace", ns]);
    assert!(!forbidden.status.success());
    assert!(String::from_utf8_lossy(&forbidden.stderr).contains("forbidden"));
    namespace.cleanup().await;
}

/// A namespaced `Widget` CRD in a group of its own, so parallel runs never share one.
fn widget_crd(group: &str, schema: &serde_json::Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{WIDGET_PLURAL}.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "kind": WIDGET_KIND, "plural": WIDGET_PLURAL, "singular": "widget", "listKind": "WidgetList" },
            "versions": [{
                "name": WIDGET_VERSION,
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": schema }
            }]
        }
    }))
    .expect("the CRD fixture matches the CustomResourceDefinition type")
}

fn unique_widget_group() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}.{WIDGET_GROUP_DOMAIN}", &suffix[..8])
}

fn structural_widget_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": { "type": "integer", "minimum": 1 },
                    "color": { "type": "string", "enum": ["red", "blue"] }
                }
            }
        }
    })
}

fn widget(name: &str, spec: &serde_json::Value, resource: &ApiResource) -> DynamicObject {
    let mut object = DynamicObject::new(name, resource);
    object.data = json!({ "spec": spec });
    object
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

#[tokio::test]
async fn crd_with_a_structural_schema_is_accepted_and_enforces_it() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "structural-crd").await;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let group = unique_widget_group();
    let crd = widget_crd(&group, &structural_widget_schema());
    let name = crd.name_any();

    crds.create(&PostParams::default(), &crd)
        .await
        .expect("a structural CRD is accepted");

    support::wait::until(PROPAGATION_TIMEOUT, "the CRD becomes Established", || {
        let crds = crds.clone();
        let name = name.clone();
        async move { crd_is_established(&crds, &name).await }
    })
    .await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, WIDGET_VERSION, WIDGET_KIND),
        WIDGET_PLURAL,
    );
    let widgets =
        Api::<DynamicObject>::namespaced_with(client.clone(), namespace.name(), &resource);
    let post = PostParams::default();
    widgets
        .create(
            &post,
            &widget("valid", &json!({ "size": 3, "color": "red" }), &resource),
        )
        .await
        .expect("a Widget matching the schema is stored");
    assert_eq!(
        api_error_code(
            widgets
                .create(
                    &post,
                    &widget("wrong-type", &json!({ "size": "big" }), &resource)
                )
                .await
        ),
        Some(INVALID_CODE),
        "a string where the schema says integer is rejected"
    );
    assert_eq!(
        api_error_code(
            widgets
                .create(
                    &post,
                    &widget("missing", &json!({ "color": "blue" }), &resource)
                )
                .await
        ),
        Some(INVALID_CODE),
        "a missing required field is rejected"
    );
    crds.delete(&name, &DeleteParams::default())
        .await
        .expect("the CRD is deleted");
    namespace.cleanup().await;
}

#[tokio::test]
async fn crd_with_a_non_structural_schema_is_rejected_by_the_server() {
    let client = client().await;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    // A schema without a root type is not structural, which apiextensions.k8s.io/v1 requires.
    let crd = widget_crd(
        &unique_widget_group(),
        &json!({ "properties": { "spec": { "type": "object" } } }),
    );

    let result = crds.create(&PostParams::default(), &crd).await;

    let Err(kube::Error::Api(status)) = result else {
        panic!("a non-structural CRD must be rejected, got {result:?}");
    };
    assert_eq!(status.code, INVALID_CODE, "{status:?}");
    assert!(
        status.message.contains("openAPIV3Schema.type"),
        "{}",
        status.message
    );
    assert!(
        crds.get_opt(&crd.name_any())
            .await
            .expect("CRDs can be read")
            .is_none()
    );
}
