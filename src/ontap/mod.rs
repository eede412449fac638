//! ONTAP REST client: configuration, paging, typed errors and models for IPsec security associations.

pub mod client;
pub mod config;
pub mod error;
pub mod health;
pub mod model;
pub mod selector;
pub mod tls;

pub use client::{CollectionRecord, Listing, OntapClient, ResponseObserver};
pub use config::{ClientConfig, Credentials, Limits, Secret, TlsOptions};
pub use error::OntapError;
pub use model::{ClusterIdentity, SecurityAssociation, SecurityAssociationType};
pub use selector::Selector;
