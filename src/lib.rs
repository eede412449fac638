//! ontap-ipsec-operator: mirrors NetApp ONTAP IPsec and IKE security associations into Kubernetes.

pub mod controller;
pub mod crd;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod net;
pub mod ontap;
pub mod poll;
pub mod telemetry;
