//! Integration tests of the ONTAP simulator over real HTTPS on loopback.

mod accept;
mod cluster_network;
mod control;
mod counters;
mod errors;
mod faults;
mod fields;
mod filters;
mod instance;
mod lifecycle;
mod order_by;
mod paging;
mod support;
mod versions;
