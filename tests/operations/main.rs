//! Running it in production: metrics, health endpoints and leader election, with the operator
//! as a real process against the control plane and `ontap-sim`.
// End-to-end scenarios read best as one story each.
#![allow(clippy::too_many_lines)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../operator/harness.rs"]
mod harness;

mod allocator;
mod leader_election;
mod malformed;
mod metrics;
mod metrics_auth;
mod monitoring;
mod process;
mod readiness;
