//! Running it in production: metrics, health endpoints and leader election, with the operator
//! as a real process against the control plane and `ontap-sim`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../operator/harness.rs"]
mod harness;

mod leader_election;
mod metrics;
mod process;
mod readiness;
