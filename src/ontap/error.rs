//! Typed errors of the ONTAP client, decoded from ONTAP's error bodies where there is one.

use std::time::Duration;

/// Everything that can go wrong talking to ONTAP.
#[derive(Debug, thiserror::Error)]
pub enum OntapError {
    /// The client configuration cannot work (bad endpoint, unreadable certificate or key).
    #[error("invalid ONTAP client configuration: {0}")]
    Config(String),

    /// 401: ONTAP rejected the credentials.
    #[error("ONTAP rejected the credentials for {url}: {message}")]
    Unauthorized { url: String, message: String },

    /// 403: the user lacks a role for this endpoint (ONTAP code 6).
    #[error("the ONTAP user is not allowed to read {url}: {message}")]
    Forbidden { url: String, message: String },

    /// 404: the endpoint or record does not exist (code 3: not on this ONTAP version).
    #[error("ONTAP has no {url} (code {code}): {message}")]
    NotFound {
        url: String,
        code: String,
        message: String,
    },

    /// Any other non-success answer, with ONTAP's error body.
    #[error("ONTAP answered {status} for {url} (code {code}, target {target}): {message}")]
    Api {
        url: String,
        status: u16,
        code: String,
        message: String,
        target: String,
    },

    /// No complete answer within the configured timeout.
    #[error("ONTAP did not answer {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },

    /// The TLS handshake failed: untrusted or mismatched certificate, or a protocol error.
    #[error("TLS with {url} failed: {message}")]
    Tls { url: String, message: String },

    /// The connection could not be made or broke.
    #[error("cannot reach ONTAP at {url}: {message}")]
    Transport { url: String, message: String },

    /// The answer is not what ONTAP sends: not JSON, or a field of the wrong shape.
    #[error("ONTAP's answer to {url} is malformed at `{path}`: {message}")]
    Decode {
        url: String,
        path: String,
        message: String,
    },

    /// A next link repeated, so following it would loop; the collection is incomplete.
    #[error("ONTAP repeated the next link {href}; the listing is incomplete")]
    PagingLoop { href: String },

    /// ONTAP said itself that a page is not the whole truth: an `error` object in a 200 answer
    /// (a node whose SA table did not answer), or a `num_records` that disagrees with the page.
    #[error("ONTAP's listing of {url} is incomplete (code {code}): {message}")]
    IncompleteListing {
        url: String,
        code: String,
        message: String,
    },

    /// A page held more records than were asked for.
    #[error(
        "ONTAP sent {records} records on one page of {url}, more than the {requested} asked for"
    )]
    OversizedPage {
        url: String,
        records: usize,
        requested: u32,
    },

    /// A response body grew past the configured limit.
    #[error("ONTAP's answer to {url} is larger than {limit} bytes")]
    ResponseTooLarge { url: String, limit: usize },

    /// The listing holds more SAs than the operator is configured to mirror.
    #[error(
        "ONTAP lists more than {limit} security associations; narrow spec.selector or raise \
         --max-security-associations"
    )]
    TooManySecurityAssociations { limit: usize },
}

impl OntapError {
    /// A short, stable label for metrics and condition reasons.
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Api { .. } => "api",
            Self::Timeout { .. } => "timeout",
            Self::Tls { .. } => "tls",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::PagingLoop { .. } => "paging_loop",
            Self::IncompleteListing { .. } => "incomplete_listing",
            Self::OversizedPage { .. } => "oversized_page",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::TooManySecurityAssociations { .. } => "too_many_security_associations",
        }
    }

    /// True for errors that the next attempt may not repeat (network, timeouts, 5xx, garbage).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::Decode { .. }
            | Self::PagingLoop { .. }
            | Self::IncompleteListing { .. }
            | Self::OversizedPage { .. }
            | Self::ResponseTooLarge { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            Self::Config(_)
            | Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::Tls { .. }
            | Self::TooManySecurityAssociations { .. } => false,
        }
    }
}
