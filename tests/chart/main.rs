//! End-to-end checks of the Helm chart on the local control plane: lint, schema, rendering
//! accepted by the API server, the operator working with exactly the chart's RBAC, the read-only
//! guard, and read access through the built-in view role.

#[path = "../support/mod.rs"]
mod support;

mod admission;
mod aggregation;
mod helm;
mod metrics_auth;
mod mirror;
mod monitoring;
mod operator;
mod rbac;
mod release;
mod releases;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, OntapCluster};
use serde_json::json;

use helm::{Render, apply, documents, helm, kinds};
use mirror::Mirror;
use release::{Release, unique_release};
use support::k8s::{self, TestNamespace, service_account_kubeconfig, service_account_user};
use support::wait;

/// Propagation of RBAC and admission-policy changes to the API server's caches.
const PROPAGATION: Duration = Duration::from_secs(30);
/// The start of the read-only guard's denial message (the chart's `readOnlyMessage`).
const GUARD_MESSAGE: &str = "IpsecSecurityAssociation objects are read-only mirrors of ONTAP security associations: only the operator";
const IPSEC_SECURITY_ASSOCIATIONS: &str = "ipsecsecurityassociations.ontap-ipsec.dev";
const ONTAP_CLUSTERS: &str = "ontapclusters.ontap-ipsec.dev";
/// The chart's CRD copy and its source.
const CHART_CRDS: &str = "charts/ontap-ipsec-operator/files/crds.yaml";
const CRDS: &str = "crds/crds.yaml";
const MONITORING_API_VERSION: &str = "monitoring.coreos.com/v1";
const MONITORING_CRDS: &str = "tests/chart/monitoring-crds.yaml";
const EXAMPLES: &str = "examples";
const TROUBLESHOOTING: &str = "docs/troubleshooting.md";
/// Where condition reasons and event reasons are defined.
const REASON_SOURCES: [&str; 3] = [
    "src/crd/condition.rs",
    "src/ontap/health.rs",
    "src/controller/events.rs",
];

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A namespace whose Pod Security admission enforces, warns and audits `restricted`, so an
/// apply with warnings as errors fails on any violation in a Pod template.
async fn restricted_namespace(prefix: &str) -> TestNamespace {
    let client = k8s::client().await;
    let namespace = TestNamespace::create(&client, prefix).await;
    let output = k8s::kubectl([
        "label",
        "namespace",
        namespace.name(),
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/audit=restricted",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    namespace
}

#[test]
fn helm_lint_passes_in_strict_mode() {
    let chart = helm::chart_path();
    let output = helm(["lint", "--strict", chart.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
}

#[test]
fn values_schema_rejects_a_misspelt_key_and_a_wrong_type() {
    let typo = Render::new("schema", "default", json!({"replicaCont": 2})).try_render();
    let error = typo.expect_err("an unknown key must fail");
    assert!(
        error.contains("additional properties 'replicaCont' not allowed"),
        "{error}"
    );

    let nested = Render::new(
        "schema",
        "default",
        json!({"metrics": {"serviceMonitor": {"enable": true}}}),
    )
    .try_render()
    .expect_err("an unknown nested key must fail");
    assert!(nested.contains("'enable' not allowed"), "{nested}");

    let wrong_type = Render::new("schema", "default", json!({"replicaCount": "two"}))
        .try_render()
        .expect_err("a string replica count must fail");
    assert!(wrong_type.contains("/replicaCount"), "{wrong_type}");
}

#[test]
fn chart_crds_are_a_copy_of_the_generated_crds() {
    let root = k8s::repo_root();
    let source = std::fs::read_to_string(root.join(CRDS)).expect("crds/crds.yaml is readable");
    let copy = std::fs::read_to_string(root.join(CHART_CRDS)).unwrap_or_default();
    assert!(
        source == copy,
        "{CHART_CRDS} differs from {CRDS}: run `make chart-crds`"
    );
}

#[test]
fn rendered_crds_equal_the_generated_crds_plus_the_keep_annotation() {
    let root = k8s::repo_root();
    let source = std::fs::read_to_string(root.join(CRDS)).expect("crds/crds.yaml is readable");
    let manifest = Render::new("crds", "default", json!({})).render();
    let mut rendered: Vec<serde_json::Value> = documents(&manifest)
        .into_iter()
        .filter(|document| document["kind"] == "CustomResourceDefinition")
        .collect();
    for crd in &mut rendered {
        let metadata = crd["metadata"].as_object_mut().expect("CRDs have metadata");
        let annotations = metadata
            .remove("annotations")
            .expect("the template adds annotations");
        assert_eq!(annotations, json!({"helm.sh/resource-policy": "keep"}));
        let labels = metadata.remove("labels").expect("the template adds labels");
        assert_eq!(labels["app.kubernetes.io/instance"], "crds");
    }
    assert_eq!(
        rendered,
        documents(&source),
        "the template must not change the CRDs"
    );

    let without = Render::new("crds", "default", json!({"crds": {"enabled": false}})).render();
    assert!(
        !kinds(&without)
            .iter()
            .any(|kind| kind == "CustomResourceDefinition")
    );
    let unkept = Render::new("crds", "default", json!({"crds": {"keep": false}})).render();
    assert!(
        !unkept.contains("helm.sh/resource-policy"),
        "keep: false drops the annotation"
    );
}

#[tokio::test]
async fn default_render_is_accepted_by_the_api_server() {
    let namespace = restricted_namespace("chart-default-render").await;
    let manifest = Render::new(&unique_release(), namespace.name(), json!({})).render();
    let mut rendered = kinds(&manifest);
    rendered.sort();
    assert_eq!(
        rendered,
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicyBinding",
        ]
    );
    if let Err(error) = apply(&manifest, true) {
        panic!("the API server refuses the default render: {error}");
    }
    namespace.cleanup().await;
}

#[tokio::test]
async fn render_with_every_toggle_on_is_accepted_by_the_api_server() {
    // The monitoring kinds are checked against minimal CRDs of their own (see the file's header).
    let output = k8s::kubectl(["apply", "--server-side", "-f", MONITORING_CRDS]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = k8s::kubectl([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let namespace = restricted_namespace("chart-all-toggles").await;
    let values = json!({
        "replicaCount": 2,
        "watchNamespace": namespace.name(),
        "image": {"tag": "test", "digest": format!("sha256:{}", "0".repeat(64))},
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccount": {"annotations": {"example.com/role": "ontap"}},
        "readOnlyGuard": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace.name()}}},
        "secretAccessCheck": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace.name()}}},
        "operator": {"logFormat": "text", "logLevel": "debug", "maxConcurrentPolls": 4, "crdWaitSeconds": 5},
        "health": {"port": 9091},
        "metrics": {
            "port": 9090,
            "certSecret": "operator-metrics-tls",
            "readers": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}],
            "networkPolicy": {"enabled": true, "apiServerCIDRs": ["10.0.0.1/32"]},
            "service": {"annotations": {"prometheus.io/scrape": "true"}},
            "serviceMonitor": {
                "enabled": true,
                "labels": {"release": "prometheus"},
                "tlsConfig": {"serverName": "operator.example", "ca": {"secret": {"name": "metrics-ca", "key": "ca.crt"}}},
                "bearerTokenSecret": {"name": "prometheus-token", "key": "token"},
                "relabelings": [{"action": "replace", "targetLabel": "team", "replacement": "storage"}], "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "ontap_ipsec_sa_packets_total"}],
            },
            "prometheusRule": {"enabled": true, "labels": {"release": "prometheus"}, "severity": "critical"}, "grafanaDashboard": {"enabled": true},
        },
        "podDisruptionBudget": {"minAvailable": "50%"},
        "podAnnotations": {"example.com/a": "b"},
        "podLabels": {"team": "storage"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "storage", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "ontap-ipsec-operator"}},
        }],
    });
    let mut render = Render::new(&unique_release(), namespace.name(), values);
    render.api_versions.push(MONITORING_API_VERSION.to_owned());
    let manifest = render.render();
    let rendered: BTreeSet<String> = kinds(&manifest).into_iter().collect();
    for kind in [
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "Role",
        "RoleBinding",
    ] {
        assert!(rendered.contains(kind), "{kind} missing from {rendered:?}");
    }
    let deployment = documents(&manifest)
        .into_iter()
        .find(|document| document["kind"] == "Deployment")
        .expect("a Deployment");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.contains(&"--leader-elect"), "{args:?}");
    assert!(
        args.contains(&format!("--namespace={}", namespace.name()).as_str()),
        "{args:?}"
    );
    assert!(args.contains(&"--metrics-addr=[::]:9090"), "{args:?}");
    assert!(args.contains(&"--health-addr=[::]:9091"), "{args:?}");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "health", "{probe}");
    }
    assert!(args.contains(&"--metrics-auth=kubernetes"), "{args:?}");
    assert!(
        args.contains(&"--metrics-cert-dir=/etc/ontap-ipsec-operator/metrics-tls"),
        "{args:?}"
    );
    if let Err(error) = apply(&manifest, true) {
        panic!("the API server refuses the render with every toggle: {error}");
    }

    // Without the monitoring API the two kinds are skipped, not failed.
    let mut without = render.clone();
    without.api_versions.clear();
    let skipped = kinds(&without.render());
    assert!(
        !skipped
            .iter()
            .any(|kind| kind == "ServiceMonitor" || kind == "PrometheusRule")
    );
    namespace.cleanup().await;
}

#[tokio::test]
async fn operator_with_the_chart_service_account_mirrors_a_fixture_completely() {
    let mirror = Mirror::start("chart-mirror", |_| json!({}), &[], &[]).await;
    mirror.wait_for_complete_mirror().await;
    // A change after the first poll: a status update and a TunnelDown Event.
    let down = mirror.take_tunnel_down_and_wait().await;
    mirror.wait_for_tunnel_down_event(&down).await;
    mirror.finish().await;
}

#[tokio::test]
async fn leader_elected_operator_in_one_namespace_works_with_the_chart_rbac() {
    // The Role variant of the RBAC plus the Lease Role, used by a replica that must win the Lease.
    let mirror = Mirror::start(
        "chart-leader",
        |namespace| json!({"replicaCount": 2, "watchNamespace": namespace}),
        &["--leader-elect"],
        &[("POD_NAME", "replica-a")],
    )
    .await;
    mirror.wait_for_complete_mirror().await;
    let leases: Api<Lease> = Api::namespaced(mirror.release.client.clone(), mirror.release.ns());
    // Each release has its own Lease, named like its objects.
    let lease_name = mirror.release.service_account();
    let lease = leases.get(&lease_name).await.expect("the Lease exists");
    assert_eq!(
        lease.spec.and_then(|spec| spec.holder_identity).as_deref(),
        Some("replica-a")
    );
    mirror.finish().await;
}

#[tokio::test]
async fn service_account_can_do_nothing_beyond_what_the_operator_uses() {
    let release = Release::install("chart-rbac", |_| json!({})).await;
    let namespace = release.ns().to_owned();
    let baseline = service_account_user(&namespace, "baseline");
    let operator_rules = expected_operator_rules();
    let granted = settle(&operator_rules, || {
        rbac::granted(&release.operator_user(), &baseline, &namespace)
    })
    .await;
    assert_eq!(granted, operator_rules);
    release.cleanup().await;
}

#[tokio::test]
async fn service_account_of_a_one_namespace_release_with_replicas_has_only_its_roles() {
    let release = Release::install(
        "chart-rbac-namespaced",
        |namespace| json!({"replicaCount": 2, "watchNamespace": namespace}),
    )
    .await;
    let namespace = release.ns().to_owned();
    let baseline = service_account_user(&namespace, "baseline");
    let mut inside = expected_operator_rules();
    inside.extend(rbac::expected(&[
        ("leases.coordination.k8s.io", "", &["create"]),
        (
            "leases.coordination.k8s.io",
            &release.service_account(),
            &["get", "patch"],
        ),
    ]));
    let granted = settle(&inside, || {
        rbac::granted(&release.operator_user(), &baseline, &namespace)
    })
    .await;
    assert_eq!(granted, inside);
    // Nothing outside the watched namespace but the cluster-scoped reviews of /metrics callers:
    // even the start-up CRD check lists in it.
    let reviews = metrics_auth_rules();
    let elsewhere = settle(&reviews, || {
        rbac::granted(&release.operator_user(), &baseline, "default")
    })
    .await;
    assert_eq!(elsewhere, reviews);
    release.cleanup().await;
}

/// Re-reads `actual` until it equals `expected` (RBAC reaches the authorizer's cache a moment
/// after the apply) or [`PROPAGATION`] passes; returns the last reading.
async fn settle<T: PartialEq>(expected: &T, actual: impl Fn() -> T) -> T {
    let deadline = std::time::Instant::now() + PROPAGATION;
    loop {
        let value = actual();
        if value == *expected || std::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The rules the controller's API calls need (see the chart's `operatorRules`).
fn expected_operator_rules() -> BTreeSet<rbac::Permission> {
    rbac::expected(&[
        (ONTAP_CLUSTERS, "", &["list", "watch"]),
        ("ontapclusters.ontap-ipsec.dev/status", "", &["patch"]),
        (
            IPSEC_SECURITY_ASSOCIATIONS,
            "",
            &["list", "watch", "create", "patch", "delete"],
        ),
        (
            "ipsecsecurityassociations.ontap-ipsec.dev/status",
            "",
            &["patch"],
        ),
        ("secrets", "", &["get"]),
        ("events.events.k8s.io", "", &["create", "patch"]),
    ])
    .union(&metrics_auth_rules())
    .cloned()
    .collect()
}

/// What `/metrics` with `metrics.auth: kubernetes` needs: asking the API server who a caller is
/// and whether it may read `/metrics`. Cluster-scoped, so granted in every namespace.
fn metrics_auth_rules() -> BTreeSet<rbac::Permission> {
    rbac::expected(&[
        ("tokenreviews.authentication.k8s.io", "", &["create"]),
        ("subjectaccessreviews.authorization.k8s.io", "", &["create"]),
    ])
}

#[tokio::test]
async fn guard_denies_an_admin_changing_a_mirrored_object_but_not_the_operator() {
    let mirror = Mirror::start("chart-guard", |_| json!({}), &[], &[]).await;
    let objects = mirror.wait_for_complete_mirror().await;
    let target = objects[0].name_any();
    let ns = mirror.release.ns();
    mirror.wait_for_guard().await;

    let denied = |args: &[&str], what: &str| {
        let output = k8s::kubectl(args);
        let message = stderr(&output);
        assert!(!output.status.success(), "{what} was allowed");
        assert!(message.contains(GUARD_MESSAGE), "{what}: {message}");
        assert!(
            message.contains(&mirror.release.operator_user()),
            "{what}: {message}"
        );
    };
    let object = format!("ipsecsa/{target}");
    denied(
        &["-n", ns, "label", &object, "team=storage"],
        "adding a label",
    );
    denied(
        &["-n", ns, "label", &object, "ontap-ipsec.dev/svm-"],
        "removing a label",
    );
    denied(
        &["-n", ns, "annotate", &object, "note=hand-edited"],
        "adding an annotation",
    );
    denied(
        &[
            "-n",
            ns,
            "patch",
            &object,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"state":"established"}}"#,
        ],
        "patching status",
    );
    let forged = json!({
        "apiVersion": "ontap-ipsec.dev/v1alpha1",
        "kind": "IpsecSecurityAssociation",
        "metadata": {"name": "forged", "namespace": ns},
        "spec": {"clusterRef": {"name": mirror::CLUSTER}, "uuid": "00000000-0000-0000-0000-000000000000"},
    });
    let output = helm::kubectl_with_input(&["create", "-f", "-"], &forged.to_string());
    assert!(
        !output.status.success(),
        "creating a mirrored object by hand was allowed"
    );
    assert!(
        stderr(&output).contains(GUARD_MESSAGE),
        "{}",
        stderr(&output)
    );

    // Spec changes are stopped even earlier, by the CRD's immutability rule.
    let output = k8s::kubectl([
        "-n",
        ns,
        "patch",
        &object,
        "--type=merge",
        "-p",
        r#"{"spec":{"uuid":"changed"}}"#,
    ]);
    assert!(!output.status.success(), "changing the spec was allowed");
    assert!(stderr(&output).contains("read-only"), "{}", stderr(&output));

    // The operator's own updates pass the guard: a tunnel going down reaches the status.
    let _ = mirror.take_tunnel_down_and_wait().await;

    // Deleting stays possible, including foreground deletion, whose finalizer the garbage
    // collector removes with an update the guard lets through.
    let victim = objects[1].name_any();
    let output = k8s::kubectl([
        "-n",
        ns,
        "delete",
        &format!("ipsecsa/{victim}"),
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(
        output.status.success(),
        "foreground deletion: {}",
        stderr(&output)
    );
    mirror.finish().await;
}

#[tokio::test]
async fn view_role_users_can_read_both_kinds_and_cannot_write_them() {
    let mirror = Mirror::start("chart-view", |_| json!({}), &[], &[]).await;
    mirror.wait_for_complete_mirror().await;
    let ns = mirror.release.ns().to_owned();
    let admin = mirror.release.client.clone();

    // The release ships the aggregate-to-view ClusterRole, and it reaches the built-in `view` role.
    assert_ships_view_role(&mirror.release.manifest);
    let _aggregation = aggregation::ensure_view_includes_ontap_kinds().await;
    let viewer = service_account_kubeconfig(&admin, &ns, "viewer").await;
    let output = k8s::kubectl([
        "-n",
        &ns,
        "create",
        "rolebinding",
        "viewer",
        "--clusterrole=view",
        &format!("--serviceaccount={ns}:viewer"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let client = viewer.client().await;
    let clusters: Api<OntapCluster> = Api::namespaced(client.clone(), &ns);
    let mirrored: Api<IpsecSecurityAssociation> = Api::namespaced(client.clone(), &ns);
    wait::until(PROPAGATION, "the view binding to apply", || async {
        mirrored.list(&ListParams::default()).await.is_ok()
    })
    .await;
    let listed = mirrored
        .list(&ListParams::default())
        .await
        .expect("a viewer lists mirrored objects");
    assert_eq!(listed.items.len(), mirror.expected_names().len());
    let name = listed.items[0].name_any();
    mirrored
        .get(&name)
        .await
        .expect("a viewer gets a mirrored object");
    clusters
        .list(&ListParams::default())
        .await
        .expect("a viewer lists OntapClusters");
    clusters
        .get(mirror::CLUSTER)
        .await
        .expect("a viewer gets an OntapCluster");

    let forbidden = |result: Result<(), kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{what}: {status:?}"),
        other => panic!("{what}: expected 403, got {other:?}"),
    };
    let label = Patch::Merge(json!({"metadata": {"labels": {"team": "storage"}}}));
    forbidden(
        mirrored
            .patch(&name, &PatchParams::default(), &label)
            .await
            .map(drop),
        "patching an SA",
    );
    forbidden(
        mirrored
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {}})),
            )
            .await
            .map(drop),
        "patching an SA's status",
    );
    forbidden(
        mirrored
            .delete(&name, &DeleteParams::default())
            .await
            .map(drop),
        "deleting an SA",
    );
    forbidden(
        clusters
            .patch(
                mirror::CLUSTER,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": true}})),
            )
            .await
            .map(drop),
        "changing an OntapCluster",
    );
    drop(viewer);
    mirror.finish().await;
}

/// The manifest has the `ClusterRole` that aggregates read access to both kinds into `view`.
fn assert_ships_view_role(manifest: &str) {
    let view_role = documents(manifest)
        .into_iter()
        .find(|document| {
            document["kind"] == "ClusterRole"
                && document["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-view"))
        })
        .expect("an aggregate-to-view ClusterRole");
    assert_eq!(
        view_role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert_eq!(
        view_role["rules"],
        json!([{"apiGroups": ["ontap-ipsec.dev"], "resources": ["ontapclusters", "ipsecsecurityassociations"], "verbs": ["get", "list", "watch"]}])
    );
}

#[tokio::test]
async fn examples_are_accepted_by_the_api_server() {
    k8s::apply_crds();
    let namespace = restricted_namespace("chart-examples").await;
    let directory = k8s::repo_root().join(EXAMPLES);
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .expect("examples/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let manifest = std::fs::read_to_string(&file).expect("the example is readable");
        let output = helm::kubectl_with_input(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--warnings-as-errors",
                "--namespace",
                namespace.name(),
                "-f",
                "-",
            ],
            &manifest,
        );
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            stderr(&output)
        );
    }
    namespace.cleanup().await;
}

#[test]
fn troubleshooting_explains_every_condition_and_event_reason() {
    let root = k8s::repo_root();
    let guide = std::fs::read_to_string(root.join(TROUBLESHOOTING)).expect("the guide is readable");
    let constant =
        regex::Regex::new(r#"pub const (?:REASON|EVENT)_[A-Z_]+: &str = "([A-Za-z]+)";"#)
            .expect("a valid pattern");
    let mut reasons = BTreeSet::new();
    for source in REASON_SOURCES {
        let text = std::fs::read_to_string(root.join(source)).expect("the source is readable");
        reasons.extend(
            constant
                .captures_iter(&text)
                .map(|found| found[1].to_owned()),
        );
    }
    assert!(reasons.len() > 20, "{reasons:?}");
    let missing: Vec<&String> = reasons
        .iter()
        .filter(|reason| !guide.contains(&format!("`{reason}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "{TROUBLESHOOTING} does not explain {missing:?}"
    );
}
