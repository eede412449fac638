//! The chart's admission policies on the API server with real identities: the Secret access check
//! on OntapClusters, and the read-only guard's rules on finalizers, owner references and
//! OntapCluster status.

use std::path::Path;
use std::process::Output;

use kube::Api;
use kube::api::{Patch, PatchParams};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, OntapCluster};
use serde_json::json;

use crate::helm::{self, Render, kinds};
use crate::release::Release;
use crate::support::k8s::{self, ServiceAccountKubeconfig, service_account_kubeconfig};
use crate::support::wait;
use crate::{GUARD_MESSAGE, PROPAGATION, stderr};

/// The part every refusal of the Secret access check shares (the chart's `secretAccessMessage`).
const SECRET_ACCESS_MESSAGE: &str =
    "so the operator would read it on their behalf and send it to spec.endpoint";
/// The start of the guard's refusal of an OntapCluster status write (`clusterStatusMessage`).
const CLUSTER_STATUS_MESSAGE: &str =
    "The status of an OntapCluster is what the operator last saw in ONTAP: only the operator";
const CREDENTIALS: &str = "ontap-credentials";
const OTHER_SECRET: &str = "other-credentials";
const CA: &str = "ontap-ca";
/// A ServiceAccount that may write OntapClusters but not read Secrets.
const AUTHOR: &str = "cluster-author";
const AUTHOR_ROLE: &str = "ontapcluster-author";
const CREDENTIALS_READER_ROLE: &str = "credentials-reader";
const ENDPOINT: &str = "https://attacker.example.com";
const CLUSTER: &str = "prod";
const MIRROR: &str = "prod-mirror";
/// An administrator: any user in `system:masters`, which RBAC never limits.
const AS_ADMIN: [&str; 2] = ["--as=chart-test-admin", "--as-group=system:masters"];
const FINALIZER: &str = "example.com/hold";

fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> Output {
    k8s::kubectl_command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// Waits until the mirrors' CRD is older than the garbage collector's discovery period
/// (30 s, with a margin), so that it tracks owner references of mirrors.
async fn wait_until_the_garbage_collector_knows_the_mirrors() {
    const DISCOVERY_PERIOD_WITH_MARGIN: i64 = 45;
    let created = k8s::kubectl([
        "get",
        "crd",
        "ipsecsecurityassociations.ontap-ipsec.dev",
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ]);
    succeeded(&created, "reading the CRD's creation time");
    let created: jiff::Timestamp = String::from_utf8_lossy(&created.stdout)
        .trim()
        .parse()
        .expect("an RFC 3339 time");
    let age = jiff::Timestamp::now().as_second() - created.as_second();
    if let Ok(wait) = u64::try_from(DISCOVERY_PERIOD_WITH_MARGIN - age) {
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
}

fn kubectl_as_admin(args: &[&str]) -> Output {
    k8s::kubectl(AS_ADMIN.iter().chain(args))
}

fn succeeded(output: &Output, what: &str) {
    assert!(output.status.success(), "{what}: {}", stderr(output));
}

/// The refusal message of a command that must fail.
fn refused(output: &Output, what: &str) -> String {
    assert!(!output.status.success(), "{what} was allowed");
    stderr(output)
}

fn ontap_cluster(name: &str, credentials: &str) -> serde_json::Value {
    json!({
        "apiVersion": "ontap-ipsec.dev/v1alpha1",
        "kind": "OntapCluster",
        "metadata": {"name": name},
        "spec": {"endpoint": ENDPOINT, "credentialsSecretRef": {"name": credentials}},
    })
}

fn create_as(kubeconfig: &Path, namespace: &str, object: &serde_json::Value) -> Output {
    let path = kubeconfig.to_str().expect("a UTF-8 path");
    helm::kubectl_with_input(
        &["--kubeconfig", path, "-n", namespace, "create", "-f", "-"],
        &object.to_string(),
    )
}

/// `kubectl -n <namespace> patch <object> --type=<kind> -p <patch>`.
fn patch(namespace: &str, object: &str, kind: &str, patch: &serde_json::Value) -> Vec<String> {
    vec![
        "-n".to_owned(),
        namespace.to_owned(),
        "patch".to_owned(),
        object.to_owned(),
        format!("--type={kind}"),
        "-p".to_owned(),
        patch.to_string(),
    ]
}

fn merge_patch(namespace: &str, object: &str, merge: &serde_json::Value) -> Vec<String> {
    patch(namespace, object, "merge", merge)
}

fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

/// Runs kubectl as the admin (the test's own kubeconfig) and checks it succeeds.
fn admin(args: &[&str], what: &str) {
    succeeded(&k8s::kubectl(args), what);
}

/// Lets the `ServiceAccount` `account` of `namespace` do `verbs` on `resource` (only the object
/// `name`, when given), with a `Role` and `RoleBinding` called `role`.
fn grant(namespace: &str, account: &str, role: &str, verbs: &str, resource: &str, name: &str) {
    let mut create_role = vec![
        "-n".to_owned(),
        namespace.to_owned(),
        "create".to_owned(),
        "role".to_owned(),
        role.to_owned(),
        format!("--verb={verbs}"),
        format!("--resource={resource}"),
    ];
    if !name.is_empty() {
        create_role.push(format!("--resource-name={name}"));
    }
    admin(&args(&create_role), "creating a Role");
    let role_ref = format!("--role={role}");
    let subject = format!("--serviceaccount={namespace}:{account}");
    admin(
        &[
            "-n",
            namespace,
            "create",
            "rolebinding",
            role,
            &role_ref,
            &subject,
        ],
        "creating a RoleBinding",
    );
}

/// A release with three Secrets and a ServiceAccount that may get, create, update and patch
/// OntapClusters and nothing else; returns it with the ServiceAccount's kubeconfig.
async fn release_with_author(prefix: &str) -> (Release, ServiceAccountKubeconfig) {
    let release = Release::install(prefix, |_| json!({})).await;
    let ns = release.ns().to_owned();
    for secret in [CREDENTIALS, OTHER_SECRET, CA] {
        admin(
            &[
                "-n",
                &ns,
                "create",
                "secret",
                "generic",
                secret,
                "--from-literal=password=p",
            ],
            "creating a Secret",
        );
    }
    let resource = "ontapclusters.ontap-ipsec.dev";
    let verbs = "get,create,update,patch";
    grant(&ns, AUTHOR, AUTHOR_ROLE, verbs, resource, "");
    let author = service_account_kubeconfig(&release.client, &ns, AUTHOR).await;
    (release, author)
}

/// Runs `attempt` until its refusal carries `message` — RBAC and the policy reach the API
/// server's caches a moment after they are applied — and returns that refusal.
async fn refusal_with(message: &str, what: &str, attempt: impl Fn() -> Output) -> String {
    let mut last = String::new();
    wait::until(PROPAGATION, what, || {
        let output = attempt();
        last = stderr(&output);
        let matched = !output.status.success() && last.contains(message);
        async move { matched }
    })
    .await;
    last
}

#[tokio::test]
async fn secret_access_check_refuses_an_ontap_cluster_naming_secrets_its_author_may_not_get() {
    let (release, author) = release_with_author("chart-secret-access").await;
    let ns = release.ns().to_owned();
    let user = author.user().to_owned();

    // Without get on the Secret: refused, naming the requester, the Secret and the field.
    let cluster = ontap_cluster(CLUSTER, CREDENTIALS);
    let message = refusal_with(
        SECRET_ACCESS_MESSAGE,
        "the Secret access check to refuse the author",
        || create_as(author.path(), &ns, &cluster),
    )
    .await;
    for part in [
        format!("the requester ({user}) may not get Secret {ns}/{CREDENTIALS}"),
        "which spec.credentialsSecretRef names".to_owned(),
        "-secret-access".to_owned(),
    ] {
        assert!(message.contains(&part), "{part:?} missing from {message}");
    }

    // With get on that one Secret (by name, not every Secret): allowed.
    let reader = CREDENTIALS_READER_ROLE;
    grant(&ns, AUTHOR, reader, "get", "secrets", CREDENTIALS);
    wait::until(PROPAGATION, "the author's create to be allowed", || {
        let output = create_as(author.path(), &ns, &cluster);
        async move { output.status.success() }
    })
    .await;

    // An update is judged again: swapping in another Secret, or adding a CA Secret, is refused.
    let object = format!("ontapcluster/{CLUSTER}");
    let swap = merge_patch(
        &ns,
        &object,
        &json!({"spec": {"credentialsSecretRef": {"name": OTHER_SECRET}}}),
    );
    let message = refused(
        &kubectl_as(author.path(), &args(&swap)),
        "swapping in another Secret",
    );
    assert!(
        message.contains(&format!("may not get Secret {ns}/{OTHER_SECRET}"))
            && message.contains("spec.credentialsSecretRef"),
        "{message}"
    );
    let ca = merge_patch(
        &ns,
        &object,
        &json!({"spec": {"tls": {"caSecretRef": {"name": CA}}}}),
    );
    let message = refused(&kubectl_as(author.path(), &args(&ca)), "adding a CA Secret");
    assert!(
        message.contains(&format!("may not get Secret {ns}/{CA}"))
            && message.contains("which spec.tls.caSecretRef names"),
        "{message}"
    );
    // A spec change that keeps readable Secrets is allowed.
    let interval = merge_patch(&ns, &object, &json!({"spec": {"pollInterval": "5m"}}));
    succeeded(
        &kubectl_as(author.path(), &args(&interval)),
        "changing the poll interval",
    );

    metadata_changes_are_not_judged_but_a_new_endpoint_is(&ns, &author);
    drop(author);
    release.cleanup().await;
}

/// On an OntapCluster whose Secret the author may not get (made by the admin), metadata changes
/// are not judged, but any spec change is: a new endpoint sends the credentials elsewhere.
fn metadata_changes_are_not_judged_but_a_new_endpoint_is(
    ns: &str,
    author: &ServiceAccountKubeconfig,
) {
    let admins = ontap_cluster("admins", OTHER_SECRET);
    let mut create = AS_ADMIN.to_vec();
    create.extend(["-n", ns, "create", "-f", "-"]);
    succeeded(
        &helm::kubectl_with_input(&create, &admins.to_string()),
        "the admin's create",
    );
    succeeded(
        &kubectl_as(
            author.path(),
            &["-n", ns, "label", "ontapcluster/admins", "team=storage"],
        ),
        "labelling another's OntapCluster",
    );
    let endpoint = merge_patch(
        ns,
        "ontapcluster/admins",
        &json!({"spec": {"endpoint": "https://elsewhere.example.com"}}),
    );
    let message = refused(
        &kubectl_as(author.path(), &args(&endpoint)),
        "pointing another's OntapCluster elsewhere",
    );
    assert!(
        message.contains(&format!("may not get Secret {ns}/{OTHER_SECRET}")),
        "{message}"
    );
}

#[test]
fn secret_access_check_is_on_by_default_and_can_be_turned_off() {
    let policy = |values| {
        let manifest = Render::new("policies", "default", values).render();
        helm::documents(&manifest).into_iter().any(|document| {
            document["kind"] == "ValidatingAdmissionPolicy"
                && document["metadata"]["name"] == "policies-ontap-ipsec-operator-secret-access"
        })
    };
    assert!(policy(json!({})));
    assert!(!policy(json!({"secretAccessCheck": {"enabled": false}})));
    let bindings = kinds(
        &Render::new(
            "policies",
            "default",
            json!({"secretAccessCheck": {"enabled": false}}),
        )
        .render(),
    )
    .into_iter()
    .filter(|kind| kind == "ValidatingAdmissionPolicyBinding")
    .count();
    assert_eq!(bindings, 1, "only the read-only guard's binding is left");
}

/// Creates the OntapCluster (as the admin) and, as the operator, a mirror owned by it, as the
/// operator writes one; returns the mirror's `ipsecsa/<name>`.
async fn owned_mirror(ns: &str, operator: &ServiceAccountKubeconfig) -> String {
    let cluster = ontap_cluster(CLUSTER, CREDENTIALS);
    succeeded(
        &helm::kubectl_with_input(&["-n", ns, "create", "-f", "-"], &cluster.to_string()),
        "creating the OntapCluster",
    );
    let object = format!("ontapcluster/{CLUSTER}");
    let uid = k8s::kubectl(["-n", ns, "get", &object, "-o", "jsonpath={.metadata.uid}"]);
    succeeded(&uid, "reading the OntapCluster's uid");
    let mirror = json!({
        "apiVersion": "ontap-ipsec.dev/v1alpha1",
        "kind": "IpsecSecurityAssociation",
        "metadata": {
            "name": MIRROR,
            "ownerReferences": [{
                "apiVersion": "ontap-ipsec.dev/v1alpha1", "kind": "OntapCluster", "name": CLUSTER,
                "uid": String::from_utf8_lossy(&uid.stdout), "controller": true,
            }],
        },
        "spec": {"clusterRef": {"name": CLUSTER}, "uuid": "00000000-0000-0000-0000-000000000001"},
    });
    // The operator's create passes once its RBAC is in the API server's cache.
    wait::until(PROPAGATION, "the operator to create a mirror", || {
        let output = create_as(operator.path(), ns, &mirror);
        async move { output.status.success() }
    })
    .await;
    format!("ipsecsa/{MIRROR}")
}

#[tokio::test]
async fn guard_lets_only_the_operator_add_finalizers_and_only_the_garbage_collector_drop_owners() {
    let release = Release::install("chart-guard-bookkeeping", |_| json!({})).await;
    let ns = release.ns().to_owned();
    let operator =
        service_account_kubeconfig(&release.client, &ns, &release.service_account()).await;
    let object = owned_mirror(&ns, &operator).await;
    let add_finalizer = patch(
        &ns,
        &object,
        "json",
        &json!([{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]),
    );
    refusal_with(GUARD_MESSAGE, "the guard to refuse the admin", || {
        let mut dry_run = args(&add_finalizer);
        dry_run.push("--dry-run=server");
        kubectl_as_admin(&dry_run)
    })
    .await;

    // An admin may neither add a finalizer (the mirror would hang in Terminating while it shows
    // Ready=True) nor remove the owner reference (it would outlive its OntapCluster).
    let message = refused(
        &kubectl_as_admin(&args(&add_finalizer)),
        "an admin adding a finalizer",
    );
    assert!(
        message.contains(GUARD_MESSAGE) && message.contains(&release.operator_user()),
        "{message}"
    );
    let drop_owner = json!([{"op": "remove", "path": "/metadata/ownerReferences"}]);
    let drop_owner = patch(&ns, &object, "json", &drop_owner);
    let message = refused(
        &kubectl_as_admin(&args(&drop_owner)),
        "an admin removing the owner reference",
    );
    assert!(message.contains(GUARD_MESSAGE), "{message}");

    // The operator may (with its own rights: a patch, no get); and anyone may remove a
    // finalizer, which only lets deletion finish.
    let operator_client = operator.client().await;
    Api::<IpsecSecurityAssociation>::namespaced(operator_client.clone(), &ns)
        .patch(
            MIRROR,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [FINALIZER]}})),
        )
        .await
        .expect("the operator adds a finalizer");
    let drop_finalizer = json!([{"op": "remove", "path": "/metadata/finalizers"}]);
    succeeded(
        &kubectl_as_admin(&args(&patch(&ns, &object, "json", &drop_finalizer))),
        "an admin removing a finalizer",
    );

    // OntapCluster status is the operator's alone.
    let status = json!({"status": {"observedGeneration": 1}});
    let mut admin_status = merge_patch(&ns, &format!("ontapcluster/{CLUSTER}"), &status);
    admin_status.push("--subresource=status".to_owned());
    let message = refused(
        &kubectl_as_admin(&args(&admin_status)),
        "an admin writing OntapCluster status",
    );
    assert!(
        message.contains(CLUSTER_STATUS_MESSAGE) && message.contains(&release.operator_user()),
        "{message}"
    );
    Api::<OntapCluster>::namespaced(operator_client, &ns)
        .patch_status(CLUSTER, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("the operator writes OntapCluster status");

    // The garbage collector still removes owner references: deleting the OntapCluster with
    // --cascade=orphan finishes, and the mirror stays without its owner.
    let owner = format!("ontapcluster/{CLUSTER}");
    let orphan = [
        "-n",
        &ns,
        "delete",
        &owner,
        "--cascade=orphan",
        "--timeout=60s",
    ];
    // The garbage collector learns of a new CRD at its next discovery, every 30 s: orphaning
    // before that finds no dependents, and the mirror is collected later as a dangling one.
    wait_until_the_garbage_collector_knows_the_mirrors().await;
    admin(&orphan, "orphaning the mirror");
    let owners = k8s::kubectl([
        "-n",
        &ns,
        "get",
        &object,
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    succeeded(&owners, "reading the orphaned mirror");
    assert_eq!(String::from_utf8_lossy(&owners.stdout), "");
    drop(operator);
    release.cleanup().await;
}
