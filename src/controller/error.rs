//! Errors of a reconcile, and the policy for each: which condition reason it sets, whether it
//! needs a human (`Stalled`), and when to try again.

use std::time::Duration;

use crate::crd::SpecError;
use crate::crd::condition::{
    REASON_BAD_RESPONSE, REASON_FORBIDDEN, REASON_INCOMPLETE_LISTING,
    REASON_INSECURE_TRANSPORT_FORBIDDEN, REASON_INVALID_SPEC, REASON_SECRET_NOT_FOUND,
    REASON_TLS_ERROR, REASON_TOO_MANY_SECURITY_ASSOCIATIONS, REASON_UNAUTHORIZED,
    REASON_UNREACHABLE, REASON_UNSUPPORTED_VERSION,
};
use crate::ontap::OntapError;

/// ONTAP's error code for "this endpoint does not exist on this release".
const ONTAP_CODE_ENDPOINT_ABSENT: &str = "3";

/// Why a poll could not produce a complete listing. Nothing is deleted after any of these.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] SpecError),

    #[error("Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },

    #[error("Secret {namespace}/{name} has no key {key:?}")]
    SecretKeyMissing {
        namespace: String,
        name: String,
        key: String,
    },

    #[error("ONTAP {version} has no IPsec security-association API (needs 9.8 or later)")]
    UnsupportedVersion { version: String },

    #[error(transparent)]
    Ontap(#[from] OntapError),

    /// Reading a Secret failed for a reason other than absence (API server trouble, RBAC).
    #[error("cannot read Secret {name}: {source}")]
    SecretRead {
        name: String,
        #[source]
        source: kube::Error,
    },

    /// The spec asks for an insecure transport, and the operator refuses those.
    #[error(
        "{message}; this operator runs with --forbid-insecure-transport and does not poll such a cluster"
    )]
    InsecureTransportForbidden { message: &'static str },

    /// The whole poll, every page together, took longer than its deadline.
    #[error("the poll did not finish within {deadline:?} (four times spec.timeout)")]
    Deadline { deadline: Duration },
}

impl PollError {
    /// The `Ready` condition reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) => REASON_INVALID_SPEC,
            Self::SecretNotFound { .. }
            | Self::SecretKeyMissing { .. }
            | Self::SecretRead { .. } => REASON_SECRET_NOT_FOUND,
            Self::UnsupportedVersion { .. } => REASON_UNSUPPORTED_VERSION,
            Self::Deadline { .. } => REASON_UNREACHABLE,
            Self::InsecureTransportForbidden { .. } => REASON_INSECURE_TRANSPORT_FORBIDDEN,
            Self::Ontap(error) => ontap_reason(error),
        }
    }

    /// True when retrying cannot help until someone changes something.
    #[must_use]
    pub fn needs_human(&self) -> bool {
        match self {
            Self::InvalidSpec(_)
            | Self::SecretNotFound { .. }
            | Self::SecretKeyMissing { .. }
            | Self::UnsupportedVersion { .. }
            | Self::InsecureTransportForbidden { .. } => true,
            Self::SecretRead { .. } | Self::Deadline { .. } => false,
            Self::Ontap(error) => !error.is_transient(),
        }
    }

    /// Label for metrics.
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::InvalidSpec(_) => "invalid_spec",
            Self::SecretNotFound { .. } | Self::SecretKeyMissing { .. } => "secret_not_found",
            Self::SecretRead { .. } => "secret_read",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::Deadline { .. } => "deadline",
            Self::InsecureTransportForbidden { .. } => "insecure_transport_forbidden",
            Self::Ontap(error) => error.metric_label(),
        }
    }
}

fn ontap_reason(error: &OntapError) -> &'static str {
    match error {
        OntapError::Unauthorized { .. } => REASON_UNAUTHORIZED,
        OntapError::Forbidden { .. } => REASON_FORBIDDEN,
        OntapError::Tls { .. } => REASON_TLS_ERROR,
        OntapError::Timeout { .. } | OntapError::Transport { .. } => REASON_UNREACHABLE,
        OntapError::Api { status, .. } if *status >= 500 => REASON_UNREACHABLE,
        error if is_endpoint_absent(error) => REASON_UNSUPPORTED_VERSION,
        OntapError::Config(_) => REASON_INVALID_SPEC,
        OntapError::IncompleteListing { .. } => REASON_INCOMPLETE_LISTING,
        OntapError::TooManySecurityAssociations { .. } => REASON_TOO_MANY_SECURITY_ASSOCIATIONS,
        OntapError::NotFound { .. }
        | OntapError::Api { .. }
        | OntapError::Decode { .. }
        | OntapError::PagingLoop { .. }
        | OntapError::OversizedPage { .. }
        | OntapError::ResponseTooLarge { .. } => REASON_BAD_RESPONSE,
    }
}

fn is_endpoint_absent(error: &OntapError) -> bool {
    matches!(error, OntapError::NotFound { code, .. } if code == ONTAP_CODE_ENDPOINT_ABSENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ontap(error: OntapError) -> PollError {
        PollError::Ontap(error)
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table of cases
    fn every_ontap_error_has_a_reason_and_a_policy() {
        let url = || "https://c/api".to_owned();
        let cases = [
            (
                ontap(OntapError::Unauthorized {
                    url: url(),
                    message: String::new(),
                }),
                REASON_UNAUTHORIZED,
                true,
            ),
            (
                ontap(OntapError::Forbidden {
                    url: url(),
                    message: String::new(),
                }),
                REASON_FORBIDDEN,
                true,
            ),
            (
                ontap(OntapError::Tls {
                    url: url(),
                    message: String::new(),
                }),
                REASON_TLS_ERROR,
                true,
            ),
            (
                ontap(OntapError::Timeout {
                    url: url(),
                    timeout: Duration::from_secs(1),
                }),
                REASON_UNREACHABLE,
                false,
            ),
            (
                ontap(OntapError::Transport {
                    url: url(),
                    message: String::new(),
                }),
                REASON_UNREACHABLE,
                false,
            ),
            (
                ontap(OntapError::Api {
                    url: url(),
                    status: 503,
                    code: String::new(),
                    message: String::new(),
                    target: String::new(),
                }),
                REASON_UNREACHABLE,
                false,
            ),
            (
                ontap(OntapError::Api {
                    url: url(),
                    status: 400,
                    code: "262179".into(),
                    message: String::new(),
                    target: String::new(),
                }),
                REASON_BAD_RESPONSE,
                true,
            ),
            (
                ontap(OntapError::NotFound {
                    url: url(),
                    code: "3".into(),
                    message: String::new(),
                }),
                REASON_UNSUPPORTED_VERSION,
                true,
            ),
            (
                ontap(OntapError::Decode {
                    url: url(),
                    path: "records[0]".into(),
                    message: String::new(),
                }),
                REASON_BAD_RESPONSE,
                false,
            ),
            (
                ontap(OntapError::PagingLoop {
                    href: "/api/x".into(),
                }),
                REASON_BAD_RESPONSE,
                false,
            ),
            (
                PollError::SecretNotFound {
                    namespace: "n".into(),
                    name: "s".into(),
                },
                REASON_SECRET_NOT_FOUND,
                true,
            ),
            (
                PollError::UnsupportedVersion {
                    version: "9.7.0".into(),
                },
                REASON_UNSUPPORTED_VERSION,
                true,
            ),
        ];
        for (error, reason, needs_human) in cases {
            assert_eq!(error.reason(), reason, "{error}");
            assert_eq!(error.needs_human(), needs_human, "{error}");
        }
    }
}
