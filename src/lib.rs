//! ontap-ipsec-operator: mirrors NetApp ONTAP IPsec and IKE security associations into Kubernetes.

pub mod ontap;
pub mod sim;
