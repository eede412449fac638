//! The operator against the real control plane, with `ontap-sim` over HTTPS.
// End-to-end scenarios read best as one story each.
#![allow(clippy::too_many_lines)]

#[path = "../support/mod.rs"]
mod support;

mod cluster_network;
mod failures;
mod harness;
mod insecure_transport;
mod mirror;
mod quiet;
mod rekeying;
mod secret_reads;
mod shutdown;
