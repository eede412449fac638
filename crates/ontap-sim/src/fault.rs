//! Injected faults: what they do, which `/api/` requests they hit, and how long they last.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ontap_error::{
    CODE_INTERNAL_ERROR, CODE_NOT_AUTHORIZED_FOR_COMMAND, CODE_USER_NOT_AUTHORIZED,
    MESSAGE_INTERNAL_ERROR, MESSAGE_NOT_AUTHORIZED_FOR_COMMAND, MESSAGE_USER_NOT_AUTHORIZED,
    OntapError,
};
use super::record_set::RecordSet;

const DEFAULT_ERROR_STATUS: u16 = 503;
/// Code of the `error` object an `error_in_ok` page carries unless the fault names one.
pub const DEFAULT_ERROR_IN_OK_CODE: &str = "13";
const DEFAULT_NUM_RECORDS_DELTA: i64 = 1;
const DEFAULT_OVERSIZED_EXTRA: usize = 1;

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
    /// 2 = the next page after it, ...), counted per collection. Implies a collection GET.
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
    /// Answer a collection page with 200 and an `error` object next to `records`, leaving out
    /// the records of one node, as ONTAP does when a node's SA table cannot be read.
    ErrorInOk {
        /// The node whose records are missing; absent = the node of the last record in uuid order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Serve a collection page whose `num_records` is off by `delta` from the records on it.
    NumRecordsMismatch {
        #[serde(default = "default_num_records_delta")]
        delta: i64,
    },
    /// Serve up to `extra` records more on a collection page than `max_records` asked for.
    OversizedPage {
        #[serde(default = "default_oversized_extra")]
        extra: usize,
    },
    /// Answer 200 with a chunked body that never ends, until the client goes away.
    EndlessBody,
    /// Accept the request and never answer, until the client goes away.
    Stall,
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
    /// Cluster-network SA collection and instance GETs.
    ClusterNetwork,
    /// Cluster-network SA collection GETs only.
    ClusterNetworkCollection,
}

impl FaultScope {
    /// The record set and whether only its collection GETs are in scope; `None` for `any`.
    fn aim(self) -> Option<(RecordSet, bool)> {
        match self {
            Self::Any => None,
            Self::SecurityAssociations => Some((RecordSet::SecurityAssociations, false)),
            Self::Collection => Some((RecordSet::SecurityAssociations, true)),
            Self::ClusterNetwork => Some((RecordSet::ClusterNetwork, false)),
            Self::ClusterNetworkCollection => Some((RecordSet::ClusterNetwork, true)),
        }
    }
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
    #[error("num_records_mismatch delta must not be 0")]
    ZeroDelta,
    #[error("oversized_page extra must be at least 1")]
    ZeroExtra,
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

fn default_num_records_delta() -> i64 {
    DEFAULT_NUM_RECORDS_DELTA
}

fn default_oversized_extra() -> usize {
    DEFAULT_OVERSIZED_EXTRA
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

    /// A 200 collection page with an `error` object (code `13`), missing the records of the
    /// node of the last record in uuid order.
    #[must_use]
    pub fn error_in_ok() -> Self {
        Self::new(FaultEffect::ErrorInOk {
            node: None,
            code: None,
            message: None,
        })
    }

    /// A 200 collection page with an `error` object, missing the records of `node`.
    #[must_use]
    pub fn error_in_ok_for_node(node: &str) -> Self {
        Self::new(FaultEffect::ErrorInOk {
            node: Some(node.to_owned()),
            code: None,
            message: None,
        })
    }

    /// A 200 collection page with an `error` object of this code and message, missing the
    /// records of `node` (or of the default node).
    #[must_use]
    pub fn error_in_ok_with(node: Option<&str>, code: &str, message: &str) -> Self {
        Self::new(FaultEffect::ErrorInOk {
            node: node.map(str::to_owned),
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
        })
    }

    /// A collection page whose `num_records` is the number of records on it plus `delta`.
    #[must_use]
    pub fn num_records_mismatch(delta: i64) -> Self {
        Self::new(FaultEffect::NumRecordsMismatch { delta })
    }

    /// A collection page with up to `extra` records more than `max_records`.
    #[must_use]
    pub fn oversized_page(extra: usize) -> Self {
        Self::new(FaultEffect::OversizedPage { extra })
    }

    #[must_use]
    pub fn endless_body() -> Self {
        Self::new(FaultEffect::EndlessBody)
    }

    #[must_use]
    pub fn stall() -> Self {
        Self::new(FaultEffect::Stall)
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

    /// Checks values serde cannot: status range, non-zero counts, a real mismatch or excess.
    pub fn validate(&self) -> Result<(), FaultError> {
        match self.effect {
            FaultEffect::Error { status, .. } if !(400..=599).contains(&status) => {
                return Err(FaultError::InvalidStatus { status });
            }
            FaultEffect::NumRecordsMismatch { delta: 0 } => return Err(FaultError::ZeroDelta),
            FaultEffect::OversizedPage { extra: 0 } => return Err(FaultError::ZeroExtra),
            _ => {}
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
    /// A collection GET of a record set; `continues` when it carries `start.uuid`.
    Collection {
        set: RecordSet,
        continues: bool,
    },
    /// An instance GET (or a path below one) of a record set.
    Instance {
        set: RecordSet,
    },
    Other,
}

impl RequestKind {
    /// The record set the request reads, if any.
    #[must_use]
    pub fn set(self) -> Option<RecordSet> {
        match self {
            Self::Collection { set, .. } | Self::Instance { set } => Some(set),
            Self::Other => None,
        }
    }
}

/// A fault outcome that replaces the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Error(OntapError),
    MalformedJson,
    DropConnection,
    EndlessBody,
    Stall,
}

/// A fault outcome that changes how a collection page is cut or reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageShaping {
    Short(usize),
    Empty,
    /// Up to this many records beyond `max_records`.
    Oversized(usize),
    /// `num_records` off by this much (never below 0).
    NumRecordsOff(i64),
    /// An `error` object on a 200 page, and one node's records left out.
    MissingNode(MissingNode),
}

/// The node an `error_in_ok` page leaves out, and the `error` object it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingNode {
    /// `None`: the node of the last record in uuid order, resolved when the page is served.
    pub node: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl MissingNode {
    /// The `error` object for a page that misses `node` (if one could be named).
    #[must_use]
    pub fn error(&self, node: Option<&str>) -> serde_json::Value {
        let message = self.message.clone().unwrap_or_else(|| match node {
            Some(node) => format!(
                "Node \"{node}\" did not respond; its security associations are not listed."
            ),
            None => "A node did not respond; its security associations are not listed.".to_owned(),
        });
        serde_json::json!({
            "code": self.code.as_deref().unwrap_or(DEFAULT_ERROR_IN_OK_CODE),
            "message": message,
        })
    }
}

/// Everything the active faults do to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub latency: Duration,
    pub outcome: Option<Outcome>,
    pub shaping: Option<PageShaping>,
}

/// The active faults and the collection page counters (one per record set) `from_page` refers to.
#[derive(Debug, Default)]
pub struct FaultBook {
    active: Vec<Fault>,
    page_ordinals: [u32; RecordSet::ALL.len()],
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
        let page_ordinal = match kind {
            RequestKind::Collection { set, continues } => {
                let ordinal = &mut self.page_ordinals[set.index()];
                *ordinal = if continues {
                    ordinal.saturating_add(1)
                } else {
                    1
                };
                *ordinal
            }
            RequestKind::Instance { .. } | RequestKind::Other => 0,
        };
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
        let is_collection = matches!(kind, RequestKind::Collection { .. });
        let in_scope = self.scope.aim().is_none_or(|(set, collection_only)| {
            kind.set() == Some(set) && (is_collection || !collection_only)
        });
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
            FaultEffect::EndlessBody => Some(Outcome::EndlessBody),
            FaultEffect::Stall => Some(Outcome::Stall),
            FaultEffect::Latency { .. }
            | FaultEffect::ShortPages { .. }
            | FaultEffect::EmptyPages
            | FaultEffect::ErrorInOk { .. }
            | FaultEffect::NumRecordsMismatch { .. }
            | FaultEffect::OversizedPage { .. } => None,
        }
    }

    fn shaping(&self) -> Option<PageShaping> {
        match &self.effect {
            FaultEffect::ShortPages { records } => Some(PageShaping::Short(*records)),
            FaultEffect::EmptyPages => Some(PageShaping::Empty),
            FaultEffect::OversizedPage { extra } => Some(PageShaping::Oversized(*extra)),
            FaultEffect::NumRecordsMismatch { delta } => Some(PageShaping::NumRecordsOff(*delta)),
            FaultEffect::ErrorInOk {
                node,
                code,
                message,
            } => Some(PageShaping::MissingNode(MissingNode {
                node: node.clone(),
                code: code.clone(),
                message: message.clone(),
            })),
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

    const fn page(set: RecordSet, continues: bool) -> RequestKind {
        RequestKind::Collection { set, continues }
    }

    const FIRST_PAGE: RequestKind = page(RecordSet::SecurityAssociations, false);
    const NEXT_PAGE: RequestKind = page(RecordSet::SecurityAssociations, true);
    const CLUSTER_FIRST_PAGE: RequestKind = page(RecordSet::ClusterNetwork, false);
    const CLUSTER_NEXT_PAGE: RequestKind = page(RecordSet::ClusterNetwork, true);
    const SA_INSTANCE: RequestKind = RequestKind::Instance {
        set: RecordSet::SecurityAssociations,
    };
    const CLUSTER_INSTANCE: RequestKind = RequestKind::Instance {
        set: RecordSet::ClusterNetwork,
    };

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
    fn from_page_counts_pages_of_one_read_per_record_set() {
        let mut book = FaultBook::default();
        book.add(Fault::error(500).from_page(2));
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(CLUSTER_FIRST_PAGE).outcome.is_none());
        assert!(book.decide(NEXT_PAGE).outcome.is_some());
        assert!(book.decide(CLUSTER_NEXT_PAGE).outcome.is_some());
        assert!(book.decide(NEXT_PAGE).outcome.is_some());
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(RequestKind::Other).outcome.is_none());
    }

    #[test]
    fn scope_limits_requests() {
        let mut book = FaultBook::default();
        book.add(Fault::error(500).with_scope(FaultScope::SecurityAssociations));
        assert!(book.decide(RequestKind::Other).outcome.is_none());
        assert!(book.decide(SA_INSTANCE).outcome.is_some());
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

    #[test]
    fn new_kinds_parse_with_their_defaults() {
        let parse = |value: serde_json::Value| -> Fault {
            serde_json::from_value(value).expect("valid fault")
        };
        assert_eq!(parse(json!({"kind": "error_in_ok"})), Fault::error_in_ok());
        assert_eq!(
            parse(json!({"kind": "error_in_ok", "node": "n2", "code": "7", "message": "gone"})),
            Fault::error_in_ok_with(Some("n2"), "7", "gone")
        );
        assert_eq!(
            parse(json!({"kind": "error_in_ok", "node": "n2"})),
            Fault::error_in_ok_for_node("n2")
        );
        assert_eq!(
            parse(json!({"kind": "num_records_mismatch"})),
            Fault::num_records_mismatch(1)
        );
        assert_eq!(
            parse(json!({"kind": "num_records_mismatch", "delta": -2})),
            Fault::num_records_mismatch(-2)
        );
        assert_eq!(
            parse(json!({"kind": "oversized_page"})),
            Fault::oversized_page(1)
        );
        assert_eq!(
            parse(json!({"kind": "oversized_page", "extra": 5})),
            Fault::oversized_page(5)
        );
        assert_eq!(
            parse(json!({"kind": "endless_body"})),
            Fault::endless_body()
        );
        assert_eq!(
            parse(json!({"kind": "stall", "scope": "collection", "count": 1})),
            Fault::stall().with_scope(FaultScope::Collection).count(1)
        );
        assert_eq!(
            serde_json::to_value(Fault::error_in_ok_for_node("n1")).expect("serializes"),
            json!({"kind": "error_in_ok", "node": "n1"})
        );
        assert_eq!(
            serde_json::to_value(Fault::num_records_mismatch(1)).expect("serializes"),
            json!({"kind": "num_records_mismatch", "delta": 1})
        );
    }

    #[test]
    fn validation_rejects_no_op_mismatches_and_excesses() {
        assert_eq!(
            Fault::num_records_mismatch(0).validate(),
            Err(FaultError::ZeroDelta)
        );
        assert_eq!(
            Fault::oversized_page(0).validate(),
            Err(FaultError::ZeroExtra)
        );
        assert!(Fault::num_records_mismatch(-1).validate().is_ok());
    }

    #[test]
    fn body_faults_only_hit_collections_and_stall_hits_anything() {
        let mut book = FaultBook::default();
        book.add(Fault::error_in_ok().count(1));
        book.add(Fault::oversized_page(2).count(1));
        assert_eq!(book.decide(SA_INSTANCE).shaping, None);
        assert!(matches!(
            book.decide(FIRST_PAGE).shaping,
            Some(PageShaping::MissingNode(MissingNode { node: None, .. }))
        ));
        assert_eq!(
            book.decide(FIRST_PAGE).shaping,
            Some(PageShaping::Oversized(2))
        );
        assert!(book.list().is_empty());
        book.add(Fault::stall().count(1));
        book.add(Fault::endless_body().count(1));
        assert_eq!(
            book.decide(RequestKind::Other).outcome,
            Some(Outcome::Stall)
        );
        assert_eq!(
            book.decide(RequestKind::Other).outcome,
            Some(Outcome::EndlessBody)
        );
    }

    #[test]
    fn missing_node_error_names_the_node_unless_told_otherwise() {
        let default = MissingNode {
            node: None,
            code: None,
            message: None,
        };
        let error = default.error(Some("cluster1-02"));
        assert_eq!(error["code"], "13");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| message.contains("\"cluster1-02\" did not respond")),
            "{error}"
        );
        let chosen = MissingNode {
            node: None,
            code: Some("2".to_owned()),
            message: Some("x".to_owned()),
        };
        assert_eq!(chosen.error(None), json!({"code": "2", "message": "x"}));
    }

    #[test]
    fn scopes_aim_at_one_record_set() {
        let mut book = FaultBook::default();
        book.add(Fault::error(500).with_scope(FaultScope::ClusterNetwork));
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(SA_INSTANCE).outcome.is_none());
        assert!(book.decide(RequestKind::Other).outcome.is_none());
        assert!(book.decide(CLUSTER_FIRST_PAGE).outcome.is_some());
        assert!(book.decide(CLUSTER_INSTANCE).outcome.is_some());
        book.clear();
        book.add(Fault::error(500).with_scope(FaultScope::ClusterNetworkCollection));
        assert!(book.decide(CLUSTER_INSTANCE).outcome.is_none());
        assert!(book.decide(FIRST_PAGE).outcome.is_none());
        assert!(book.decide(CLUSTER_FIRST_PAGE).outcome.is_some());
        book.clear();
        book.add(Fault::error(500).with_scope(FaultScope::Collection));
        assert!(book.decide(CLUSTER_FIRST_PAGE).outcome.is_none());
        assert!(book.decide(FIRST_PAGE).outcome.is_some());
        book.clear();
        book.add(Fault::short_pages(1));
        assert!(
            book.decide(CLUSTER_FIRST_PAGE).shaping.is_some(),
            "any hits both"
        );
        assert!(book.decide(FIRST_PAGE).shaping.is_some(), "any hits both");
        assert_eq!(
            serde_json::from_value::<Fault>(
                json!({"kind": "stall", "scope": "cluster_network_collection"})
            )
            .expect("valid fault"),
            Fault::stall().with_scope(FaultScope::ClusterNetworkCollection)
        );
    }
}
