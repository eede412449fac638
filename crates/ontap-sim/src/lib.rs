//! An ONTAP REST simulator for the `IPsec` security-association endpoint, served as an axum router.

mod api;
mod auth;
mod catalog;
mod collection;
mod config;
mod control;
mod counters;
mod fault;
mod fields;
mod filter;
mod generate;
mod merge_patch;
mod ontap_error;
mod order;
mod paths;
mod query;
mod render;
mod response;
mod router;
mod server;
mod state;
mod tls;
mod version;

pub use catalog::security_association_fields;
pub use config::{DEFAULT_CLUSTER_NAME, DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorConfig};
pub use control::ControlError;
pub use fault::{Fault, FaultEffect, FaultError, FaultScope};
pub use generate::generate;
pub use merge_patch::merge_patch;
pub use router::router;
pub use server::{RunningSimulator, SimError, start};
pub use state::{SimulatorState, StateError};
pub use tls::{TlsError, TlsIdentity};
pub use version::{OntapVersion, VersionError};
