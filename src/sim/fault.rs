//! Injected faults: what they do, which `/api/` requests they hit, and how long they last.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ontap_error::{
    CODE_INTERNAL_ERROR, CODE_NOT_AUTHORIZED_FOR_COMMAND, CODE_USER_NOT_AUTHORIZED,
    MESSAGE_INTERNAL_ERROR, MESSAGE_NOT_AUTHORIZED_FOR_COMMAND, MESSAGE_USER_NOT_AUTHORIZED,
    OntapError,
};

const DEFAULT_ERROR_STATUS: u16 = 503;

/// One fault, as the control API takes it (`POST /_sim/faults`) and as tests build it in-process.
///
/// JSON: `{"kind": "error", "status": 503, "scope": "collection", "from_page": 2, "skip": 0,
/// "count": 1}`; see `docs/simulator.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub effect: FaultEffect,
    /// Which `/api/` requests the fault can hit.
    #[serde(default, skip_serializing_if = "is_any_scope")]
    pub scope: FaultScope,
    /// Only collection pages with this ordinal or later (1 = a request without `start.uuid`,
    /// 2 = the next page after it, ...). Implies the SA collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_page: Option<u32>,
    /// Let this many matching requests through untouched first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: u32,
    /// Hit this many requests, then disappear; absent = until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// What a fault does to a request it hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultEffect {
    /// Answer with this HTTP status and an ONTAP error body.
    Error {
        #[serde(default = "default_error_status")]
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// Wait this long before answering (adds up with other latency faults).
    Latency { millis: u64 },
    /// Answer 200 with a body that is not valid JSON.
    MalformedJson,
    /// Close the connection without any response.
    DropConnection,
    /// Serve at most this many records per collection page, still with a next link.
    ShortPages { records: usize },
    /// Serve collection pages without records but with a next link to the same position.
    EmptyPages,
    /// Answer 401 even though the credentials are right.
    Unauthorized,
}

/// The `/api/` requests a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultScope {
    /// Every `/api/` request.
    #[default]
    Any,
    /// SA collection and instance GETs.
    SecurityAssociations,
    /// SA collection GETs only.
    Collection,
}

/// Why a fault was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("fault status {status} is not an http error status (400-599)")]
    InvalidStatus { status: u16 },
    #[error("fault count must be at least 1 (omit it for a fault that lasts until cleared)")]
    ZeroCount,
    #[error("fault from_page must be at least 1")]
    ZeroFromPage,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_any_scope(scope: &FaultScope) -> bool {
    *scope == FaultScope::Any
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn default_error_status() -> u16 {
    DEFAULT_ERROR_STATUS
}

impl Fault {
    /// A fault that hits every `/api/` request until cleared.
    #[must_use]
    pub fn new(effect: FaultEffect) -> Self {
        Self {
            effect,
            scope: FaultScope::Any,
            from_page: None,
            skip: 0,
            count: None,
        }
    }

    /// An HTTP error with the ONTAP body ONTAP would send for that status.
    #[must_use]
    pub fn error(status: u16) -> Self {
        Self::new(FaultEffect::Error {
            status,
            code: None,
            message: None,
            target: None,
        })
    }

    /// An HTTP error with a given ONTAP code and message.
    #[must_use]
    pub fn error_with(status: u16, code: &str, message: &str) -> Self {
        Self::new(FaultEffect::Error {
            status,
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
            target: None,
        })
    }

    #[must_use]
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultEffect::Latency {
            millis: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    #[must_use]
    pub fn malformed_json() -> Self {
        Self::new(FaultEffect::MalformedJson)
    }

    #[must_use]
    pub fn drop_connection() -> Self {
        Self::new(FaultEffect::DropConnection)
    }

    #[must_use]
    pub fn short_pages(records: usize) -> Self {
        Self::new(FaultEffect::ShortPages { records })
    }

    #[must_use]
    pub fn empty_pages() -> Self {
        Self::new(FaultEffect::EmptyPages)
    }

    #[must_use]
    pub fn unauthorized() -> Self {
        Self::new(FaultEffect::Unauthorized)
    }

    #[must_use]
    pub fn with_scope(mut self, scope: FaultScope) -> Self {
        self.scope = scope;
        self
    }

    #[must_use]
    pub fn from_page(mut self, page: u32) -> Self {
        self.from_page = Some(page);
        self
    }

    #[must_use]
    pub fn skip(mut self, requests: u32) -> Self {
        self.skip = requests;
        self
    }

    #[must_use]
    pub fn count(mut self, requests: u32) -> Self {
        self.count = Some(requests);
        self
    }

    /// Checks values serde cannot: status range, non-zero counts.
    pub fn validate(&self) -> Result<(), FaultError> {
        if let FaultEffect::Error { status, .. } = self.effect
            && !(400..=599).contains(&status)
        {
            return Err(FaultError::InvalidStatus { status });
        }
        if self.count == Some(0) {
            return Err(FaultError::ZeroCount);
        }
        if self.from_page == Some(0) {
            return Err(FaultError::ZeroFromPage);
        }
        Ok(())
    }
}

/// Which kind of `/api/` request is being decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    SecurityAssociationCollection { continues: bool },
    SecurityAssociationInstance,
    Other,
}

/// A fault outcome that replaces the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Error(OntapError),
    MalformedJson,
    DropConnection,
}

/// A fault outcome that changes how a collection page is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageShaping {
    Short(usize),
    Empty,
}

/// Everything the active faults do to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub latency: Duration,
    pub outcome: Option<Outcome>,
    pub shaping: Option<PageShaping>,
}

/// The active faults and the collection page counter that `from_page` refers to.
#[derive(Debug, Default)]
pub struct FaultBook {
    active: Vec<Fault>,
    page_ordinal: u32,
}

impl FaultBook {
    pub fn add(&mut self, fault: Fault) {
        self.active.push(fault);
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    /// The active faults with their remaining `skip` and `count`.
    #[must_use]
    pub fn list(&self) -> Vec<Fault> {
        self.active.clone()
    }

    /// Decides what the faults do to one request and uses up their `skip` and `count`.
    pub fn decide(&mut self, kind: RequestKind) -> Decision {
        if let RequestKind::SecurityAssociationCollection { continues } = kind {
            self.page_ordinal = if continues {
                self.page_ordinal.saturating_add(1)
            } else {
                1
            };
        }
        let page_ordinal = self.page_ordinal;
        let mut eligible = Vec::new();
        for (index, fault) in self.active.iter_mut().enumerate() {
            if !fault.hits(kind, page_ordinal) {
                continue;
            }
            if fault.skip > 0 {
                fault.skip -= 1;
                continue;
            }
            eligible.push(index);
        }
        let mut decision = Decision::default();
        let mut used = Vec::new();
        for &index in &eligible {
            if let FaultEffect::Latency { millis } = self.active[index].effect {
                decision.latency = decision
                    .latency
                    .saturating_add(Duration::from_millis(millis));
                used.push(index);
            }
        }
        if let Some(&index) = eligible
            .iter()
            .find(|&&index| self.active[index].outcome().is_some())
        {
            decision.outcome = self.active[index].outcome();
            used.push(index);
        } else if let Some(&index) = eligible
            .iter()
            .find(|&&index| self.active[index].shaping().is_some())
        {
            decision.shaping = self.active[index].shaping();
            used.push(index);
        }
        for index in used {
            if let Some(count) = self.active[index].count.as_mut() {
                *count = count.saturating_sub(1);
            }
        }
        self.active.retain(|fault| fault.count != Some(0));
        decision
    }
}

impl Fault {
    fn hits(&self, kind: RequestKind, page_ordinal: u32) -> bool {
        let is_collection = matches!(kind, RequestKind::SecurityAssociationCollection { .. });
        let in_scope = match self.scope {
            FaultScope::Any => true,
            FaultScope::SecurityAssociations => kind != RequestKind::Other,
            FaultScope::Collection => is_collection,
        };
        let on_page = self
            .from_page
            .is_none_or(|from| is_collection && page_ordinal >= from);
        let applicable = self.shaping().is_none() || is_collection;
        in_scope && on_page && applicable
    }

    fn outcome(&self) -> Option<Outcome> {
        match &self.effect {
            FaultEffect::Error {
                status,
                code,
                message,
                target,
            } => Some(Outcome::Error(error_for(
                *status,
                code.as_deref(),
                message.as_deref(),
                target.as_deref(),
            ))),
            FaultEffect::MalformedJson => Some(Outcome::MalformedJson),
            FaultEffect::DropConnection => Some(Outcome::DropConnection),
            FaultEffect::Unauthorized => Some(Outcome::Error(OntapError::user_not_authorized())),
            FaultEffect::Latency { .. }
            | FaultEffect::ShortPages { .. }
            | FaultEffect::EmptyPages => None,
        }
    }

    fn shaping(&self) -> Option<PageShaping> {
        match self.effect {
            FaultEffect::ShortPages { records } => Some(PageShaping::Short(records)),
            FaultEffect::EmptyPages => Some(PageShaping::Empty),
            _ => None,
        }
    }
}

/// The ONTAP error for an injected status, with the attested code and text where there is one.
fn error_for(
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    target: Option<&str>,
) -> OntapError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (default_code, default_message) = match status {
        StatusCode::UNAUTHORIZED => (CODE_USER_NOT_AUTHORIZED, MESSAGE_USER_NOT_AUTHORIZED),
        StatusCode::FORBIDDEN => (
            CODE_NOT_AUTHORIZED_FOR_COMMAND,
            MESSAGE_NOT_AUTHORIZED_FOR_COMMAND,
        ),
        _ => (CODE_INTERNAL_ERROR, MESSAGE_INTERNAL_ERROR),
    };
    let error = OntapError::new(
        status,
        code.unwrap_or(default_code),
        message.unwrap_or(default_message),
    );
    match target {
        Some(target) => error.with_target(target),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FIRST_PAGE: RequestKind = RequestKind::SecurityAssociationCollection { continues: false };
    const NEXT_PAGE: RequestKind = RequestKind::SecurityAssociationCollection { continues: true };

    #[test]
    fn json_shape_round_trips() {
        let fault: Fault = serde_json::from_value(json!({
            "kind": "error", "status": 500, "code": "8", "scope": "collection",
            "from_page": 2, "skip": 1, "count": 3
        }))
        .expect("valid fault");
        assert_eq!(
            fault,
            Fault::new(FaultEffect::Error {
                status: 500,
                code: Some("8".to_owned()),
                message: None,
                target: None,
            })
            .with_scope(FaultScope::Collection)
            .from_page(2)
            .skip(1)
            .count(3)
        );
        let latency: Fault =
            serde_json::from_value(json!({"kind": "latency", "millis": 250})).expect("valid");
        assert_eq!(latency, Fault::latency(Duration::from_millis(250)));
        assert_eq!(
            serde_json::to_value(Fault::short_pages(2)).expect("serializes"),
            json!({"kind": "short_pages", "records": 2})
        );
    }

    #[test]
    fn validation_rejects_success_statuses_and_zero_counts() {
        assert!(Fault::error(200).validate().is_err());
        assert!(Fault::error(503).count(0).validate().is_err());
        assert!(Fault::error(503).from_page(0).validate().is_err());
        assert!(Fault::error(503).validate().is_ok());
    }

    #[test]
    fn error_defaults_follow_the_status() {
        let mut book = FaultBook::default();
        book.add(Fault::error(403));
        let Some(Outcome::Error(error)) = book.decide(RequestKind::Other).outcome else {
            panic!("expected an error outcome");
        };
        assert_eq!(error.code, "6");
        assert_eq!(error.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn count_expires_and_skip_delays() {
        let mut book = FaultBook::default();
        book.add(Fault::drop_connection().skip(1).count(2));
        assert_eq!(book.decide(RequestKind::Other).outcome, None);
        assert_eq!(
            book.decide(RequestKind::Other).outcome,
            Some(Outcome::DropConnection)
        );
        assert_eq!(
            book.decide(RequestKind::Other).outcome,
            Some(Outcome::DropConnection)
        );
        assert_eq!(book.decide(RequestKind::Other).outcome, None);
        assert!(book.list().is_empty());
    }

    #[test]
    fn from_page_counts_pages_of_one_read() {
        let mut book = FaultBook::default();
        book.add(Fault::error(500).from_page(2));
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(NEXT_PAGE).outcome.is_some());
        assert!(book.decide(NEXT_PAGE).outcome.is_some());
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(RequestKind::Other).outcome.is_none());
    }

    #[test]
    fn scope_limits_requests() {
        let mut book = FaultBook::default();
        book.add(Fault::error(500).with_scope(FaultScope::SecurityAssociations));
        assert!(book.decide(RequestKind::Other).outcome.is_none());
        assert!(
            book.decide(RequestKind::SecurityAssociationInstance)
                .outcome
                .is_some()
        );
    }

    #[test]
    fn latency_adds_up_and_combines_with_an_outcome() {
        let mut book = FaultBook::default();
        book.add(Fault::latency(Duration::from_millis(100)));
        book.add(Fault::latency(Duration::from_millis(50)));
        book.add(Fault::malformed_json());
        let decision = book.decide(RequestKind::Other);
        assert_eq!(decision.latency, Duration::from_millis(150));
        assert_eq!(decision.outcome, Some(Outcome::MalformedJson));
    }

    #[test]
    fn page_shaping_only_hits_collections_and_yields_to_outcomes() {
        let mut book = FaultBook::default();
        book.add(Fault::short_pages(2).count(1));
        assert_eq!(book.decide(RequestKind::Other).shaping, None);
        assert_eq!(book.list().len(), 1);
        assert_eq!(book.decide(FIRST_PAGE).shaping, Some(PageShaping::Short(2)));
        assert!(book.list().is_empty());
        book.add(Fault::empty_pages());
        book.add(Fault::unauthorized().count(1));
        let decision = book.decide(FIRST_PAGE);
        assert!(decision.outcome.is_some());
        assert_eq!(decision.shaping, None);
        assert_eq!(book.decide(FIRST_PAGE).shaping, Some(PageShaping::Empty));
    }
}
