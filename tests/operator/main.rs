//! The operator against the real control plane, with `ontap-sim` over HTTPS.

#[path = "../support/mod.rs"]
mod support;

mod failures;
mod harness;
mod mirror;
mod quiet;
