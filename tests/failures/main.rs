//! Failure hardening on the real control plane with `ontap-sim`: an operator killed mid-mirror,
//! faults while paging, rotated credentials, one slow ONTAP among fast ones, and an API-server
//! restart.
// End-to-end scenarios read best as one story each.
#![allow(clippy::too_many_lines)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../operator/harness.rs"]
mod harness;

#[path = "../operations/process.rs"]
#[allow(dead_code)]
mod process;

mod api_server_restart;
mod credentials;
mod fair_polling;
mod incomplete_listing;
mod inventory;
mod killed_mid_mirror;
mod paging_faults;
mod refused_writes;
mod slow_cluster;
