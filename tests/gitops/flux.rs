//! The Flux health expressions in `integrations/flux` give the intended kstatus for every case the
//! operator produces: a down tunnel never holds up the clusters' own Kustomization, only the gate.

use serde_json::Value;

use crate::argocd_cases::{ONTAP_CLUSTER, SECURITY_ASSOCIATION, kind_dir, read_yaml};
use crate::capture::{ASSOCIATION_CASES, CLUSTER_CASES};
use crate::flux_cel::{FluxCelError, KStatus, evaluate, for_kind, kustomization_expressions};
use crate::manifests::{FLUX, path};

pub const CLUSTERS_KUSTOMIZATION: &str = "ontap-clusters.yaml";
pub const GATE_KUSTOMIZATION: &str = "tunnel-gate.yaml";

/// What each `OntapCluster` case must give under (the clusters' Kustomization, the tunnel gate);
/// `None` is an evaluation error, which Flux retries.
pub fn expected_cluster_status(case: &str) -> (Option<KStatus>, Option<KStatus>) {
    use KStatus::{Current, Failed, InProgress};
    match case {
        "healthy" => (Some(Current), Some(Current)),
        // Only the gate waits for tunnels; a suspended cluster is not polled, so its tunnels are
        // not known to be up.
        "tunnels-down" | "suspended" => (Some(Current), Some(InProgress)),
        "unauthorized" => (Some(Failed), Some(Failed)),
        "unreachable" | "stale" | "generation-not-observed" => (Some(InProgress), Some(InProgress)),
        // No status yet: every expression reads `status`, which the object does not have.
        "new" => (None, None),
        other => panic!("no Flux expectation for OntapCluster case {other}"),
    }
}

/// What each `IpsecSecurityAssociation` case must give under the tunnel gate's SA expression.
pub fn expected_association_status(case: &str) -> KStatus {
    match case {
        "ike-established" | "ipsec-installed" => KStatus::Current,
        "ike-connecting" | "ipsec-deleting" | "cluster-unreachable" => KStatus::InProgress,
        other => panic!("no Flux expectation for IpsecSecurityAssociation case {other}"),
    }
}

fn outcome(result: Result<KStatus, FluxCelError>) -> Option<KStatus> {
    match result {
        Ok(status) => Some(status),
        Err(FluxCelError::Evaluate { .. }) => None,
        Err(error) => panic!("{error}"),
    }
}

/// Checks one `OntapCluster` object against both Kustomizations; `what` names it in failures.
pub fn check_cluster(case: &str, object: &Value, what: &str) {
    let clusters = kustomization_expressions(&path(FLUX).join(CLUSTERS_KUSTOMIZATION));
    let gate = kustomization_expressions(&path(FLUX).join(GATE_KUSTOMIZATION));
    let actual = (
        outcome(evaluate(for_kind(&clusters, ONTAP_CLUSTER), object)),
        outcome(evaluate(for_kind(&gate, ONTAP_CLUSTER), object)),
    );
    assert_eq!(
        actual,
        expected_cluster_status(case),
        "{what}: (ontap-clusters, tunnel gate)"
    );
}

/// Checks one `IpsecSecurityAssociation` object against the tunnel gate's SA expression.
pub fn check_association(case: &str, object: &Value, what: &str) {
    let gate = kustomization_expressions(&path(FLUX).join(GATE_KUSTOMIZATION));
    let actual = evaluate(for_kind(&gate, SECURITY_ASSOCIATION), object)
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert_eq!(actual, expected_association_status(case), "{what}");
}

#[test]
fn flux_expressions_give_the_intended_status_for_every_committed_case() {
    for case in CLUSTER_CASES {
        let file = kind_dir(ONTAP_CLUSTER)
            .join("testdata")
            .join(format!("{case}.yaml"));
        check_cluster(case, &read_yaml(&file), &file.display().to_string());
    }
    for case in ASSOCIATION_CASES {
        let file = kind_dir(SECURITY_ASSOCIATION)
            .join("testdata")
            .join(format!("{case}.yaml"));
        check_association(case, &read_yaml(&file), &file.display().to_string());
    }
}

#[test]
fn every_flux_expression_parses_and_targets_an_operator_kind() {
    for file in [CLUSTERS_KUSTOMIZATION, GATE_KUSTOMIZATION] {
        for entry in kustomization_expressions(&path(FLUX).join(file)) {
            assert_eq!(entry.api_version, "ontap-ipsec.dev/v1alpha1", "{file}");
            assert!(
                [ONTAP_CLUSTER, SECURITY_ASSOCIATION].contains(&entry.kind.as_str()),
                "{file}: {}",
                entry.kind
            );
            for expression in [
                Some(&entry.current),
                entry.failed.as_ref(),
                entry.in_progress.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                cel::Program::compile(expression)
                    .unwrap_or_else(|error| panic!("{file}: {expression}: {error}"));
            }
        }
    }
}
