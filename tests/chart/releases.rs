//! The chart in the clusters users have: the security context `OpenShift` needs, the values
//! users extend it with, IPv6 listening addresses, and several releases in one cluster, rendered
//! and installed for real with `helm install`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::helm::{self, HELM, Render, apply, documents};
use crate::release::unique_release;
use crate::support::k8s::{self, FreshApiServer};
use crate::{restricted_namespace, stderr};

const CRD_NAMES: [&str; 2] = [
    "ontapclusters.ontap-ipsec.dev",
    "ipsecsecurityassociations.ontap-ipsec.dev",
];
const CHART_NAME: &str = "ontap-ipsec-operator";
const KUBECTL: &str = "target/k8s/bin/kubectl";

/// The rendered Deployment.
fn deployment_of(manifest: &str) -> serde_json::Value {
    documents(manifest)
        .into_iter()
        .find(|document| document["kind"] == "Deployment")
        .expect("a Deployment")
}

fn container_of(deployment: &serde_json::Value) -> &serde_json::Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn args_of(deployment: &serde_json::Value) -> Vec<String> {
    container_of(deployment)["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|arg| arg.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn helm_template_works_without_a_kube_version() {
    // Upstream's helm assumes the Kubernetes of its client-go; a helm built without those
    // ldflags assumes v1.20 and the chart's kubeVersion refuses it.
    let output = helm::helm([
        "template",
        "plain",
        helm::chart_path().to_str().expect("UTF-8 path"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = helm::helm(["version", "--template", "{{ .Version }}"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn security_contexts_keep_their_defaults_and_openshift_drops_the_fixed_ids() {
    let manifest = Render::new("security", "default", json!({})).render();
    let deployment = deployment_of(&manifest);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        container_of(&deployment)["securityContext"],
        json!({
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        })
    );

    let openshift = json!({"podSecurityContext": {"runAsUser": null, "runAsGroup": null}});
    let manifest = Render::new("security", "default", openshift).render();
    assert_eq!(
        deployment_of(&manifest)["spec"]["template"]["spec"]["securityContext"],
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}),
        "OpenShift's restricted-v2 SCC assigns the user: the chart must not fix one"
    );

    let emptied = json!({"podSecurityContext": {}, "securityContext": {"readOnlyRootFilesystem": true, "appArmorProfile": {"type": "RuntimeDefault"}}});
    let manifest = Render::new("security", "default", emptied).render();
    let deployment = deployment_of(&manifest);
    assert_eq!(
        container_of(&deployment)["securityContext"]["appArmorProfile"],
        json!({"type": "RuntimeDefault"}),
        "fields the schema does not list pass through"
    );
}

#[tokio::test]
async fn openshift_values_and_every_extension_are_accepted_by_the_api_server() {
    let namespace = restricted_namespace("chart-extensions").await;
    let values = json!({
        "crds": {"enabled": false},
        "watchNamespace": namespace.name(),
        "podSecurityContext": {"runAsUser": null, "runAsGroup": null},
        "extraArgs": ["--forbid-insecure-transport"],
        "extraEnv": [
            {"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "extraVolumes": [{"name": "ca-bundle", "configMap": {"name": "ca-bundle"}}],
        "extraVolumeMounts": [{"name": "ca-bundle", "mountPath": "/etc/ssl/certs/extra", "readOnly": true}],
        "metrics": {"certSecret": "operator-metrics-tls"},
        "resources": {"limits": {"memory": "256Mi", "ephemeral-storage": "1Gi", "hugepages-2Mi": "4Mi"}},
        "global": {"imageRegistry": "registry.example"},
    });
    let manifest = Render::new(&unique_release(), namespace.name(), values).render();
    let deployment = deployment_of(&manifest);
    let args = args_of(&deployment);
    assert_eq!(
        args.last().map(String::as_str),
        Some("--forbid-insecure-transport")
    );
    let container = container_of(&deployment);
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|variable| variable["name"].as_str())
        .collect();
    assert!(
        env.ends_with(&["HTTPS_PROXY", "NODE_NAME"]),
        "the chart's variables come first: {env:?}"
    );
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|mount| mount["name"].as_str())
        .collect();
    assert_eq!(mounts, ["metrics-tls", "ca-bundle"]);
    let volumes: Vec<&str> = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|volume| volume["name"].as_str())
        .collect();
    assert_eq!(volumes, ["metrics-tls", "ca-bundle"]);
    assert_eq!(container["resources"]["limits"]["hugepages-2Mi"], "4Mi");
    if let Err(error) = apply(&manifest, true) {
        panic!("the API server refuses the extended render: {error}");
    }
    namespace.cleanup().await;
}

#[test]
fn values_schema_opens_where_users_extend_and_stays_strict_elsewhere() {
    let accepted = |values: serde_json::Value| {
        Render::new("schema", "default", values.clone())
            .try_render()
            .unwrap_or_else(|error| panic!("{values} is refused: {error}"));
    };
    accepted(json!({"global": {"imageRegistry": "registry.example", "anything": [1]}}));
    accepted(json!({"resources": {"limits": {"nvidia.com/gpu": 1, "hugepages-1Gi": "2Gi"}}}));
    accepted(json!({"resources": {"claims": [{"name": "gpu"}]}}));
    accepted(
        json!({"podSecurityContext": {"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}}),
    );
    accepted(json!({"securityContext": {"seLinuxOptions": {"level": "s0:c123,c456"}}}));
    accepted(json!({"listenAddress": "0.0.0.0"}));
    accepted(json!({"listenAddress": "[fd00::1]"}));

    let refused = |values: serde_json::Value, expected: &str| {
        let error = Render::new("schema", "default", values.clone())
            .try_render()
            .expect_err(&format!("{values} must be refused"));
        assert!(error.contains(expected), "{values}: {error}");
    };
    refused(json!({"extraArg": ["--x"]}), "'extraArg' not allowed");
    refused(
        json!({"extraArgs": "--forbid-insecure-transport"}),
        "/extraArgs",
    );
    refused(json!({"extraEnv": [{"value": "no name"}]}), "/extraEnv/0");
    refused(
        json!({"extraVolumeMounts": [{"name": "ca"}]}),
        "/extraVolumeMounts/0",
    );
    refused(
        json!({"podSecurityContext": {"runAsUser": "65532"}}),
        "/podSecurityContext/runAsUser",
    );
    refused(
        json!({"resources": {"limits": {"memory": "lots"}}}),
        "/resources/limits/memory",
    );
    refused(json!({"listenAddress": "localhost"}), "/listenAddress");
}

#[test]
fn probes_and_metrics_listen_on_ipv6_and_ipv4() {
    let manifest = Render::new("listen", "default", json!({})).render();
    let args = args_of(&deployment_of(&manifest));
    assert!(
        args.contains(&"--metrics-addr=[::]:8080".to_owned()),
        "{args:?}"
    );
    assert!(
        args.contains(&"--health-addr=[::]:8081".to_owned()),
        "{args:?}"
    );

    let manifest = Render::new("listen", "default", json!({"listenAddress": "0.0.0.0"})).render();
    let args = args_of(&deployment_of(&manifest));
    assert!(
        args.contains(&"--metrics-addr=0.0.0.0:8080".to_owned()),
        "{args:?}"
    );
    assert!(
        args.contains(&"--health-addr=0.0.0.0:8081".to_owned()),
        "{args:?}"
    );
}

/// `(kind, namespace, name)` of every object in `manifest`.
fn identities(manifest: &str) -> BTreeSet<(String, String, String)> {
    documents(manifest)
        .iter()
        .map(|document| {
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
            (
                text(&document["kind"]),
                text(&document["metadata"]["namespace"]),
                text(&document["metadata"]["name"]),
            )
        })
        .collect()
}

/// The Lease a render's operator takes and the Lease its Role lets it get and patch.
fn leases(manifest: &str) -> (String, String) {
    let flag = args_of(&deployment_of(manifest))
        .into_iter()
        .find_map(|arg| arg.strip_prefix("--lease-name=").map(str::to_owned))
        .expect("--lease-name with leader election");
    let role = documents(manifest)
        .into_iter()
        .find(|document| {
            document["kind"] == "Role"
                && document["metadata"]["name"]
                    .as_str()
                    .is_some_and(|name| name.ends_with("-leader-election"))
        })
        .expect("the leader-election Role");
    let granted = role["rules"][1]["resourceNames"][0]
        .as_str()
        .expect("a Lease name")
        .to_owned();
    (flag, granted)
}

#[test]
fn two_releases_in_one_namespace_render_side_by_side_without_sharing_an_object() {
    // Both in namespace `operators`, each watching its own tenant, with leader election.
    let first = Render::new(
        "tenant-a",
        "operators",
        json!({"replicaCount": 2, "watchNamespace": "tenant-a"}),
    )
    .render();
    let second = Render::new(
        "tenant-b",
        "operators",
        json!({"replicaCount": 2, "watchNamespace": "tenant-b", "crds": {"enabled": false}}),
    )
    .render();
    let shared: Vec<_> = identities(&first)
        .intersection(&identities(&second))
        .cloned()
        .collect();
    assert!(shared.is_empty(), "both releases render {shared:?}");
    let (first_lease, first_granted) = leases(&first);
    let (second_lease, second_granted) = leases(&second);
    assert_eq!(first_lease, "tenant-a-ontap-ipsec-operator");
    assert_eq!(first_granted, first_lease);
    assert_eq!(second_lease, "tenant-b-ontap-ipsec-operator");
    assert_eq!(second_granted, second_lease);
}

/// One cluster of its own for the `helm install`s: a second API server over the shared etcd with
/// a prefix of its own, so no other test's release or CRD change is seen, and none is made.
struct Cluster {
    server: FreshApiServer,
}

impl Cluster {
    async fn start() -> Self {
        Self {
            server: FreshApiServer::start().await,
        }
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .env("KUBECONFIG", self.server.kubeconfig.path())
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()))
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.run(&k8s::repo_root().join(KUBECTL), args)
    }

    fn helm(&self, args: &[&str]) -> Output {
        self.run(&k8s::repo_root().join(HELM), args)
    }

    fn create_namespace(&self, name: &str) {
        let output = self.kubectl(&["create", "namespace", name]);
        assert!(output.status.success(), "{}", stderr(&output));
    }

    /// `helm install` of the chart as `release` into `namespace` with `values`.
    fn install(&self, release: &str, namespace: &str, values: &serde_json::Value) -> Output {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let file = directory.path().join("values.json");
        std::fs::write(&file, values.to_string()).expect("the values file is written");
        let chart = helm::chart_path();
        self.helm(&[
            "install",
            release,
            chart.to_str().expect("UTF-8 path"),
            "--namespace",
            namespace,
            "--values",
            file.to_str().expect("UTF-8 path"),
        ])
    }

    /// The `--lease-name` of a release's Deployment.
    fn lease_name(&self, namespace: &str, release: &str) -> String {
        let output = self.kubectl(&[
            "-n",
            namespace,
            "get",
            "deployment",
            &format!("{release}-{CHART_NAME}"),
            "-o",
            "jsonpath={.spec.template.spec.containers[0].args}",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let args: Vec<String> =
            serde_json::from_slice(&output.stdout).expect("args are a JSON list");
        args.into_iter()
            .find_map(|arg| arg.strip_prefix("--lease-name=").map(str::to_owned))
            .expect("--lease-name")
    }
}

fn assert_refused(output: &Output, expected: &[&str]) {
    assert!(
        !output.status.success(),
        "the install was not refused: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let message = stderr(output);
    for part in expected {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

#[tokio::test]
async fn second_release_installs_with_crds_disabled_and_overlapping_releases_are_refused() {
    let cluster = Cluster::start().await;
    let (ops, tenant, other) = ("operators", "tenant", "other");
    for namespace in [ops, tenant, other] {
        cluster.create_namespace(namespace);
    }
    let (first, second) = ("team-a", "team-b");

    // The first release installs the CRDs and owns them.
    let output = cluster.install(
        first,
        ops,
        &json!({"replicaCount": 2, "watchNamespace": ops}),
    );
    assert!(
        output.status.success(),
        "first release: {}",
        stderr(&output)
    );

    // The second, with the default crds.enabled=true, is refused with a message naming the way out.
    let second_values = json!({"replicaCount": 2, "watchNamespace": tenant});
    let output = cluster.install(second, ops, &second_values);
    assert_refused(
        &output,
        &[
            &format!("belongs to release {first} in namespace {ops}"),
            "--set crds.enabled=false",
        ],
    );
    let mut without_crds = second_values.clone();
    without_crds["crds"] = json!({"enabled": false});
    let output = cluster.install(second, ops, &without_crds);
    assert!(
        output.status.success(),
        "second release: {}",
        stderr(&output)
    );

    // Both run side by side in one namespace, each with its own Lease.
    assert_eq!(
        cluster.lease_name(ops, first),
        format!("{first}-{CHART_NAME}")
    );
    assert_eq!(
        cluster.lease_name(ops, second),
        format!("{second}-{CHART_NAME}")
    );

    // A release watching every namespace next to them, or a second one for a watched namespace,
    // is refused before anything is created.
    let output = cluster.install("everywhere", other, &json!({"crds": {"enabled": false}}));
    assert_refused(
        &output,
        &[
            &format!("Release {first} in namespace {ops}"),
            &format!("already mirrors namespace {ops}"),
            "this release would mirror every namespace too",
        ],
    );
    let output = cluster.install(
        "tenant-again",
        other,
        &json!({"crds": {"enabled": false}, "watchNamespace": tenant}),
    );
    assert_refused(
        &output,
        &[
            &format!("Release {second} in namespace {ops}"),
            &format!("already mirrors namespace {tenant}"),
        ],
    );
    let output = cluster.helm(&["list", "--all-namespaces", "--short"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([first, second]),
        "refused releases leave nothing behind"
    );

    // Uninstalling the owner keeps the CRDs (and every object of them) for the other release.
    let output = cluster.helm(&["uninstall", first, "--namespace", ops]);
    assert!(output.status.success(), "{}", stderr(&output));
    for crd in CRD_NAMES {
        let output = cluster.kubectl(&["get", "crd", crd]);
        assert!(
            output.status.success(),
            "{crd} was deleted: {}",
            stderr(&output)
        );
    }
}
