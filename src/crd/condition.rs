//! Condition types, reasons and the pure helpers that keep `status.conditions` lists correct.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// `status` of a condition that holds.
pub const STATUS_TRUE: &str = "True";
/// `status` of a condition that does not hold.
pub const STATUS_FALSE: &str = "False";
/// `status` of a condition the operator cannot currently judge.
pub const STATUS_UNKNOWN: &str = "Unknown";

/// `OntapCluster`: the last poll succeeded and every SA is mirrored.
/// `IpsecSecurityAssociation`: the one of `IkeEstablished` / `IpsecInstalled` that applies is True.
pub const TYPE_READY: &str = "Ready";
/// `OntapCluster`: every mirrored SA is Ready.
pub const TYPE_TUNNELS_HEALTHY: &str = "TunnelsHealthy";
/// `OntapCluster`: True only for errors that need a human (kstatus then reports Failed).
pub const TYPE_STALLED: &str = "Stalled";
/// `OntapCluster`: True when TLS verification is off or plain HTTP is allowed.
pub const TYPE_INSECURE_TRANSPORT: &str = "InsecureTransport";
/// `IpsecSecurityAssociation` of type `ike`: the IKE SA is `established`.
pub const TYPE_IKE_ESTABLISHED: &str = "IkeEstablished";
/// `IpsecSecurityAssociation` of type `ipsec`: the `IPsec` SA is `installed`.
pub const TYPE_IPSEC_INSTALLED: &str = "IpsecInstalled";

/// `OntapCluster` `Ready=True`: the last poll succeeded and every SA is mirrored.
pub const REASON_SYNCED: &str = "Synced";
/// `OntapCluster`: ONTAP could not be reached (connection refused, timeout, DNS, 5xx).
pub const REASON_UNREACHABLE: &str = "Unreachable";
/// `OntapCluster`: ONTAP rejected the credentials (HTTP 401).
pub const REASON_UNAUTHORIZED: &str = "Unauthorized";
/// `OntapCluster`: the ONTAP user lacks the role to read security associations (HTTP 403).
pub const REASON_FORBIDDEN: &str = "Forbidden";
/// `OntapCluster`: the TLS handshake failed (untrusted certificate, name mismatch, bad CA).
pub const REASON_TLS_ERROR: &str = "TlsError";
/// `OntapCluster`: the spec cannot be used as written.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// `OntapCluster`: the credentials or CA Secret (or a key in it) does not exist.
pub const REASON_SECRET_NOT_FOUND: &str = "SecretNotFound";
/// `OntapCluster`: the ONTAP release has no security-associations endpoint (before 9.8).
pub const REASON_UNSUPPORTED_VERSION: &str = "UnsupportedVersion";
/// `OntapCluster`: ONTAP answered with something the operator could not read.
pub const REASON_BAD_RESPONSE: &str = "BadResponse";
/// `OntapCluster`: `spec.suspend` is true, so nothing is polled.
pub const REASON_SUSPENDED: &str = "Suspended";
/// `OntapCluster` `TunnelsHealthy=True`: every mirrored SA is Ready.
pub const REASON_ALL_TUNNELS_UP: &str = "AllTunnelsUp";
/// `OntapCluster` `TunnelsHealthy=False`: at least one mirrored SA is not Ready.
pub const REASON_TUNNELS_DOWN: &str = "TunnelsDown";
/// `OntapCluster` `Stalled=False`: nothing needs a human.
pub const REASON_PROGRESSING: &str = "Progressing";

/// `IpsecSecurityAssociation`: the IKE SA is `established`.
pub const REASON_ESTABLISHED: &str = "Established";
/// `OntapCluster` `InsecureTransport=True`: `tls.insecureSkipVerify` turns verification off.
pub const REASON_INSECURE_SKIP_VERIFY: &str = "InsecureSkipVerify";
/// `OntapCluster` `InsecureTransport=True`: the endpoint is plain `http://`.
pub const REASON_PLAIN_HTTP: &str = "PlainHttp";
/// `OntapCluster` `InsecureTransport=True`: the endpoint is HTTPS, but `allowInsecureHttp` lets
/// it be changed to plain HTTP.
pub const REASON_PLAIN_HTTP_ALLOWED: &str = "PlainHttpAllowed";
/// `OntapCluster` `InsecureTransport=False`: HTTPS with the certificate verified.
pub const REASON_TLS_VERIFIED: &str = "TlsVerified";
/// `OntapCluster` `Ready=False`, `Stalled=True`: the spec asks for an insecure transport and the
/// operator runs with `--forbid-insecure-transport`.
pub const REASON_INSECURE_TRANSPORT_FORBIDDEN: &str = "InsecureTransportForbidden";

/// `OntapCluster` `Ready=False`: ONTAP said the listing is partial (an `error` object in a 200
/// answer, or a `num_records` that disagrees), so nothing was pruned.
pub const REASON_INCOMPLETE_LISTING: &str = "IncompleteListing";
/// `OntapCluster` `Ready=False`: the API server refused a write of a mirrored object or of a
/// status (RBAC, admission policy, quota, terminating namespace).
pub const REASON_MIRROR_WRITE_DENIED: &str = "MirrorWriteDenied";
/// `OntapCluster` `Ready=False`, `Stalled=True`: ONTAP lists more SAs than the operator's limit.
pub const REASON_TOO_MANY_SECURITY_ASSOCIATIONS: &str = "TooManySecurityAssociations";

/// `OntapCluster` `Ready=False`, `Stalled=True`: `spec.clusterNetwork` asks for the cluster
/// network's SAs and ONTAP does not serve them (a release before 9.19, or a role without access);
/// the data network's SAs are still mirrored.
pub const REASON_CLUSTER_NETWORK_UNSUPPORTED: &str = "ClusterNetworkUnsupported";

/// `IpsecSecurityAssociation`: ONTAP reported a state the operator cannot judge (an IKE state
/// ONTAP does not document, or an `IPsec` state outside the operator's table), so the condition
/// is `Unknown` rather than a false alarm.
pub const REASON_UNRECOGNIZED_STATE: &str = "UnrecognizedState";
/// `IpsecSecurityAssociation`: its `OntapCluster` has missed `staleAfter` polls, so every condition
/// is Unknown until a poll succeeds again.
pub const REASON_CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";

/// The three values of a condition's `status`, as a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot judge.
    Unknown,
}

impl ConditionStatus {
    /// The string Kubernetes uses for this status.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::True => STATUS_TRUE,
            Self::False => STATUS_FALSE,
            Self::Unknown => STATUS_UNKNOWN,
        }
    }

    /// Reads a condition's `status`; anything but `True` or `False` is `Unknown`.
    #[must_use]
    pub fn from_status(status: &str) -> Self {
        match status {
            STATUS_TRUE => Self::True,
            STATUS_FALSE => Self::False,
            _ => Self::Unknown,
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds { Self::True } else { Self::False }
    }
}

/// Builds a condition with `lastTransitionTime` set to `now` (whole seconds, as the API server
/// stores it).
#[must_use]
pub fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message: bounded_message(message.into()),
        observed_generation,
        last_transition_time: Time(whole_seconds(now)),
    }
}

/// Longest condition message written: the API server allows 32 KiB, but much of a message is
/// ONTAP's or the API server's own text, and a status is read by every watcher.
pub const MAX_CONDITION_MESSAGE: usize = 1024;

/// `message` cut to [`MAX_CONDITION_MESSAGE`] bytes.
#[must_use]
pub fn bounded_message(message: String) -> String {
    cut_to_bytes(message, MAX_CONDITION_MESSAGE)
}

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
#[must_use]
pub fn cut_to_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The condition of the given type, if the list has one.
#[must_use]
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == type_)
}

/// Whether the condition of the given type exists and is `True`.
#[must_use]
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|condition| condition.status == STATUS_TRUE)
}

/// Puts `condition` into the list, replacing the one of the same type.
///
/// `lastTransitionTime` moves only when `status` changes: when the list already holds this type
/// with the same status, its time is kept and the new one discarded. New times are cut to whole
/// seconds, because the API server stores no more, so what is held compares equal to what is
/// read back. New types are appended, so the list order stays stable. Returns whether the list
/// changed.
pub fn upsert_condition(conditions: &mut Vec<Condition>, mut condition: Condition) -> bool {
    condition.last_transition_time = Time(whole_seconds(condition.last_transition_time.0));
    let Some(existing) = conditions
        .iter_mut()
        .find(|existing| existing.type_ == condition.type_)
    else {
        conditions.push(condition);
        return true;
    };
    if existing.status == condition.status {
        condition
            .last_transition_time
            .clone_from(&existing.last_transition_time);
    }
    if *existing == condition {
        return false;
    }
    *existing = condition;
    true
}

/// Whether two conditions agree in every field except `lastTransitionTime`.
#[must_use]
pub fn equal_ignoring_transition_time(left: &Condition, right: &Condition) -> bool {
    left.type_ == right.type_
        && left.status == right.status
        && left.reason == right.reason
        && left.message == right.message
        && left.observed_generation == right.observed_generation
}

/// Whether two condition lists hold the same conditions, matched by type in any order, each
/// compared with [`equal_ignoring_transition_time`].
#[must_use]
pub fn conditions_equal_ignoring_transition_time(left: &[Condition], right: &[Condition]) -> bool {
    left.len() == right.len()
        && left.iter().all(|condition| {
            find_condition(right, &condition.type_)
                .is_some_and(|other| equal_ignoring_transition_time(condition, other))
        })
}

/// Schema for a `conditions` field: `metav1.Condition` items in a list-map keyed by `type`, so
/// server-side apply merges conditions by type instead of replacing the whole list.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = Vec::<Condition>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".to_owned(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".to_owned(),
        serde_json::json!(["type"]),
    );
    schema
}

/// The timestamp without its sub-second part.
fn whole_seconds(timestamp: Timestamp) -> Timestamp {
    Timestamp::from_second(timestamp.as_second()).unwrap_or(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("valid timestamp")
    }

    fn ready(status: ConditionStatus, reason: &str, second: i64) -> Condition {
        new_condition(TYPE_READY, status, reason, "message", Some(1), at(second))
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(2000);
        let condition = new_condition(
            TYPE_READY,
            ConditionStatus::False,
            REASON_BAD_RESPONSE,
            long,
            None,
            at(1),
        );
        assert!(condition.message.len() <= MAX_CONDITION_MESSAGE);
        assert!(condition.message.ends_with('…'));
        assert_eq!(bounded_message("short".into()), "short");
    }

    #[test]
    fn new_condition_is_appended() {
        let mut conditions = Vec::new();
        assert!(upsert_condition(
            &mut conditions,
            ready(ConditionStatus::True, REASON_SYNCED, 100)
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "True");
        assert_eq!(conditions[0].last_transition_time.0, at(100));
    }

    #[test]
    fn unchanged_status_keeps_the_old_transition_time() {
        let mut conditions = vec![ready(ConditionStatus::True, REASON_SYNCED, 100)];
        let changed = upsert_condition(
            &mut conditions,
            ready(ConditionStatus::True, REASON_SYNCED, 200),
        );
        assert!(!changed, "same status, reason and message is no change");
        assert_eq!(conditions[0].last_transition_time.0, at(100));
    }

    #[test]
    fn changed_reason_with_same_status_updates_but_keeps_the_time() {
        let mut conditions = vec![new_condition(
            TYPE_STALLED,
            ConditionStatus::False,
            REASON_PROGRESSING,
            "",
            Some(1),
            at(100),
        )];
        let changed = upsert_condition(
            &mut conditions,
            new_condition(
                TYPE_STALLED,
                ConditionStatus::False,
                REASON_PROGRESSING,
                "",
                Some(2),
                at(200),
            ),
        );
        assert!(changed, "a new observedGeneration is a change");
        assert_eq!(conditions[0].observed_generation, Some(2));
        assert_eq!(conditions[0].last_transition_time.0, at(100));
    }

    #[test]
    fn changed_status_moves_the_transition_time() {
        let mut conditions = vec![ready(ConditionStatus::True, REASON_SYNCED, 100)];
        let changed = upsert_condition(
            &mut conditions,
            ready(ConditionStatus::False, REASON_UNREACHABLE, 200),
        );
        assert!(changed);
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "False");
        assert_eq!(conditions[0].reason, "Unreachable");
        assert_eq!(conditions[0].last_transition_time.0, at(200));
    }

    #[test]
    fn other_types_are_left_alone_and_order_is_stable() {
        let mut conditions = vec![
            ready(ConditionStatus::True, REASON_SYNCED, 100),
            new_condition(
                TYPE_TUNNELS_HEALTHY,
                ConditionStatus::True,
                REASON_ALL_TUNNELS_UP,
                "",
                Some(1),
                at(100),
            ),
        ];
        upsert_condition(
            &mut conditions,
            ready(ConditionStatus::Unknown, REASON_UNREACHABLE, 300),
        );
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "TunnelsHealthy"]);
        assert_eq!(conditions[1].last_transition_time.0, at(100));
        assert_eq!(conditions[1].status, "True");
    }

    #[test]
    fn transition_times_are_cut_to_whole_seconds() {
        let precise = Timestamp::new(1_700_000_000, 987_654_321).expect("valid timestamp");
        let condition = new_condition(
            TYPE_READY,
            ConditionStatus::True,
            REASON_SYNCED,
            "",
            None,
            precise,
        );
        assert_eq!(condition.last_transition_time.0, at(1_700_000_000));

        let mut raw = condition.clone();
        raw.last_transition_time = Time(precise);
        let mut conditions = Vec::new();
        upsert_condition(&mut conditions, raw);
        assert_eq!(conditions[0].last_transition_time.0, at(1_700_000_000));
    }

    #[test]
    fn comparison_ignores_only_the_transition_time() {
        let base = ready(ConditionStatus::True, REASON_SYNCED, 100);
        assert!(equal_ignoring_transition_time(
            &base,
            &ready(ConditionStatus::True, REASON_SYNCED, 999)
        ));
        let mut other = base.clone();
        other.message = "different".into();
        assert!(!equal_ignoring_transition_time(&base, &other));
        let mut other = base.clone();
        other.observed_generation = Some(2);
        assert!(!equal_ignoring_transition_time(&base, &other));
        let mut other = base.clone();
        other.reason = REASON_UNREACHABLE.into();
        assert!(!equal_ignoring_transition_time(&base, &other));
        let mut other = base.clone();
        other.status = STATUS_FALSE.into();
        assert!(!equal_ignoring_transition_time(&base, &other));
        let mut other = base.clone();
        other.type_ = TYPE_STALLED.into();
        assert!(!equal_ignoring_transition_time(&base, &other));
    }

    #[test]
    fn lists_compare_by_type_in_any_order() {
        let ready = ready(ConditionStatus::True, REASON_SYNCED, 100);
        let stalled = new_condition(
            TYPE_STALLED,
            ConditionStatus::False,
            REASON_PROGRESSING,
            "",
            Some(1),
            at(100),
        );
        assert!(conditions_equal_ignoring_transition_time(
            &[ready.clone(), stalled.clone()],
            &[stalled.clone(), ready.clone()]
        ));
        assert!(!conditions_equal_ignoring_transition_time(
            &[ready.clone(), stalled],
            std::slice::from_ref(&ready)
        ));
    }

    #[test]
    fn status_strings_round_trip() {
        for status in [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ] {
            assert_eq!(ConditionStatus::from_status(status.as_str()), status);
        }
        assert_eq!(
            ConditionStatus::from_status("true"),
            ConditionStatus::Unknown
        );
        assert_eq!(ConditionStatus::from(true), ConditionStatus::True);
        assert_eq!(ConditionStatus::from(false), ConditionStatus::False);
    }

    #[test]
    fn is_condition_true_needs_the_type_and_true() {
        let conditions = vec![ready(ConditionStatus::True, REASON_SYNCED, 100)];
        assert!(is_condition_true(&conditions, TYPE_READY));
        assert!(!is_condition_true(&conditions, TYPE_STALLED));
        let conditions = vec![ready(ConditionStatus::Unknown, REASON_UNREACHABLE, 100)];
        assert!(!is_condition_true(&conditions, TYPE_READY));
    }

    #[test]
    fn schema_is_a_list_map_keyed_by_type() {
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        let schema = conditions_schema(&mut generator);
        let value = schema.as_value();
        assert_eq!(value["type"], "array");
        assert_eq!(value["x-kubernetes-list-type"], "map");
        assert_eq!(
            value["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
    }
}
