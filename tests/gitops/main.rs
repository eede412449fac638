//! The `GitOps` and automation kit in `integrations/` (Argo CD health checks and actions, Flux
//! health expressions, tunnel-triggered workloads) checked against objects the operator produces
//! on the control plane with `ontap-sim`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../operator/harness.rs"]
mod harness;

mod argocd_cases;
mod argocd_lua;
mod capture;
mod flux_cel;
mod manifests;
mod normalize;

mod argocd;
mod events;
mod flux;
mod live;
mod workloads;
