//! Writes the API server refuses end in a condition a user can read, with backoff instead of a
//! retry loop; records that cannot be mirrored are left out without blocking the others.

use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::controller::labels::security_association_name;
use ontap_ipsec_operator::crd::find_condition;
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

const FROZEN: &str = "mirrors are frozen in this namespace";

/// An admission policy that refuses every write of mirrored objects in `namespace`, as a second
/// release's read-only guard or a site policy would; both objects are named after the namespace.
async fn freeze_mirrors(harness: &Harness) -> String {
    let name = format!("freeze-{}", harness.ns());
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(harness.client.clone());
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["ontap-ipsec.dev"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["ipsecsecurityassociations", "ipsecsecurityassociations/status"],
            }]},
            "validations": [{"expression": "false", "message": FROZEN}],
        }
    }))
    .expect("policy");
    policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("policy created");
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(harness.client.clone());
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": harness.ns(),
            }}},
        }
    }))
    .expect("binding");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding created");
    // The API server picks policies up asynchronously: wait until a dry run is refused.
    wait::until(WAIT, "the policy to refuse writes", || async {
        is_frozen(harness).await
    })
    .await;
    name
}

/// Whether a dry-run create of a mirror is refused by the policy now.
async fn is_frozen(harness: &Harness) -> bool {
    let probe = serde_json::from_value(json!({
        "apiVersion": "ontap-ipsec.dev/v1alpha1",
        "kind": "IpsecSecurityAssociation",
        "metadata": {"name": "probe"},
        "spec": {"clusterRef": {"name": CLUSTER}, "uuid": "probe"},
    }))
    .expect("probe");
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    matches!(
        harness.mirrored().create(&dry_run, &probe).await,
        Err(kube::Error::Api(status)) if status.message.contains(FROZEN)
    )
}

async fn thaw_mirrors(harness: &Harness, name: &str) {
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(harness.client.clone());
    let _ = bindings.delete(name, &DeleteParams::default()).await;
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(harness.client.clone());
    let _ = policies.delete(name, &DeleteParams::default()).await;
    wait::until(WAIT, "the policy to be gone", || async {
        !is_frozen(harness).await
    })
    .await;
}

/// The cluster's `Ready` condition as `(status, reason, message)`, and `Stalled`'s status.
async fn ready_and_stalled(harness: &Harness) -> Option<(String, String, String, String)> {
    let cluster = harness.clusters().get(CLUSTER).await.ok()?;
    let conditions = cluster.status?.conditions;
    let ready = find_condition(&conditions, "Ready")?.clone();
    let stalled = find_condition(&conditions, "Stalled")?.status.clone();
    Some((ready.status, ready.reason, ready.message, stalled))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_by_an_admission_policy_end_in_mirror_write_denied_with_backoff() {
    let records = ontap_sim::generate(1, 3);
    let mut harness = Harness::new("write-denied", records.clone()).await;
    let policy = freeze_mirrors(&harness).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();

    wait::until(WAIT, "Ready=False MirrorWriteDenied", || async {
        ready_and_stalled(&harness)
            .await
            .is_some_and(|(status, reason, _, _)| {
                status == "False" && reason == "MirrorWriteDenied"
            })
    })
    .await;
    let (_, _, message, stalled) = ready_and_stalled(&harness).await.expect("conditions");
    assert!(message.contains(FROZEN), "the cause is named: {message}");
    assert!(
        message.contains("ipsecsecurityassociations/"),
        "the object is named: {message}"
    );
    assert_eq!(stalled, "True", "only a change of policy or rights helps");
    assert!(harness.list_mirrored().await.is_empty());

    // Backoff, not a retry every 5 s: 5 s, 10 s, 20 s, 40 s between polls.
    let polls_before = harness.simulator().state().request_count();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let polls = harness.simulator().state().request_count() - polls_before;
    assert!(
        polls <= 4,
        "{polls} polls in 40 s while every write is refused: no backoff"
    );

    thaw_mirrors(&harness, &policy).await;
    harness.refresh(CLUSTER).await;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "Ready", "True", "Synced")
        .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_a_usable_name_are_left_out_and_the_others_mirrored() {
    let mut records = ontap_sim::generate(1, 3);
    let template = records[0].clone();
    let with_uuid = |uuid: &str| {
        let mut record = template.clone();
        record["uuid"] = json!(uuid);
        record
    };
    let first_uuid = records[0]["uuid"].as_str().expect("uuid").to_owned();
    let long_uuid = format!("{first_uuid}-{}", "a".repeat(300));
    // No letter or digit; the same name as the first record's; far longer than a name may be.
    records.push(with_uuid("::--::"));
    records.push(with_uuid(&first_uuid.to_uppercase()));
    records.push(with_uuid(&long_uuid));
    let mirrorable = records.len() - 2;
    let harness = Harness::start("bad-records", records, json!({})).await;

    let mirrored = harness.wait_for_mirror(mirrorable).await;
    let long_name = security_association_name(CLUSTER, "", &long_uuid).expect("a name");
    assert!(
        mirrored.iter().any(|object| object.name_any() == long_name),
        "the over-long uuid is mirrored under a hashed name"
    );
    assert!(long_name.len() <= 253);
    wait::until(WAIT, "Ready to say what was left out", || async {
        ready_and_stalled(&harness)
            .await
            .is_some_and(|(status, _, message, _)| {
                status == "True" && message.contains("left out 2 records")
            })
    })
    .await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_listing_more_sas_than_allowed_is_stalled_and_nothing_is_written() {
    let records = ontap_sim::generate(1, 5);
    let mut harness = Harness::new("too-many", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator_with(|options| options.max_security_associations = records.len() - 1);
    harness
        .wait_cluster_condition(CLUSTER, "Stalled", "True", "TooManySecurityAssociations")
        .await;
    let (status, reason, message, _) = ready_and_stalled(&harness).await.expect("conditions");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TooManySecurityAssociations")
    );
    assert!(message.contains("--max-security-associations"), "{message}");
    assert!(harness.list_mirrored().await.is_empty());
    let started = Instant::now();
    harness.stop_operator().await;
    assert!(started.elapsed() < Duration::from_secs(15));
    harness.finish().await;
}
