//! An ONTAP REST simulator for the IPsec security-association endpoint, served as an axum router.
