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

/// When to poll again after a failure. `until_stale` is how long until the cluster's mirrors
/// turn stale (`None` once they are): the retry comes no later, so that staleness is reported
/// on time however long the backoff has grown.
#[must_use]
pub fn retry_delay(
    error: &PollError,
    consecutive_failures: u32,
    poll_interval: Duration,
    until_stale: Option<Duration>,
) -> Duration {
    let delay = if error.needs_human() {
        // Nothing changes by itself, but a fixed Secret is not watched: look again now and then
        // without hammering ONTAP with credentials it rejects.
        poll_interval.max(PERMANENT_ERROR_RECHECK)
    } else {
        transient_backoff(consecutive_failures, poll_interval)
    };
    match until_stale {
        Some(until_stale) => delay.min(until_stale.max(FIRST_RETRY)),
        None => delay,
    }
}

/// How often a cluster stuck on an error that needs a human is looked at again.
pub const PERMANENT_ERROR_RECHECK: Duration = Duration::from_secs(300);
/// Bounds of the longest wait between retries of a failing cluster: never more often than once a
/// minute once the backoff has grown, never less often than every five minutes.
pub const MIN_RETRY_CAP: Duration = Duration::from_secs(60);
pub const MAX_RETRY_CAP: Duration = Duration::from_secs(300);
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// 5 s, 10 s, 20 s, … up to the poll interval held between one and five minutes. A stalled
/// endpoint then costs one of the failing clusters' poll slots for at most a request timeout
/// a minute, and a cluster that recovers is seen again within that cap.
#[must_use]
pub fn transient_backoff(consecutive_failures: u32, poll_interval: Duration) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    let cap = poll_interval.clamp(MIN_RETRY_CAP, MAX_RETRY_CAP);
    FIRST_RETRY.saturating_mul(1 << exponent).min(cap)
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

    #[test]
    fn transient_backoff_doubles_up_to_the_interval_held_between_one_and_five_minutes() {
        let delays = |interval: u64| -> Vec<u64> {
            (1..=8)
                .map(|n| transient_backoff(n, Duration::from_secs(interval)).as_secs())
                .collect()
        };
        assert_eq!(delays(10), [5, 10, 20, 40, 60, 60, 60, 60]);
        assert_eq!(delays(120), [5, 10, 20, 40, 80, 120, 120, 120]);
        assert_eq!(delays(3600), [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            transient_backoff(1000, Duration::from_secs(3600)),
            MAX_RETRY_CAP
        );
    }

    #[test]
    fn errors_that_need_a_human_are_rechecked_rarely() {
        let error = PollError::SecretNotFound {
            namespace: "n".into(),
            name: "s".into(),
        };
        assert_eq!(
            retry_delay(&error, 1, Duration::from_secs(10), None),
            PERMANENT_ERROR_RECHECK
        );
    }

    #[test]
    fn a_retry_comes_no_later_than_the_moment_mirrors_turn_stale() {
        let error = PollError::Deadline {
            deadline: Duration::from_secs(120),
        };
        let interval = Duration::from_secs(10);
        assert_eq!(
            retry_delay(&error, 7, interval, Some(Duration::from_secs(12))),
            Duration::from_secs(12)
        );
        assert_eq!(
            retry_delay(&error, 7, interval, Some(Duration::ZERO)),
            FIRST_RETRY,
            "never a hot loop"
        );
        assert_eq!(retry_delay(&error, 7, interval, None), MIN_RETRY_CAP);
    }
}
