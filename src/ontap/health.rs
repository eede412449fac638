//! Health rules: whether an SA's IKE is established, its IPsec installed, and so whether it is ready.
//!
//! Pure functions shared by the `poll` command and the controller. States match
//! case-insensitively; a state nobody documented yields `Unknown`, never an error.

use super::model::{SecurityAssociation, SecurityAssociationType};
use crate::crd::ConditionStatus;

/// A health judgement: status, a CamelCase reason and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

/// Reason when an SA does not report its state at all.
pub const REASON_STATE_NOT_REPORTED: &str = "StateNotReported";
/// Reason when an SA reports a state the operator cannot judge: an IKE state outside ONTAP's
/// documented set, or an IPsec state outside the table below.
pub const REASON_UNRECOGNIZED_STATE: &str = "UnrecognizedState";
/// Reason when an SA's `type` is neither `ike` nor `ipsec`.
pub const REASON_UNKNOWN_TYPE: &str = "UnknownType";

/// IKE states ONTAP documents, and whether each means the SA is established.
const IKE_STATES: [(&str, ConditionStatus); 4] = [
    ("established", ConditionStatus::True),
    ("connecting", ConditionStatus::False),
    ("dead_peer_probe", ConditionStatus::False),
    ("none", ConditionStatus::False),
];

/// IPsec states and what each says about the SA. ONTAP documents none; its IKE daemon is
/// strongSwan-based, whose child SAs pass through these. A rekey or an update keeps the tunnel
/// carrying traffic, so those count as installed; the states before installation and after
/// deletion do not. Anything else is `Unknown`: a false alarm on a healthy tunnel is worse than
/// an honest "don't know".
const IPSEC_STATES: [(&str, ConditionStatus); 11] = [
    ("installed", ConditionStatus::True),
    ("rekeying", ConditionStatus::True),
    ("rekeyed", ConditionStatus::True),
    ("updating", ConditionStatus::True),
    ("none", ConditionStatus::False),
    ("created", ConditionStatus::False),
    ("routed", ConditionStatus::False),
    ("installing", ConditionStatus::False),
    ("retrying", ConditionStatus::False),
    ("deleting", ConditionStatus::False),
    ("deleted", ConditionStatus::False),
];

/// `IkeEstablished` for an IKE SA; `None` for any other type.
#[must_use]
pub fn ike_established(sa: &SecurityAssociation) -> Option<Verdict> {
    if sa.sa_type != Some(SecurityAssociationType::Ike) {
        return None;
    }
    let state = sa.ike.as_ref().and_then(|ike| ike.state.as_deref());
    let peer = peer_description(sa);
    Some(match state.map(str::trim).filter(|s| !s.is_empty()) {
        None => Verdict {
            status: ConditionStatus::Unknown,
            reason: REASON_STATE_NOT_REPORTED.into(),
            message: format!("ONTAP reports no IKE state for {peer}"),
        },
        Some(state) => match IKE_STATES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(state))
        {
            Some((known, status)) => Verdict {
                status: *status,
                reason: camel_case(known),
                message: format!("IKE SA {peer} is {}", known.replace('_', " ")),
            },
            None => Verdict {
                status: ConditionStatus::Unknown,
                reason: REASON_UNRECOGNIZED_STATE.into(),
                message: format!(
                    "IKE SA {peer} is in state {:?}, which ONTAP does not document",
                    bounded(state)
                ),
            },
        },
    })
}

/// `IpsecInstalled` for an IPsec SA; `None` for any other type.
#[must_use]
pub fn ipsec_installed(sa: &SecurityAssociation) -> Option<Verdict> {
    if sa.sa_type != Some(SecurityAssociationType::Ipsec) {
        return None;
    }
    let state = sa.ipsec.as_ref().and_then(|ipsec| ipsec.state.as_deref());
    let peer = peer_description(sa);
    Some(match state.map(str::trim).filter(|s| !s.is_empty()) {
        None => Verdict {
            status: ConditionStatus::Unknown,
            reason: REASON_STATE_NOT_REPORTED.into(),
            message: format!("ONTAP reports no IPsec state for {peer}"),
        },
        Some(state) => match IPSEC_STATES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(state))
        {
            Some((known, ConditionStatus::True)) => Verdict {
                status: ConditionStatus::True,
                reason: camel_case(known),
                message: if known.eq_ignore_ascii_case("installed") {
                    format!("IPsec SA {peer} is installed")
                } else {
                    format!("IPsec SA {peer} is {known}; it stays installed meanwhile")
                },
            },
            Some((known, status)) => Verdict {
                status: *status,
                reason: camel_case(known),
                message: format!("IPsec SA {peer} is {known}, not installed"),
            },
            None => Verdict {
                status: ConditionStatus::Unknown,
                reason: REASON_UNRECOGNIZED_STATE.into(),
                message: format!(
                    "IPsec SA {peer} is in state {:?}, which the operator does not recognize",
                    bounded(state)
                ),
            },
        },
    })
}

/// `Ready`: the verdict of whichever of `IkeEstablished` or `IpsecInstalled` applies.
#[must_use]
pub fn ready(sa: &SecurityAssociation) -> Verdict {
    ike_established(sa)
        .or_else(|| ipsec_installed(sa))
        .unwrap_or_else(|| Verdict {
            status: ConditionStatus::Unknown,
            reason: REASON_UNKNOWN_TYPE.into(),
            message: format!(
                "SA {} has type {:?}, neither ike nor ipsec",
                sa.uuid,
                sa.sa_type
                    .as_ref()
                    .map_or("", SecurityAssociationType::as_str)
            ),
        })
}

/// The state that applies to the SA's type (IKE or IPsec), as ONTAP reported it.
#[must_use]
pub fn applicable_state(sa: &SecurityAssociation) -> Option<&str> {
    match sa.sa_type {
        Some(SecurityAssociationType::Ike) => sa.ike.as_ref()?.state.as_deref(),
        Some(SecurityAssociationType::Ipsec) => sa.ipsec.as_ref()?.state.as_deref(),
        _ => None,
    }
}

/// `dead_peer_probe` → `DeadPeerProbe`; any other characters are dropped so the result is
/// always a valid condition reason, and a leading digit gets a `State` prefix.
#[must_use]
pub fn camel_case(state: &str) -> String {
    let mut reason: String = state
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    if reason.is_empty() {
        return REASON_UNRECOGNIZED_STATE.into();
    }
    if reason.starts_with(|c: char| c.is_ascii_digit()) {
        reason.insert_str(0, "State");
    }
    reason
}

/// Longest piece of a state string quoted in a message: ONTAP's text is not trusted to be short.
const MAX_QUOTED_STATE: usize = 64;

fn bounded(text: &str) -> String {
    text.chars().take(MAX_QUOTED_STATE).collect()
}

fn peer_description(sa: &SecurityAssociation) -> String {
    match (&sa.local_address, &sa.remote_address) {
        (Some(local), Some(remote)) => format!("{local} -> {remote}"),
        (_, Some(remote)) => format!("to {remote}"),
        _ => sa.uuid.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sa(value: serde_json::Value) -> SecurityAssociation {
        serde_json::from_value(value).expect("record decodes")
    }

    fn ike(state: &str) -> SecurityAssociation {
        sa(json!({"uuid": "u1", "type": "ike", "ike": {"state": state},
            "local_address": "10.0.0.1", "remote_address": "10.0.0.2"}))
    }

    fn ipsec(state: &str) -> SecurityAssociation {
        sa(json!({"uuid": "u2", "type": "ipsec", "ipsec": {"state": state}}))
    }

    #[test]
    fn every_documented_ike_state_has_its_status_and_reason() {
        let cases = [
            ("established", ConditionStatus::True, "Established"),
            ("connecting", ConditionStatus::False, "Connecting"),
            ("dead_peer_probe", ConditionStatus::False, "DeadPeerProbe"),
            ("none", ConditionStatus::False, "None"),
        ];
        for (state, status, reason) in cases {
            let verdict = ike_established(&ike(state)).expect("ike SA");
            assert_eq!(
                (verdict.status, verdict.reason.as_str()),
                (status, reason),
                "{state}"
            );
            assert_eq!(ready(&ike(state)), verdict);
        }
    }

    #[test]
    fn states_match_case_insensitively() {
        assert_eq!(ready(&ike("ESTABLISHED")).status, ConditionStatus::True);
        assert_eq!(ready(&ipsec("INSTALLED")).status, ConditionStatus::True);
        assert_eq!(ready(&ipsec("Installed")).reason, "Installed");
    }

    #[test]
    fn undocumented_ike_state_is_unknown_not_an_error() {
        let verdict = ready(&ike("rekeying"));
        assert_eq!(verdict.status, ConditionStatus::Unknown);
        assert_eq!(verdict.reason, REASON_UNRECOGNIZED_STATE);
        assert!(verdict.message.contains("rekeying"));
    }

    #[test]
    fn ipsec_states_of_a_rekey_or_update_stay_installed() {
        for (state, reason) in [
            ("installed", "Installed"),
            ("rekeying", "Rekeying"),
            ("REKEYED", "Rekeyed"),
            ("updating", "Updating"),
        ] {
            let verdict = ipsec_installed(&ipsec(state)).expect("ipsec SA");
            assert_eq!(
                (verdict.status, verdict.reason.as_str()),
                (ConditionStatus::True, reason),
                "{state}"
            );
        }
    }

    #[test]
    fn ipsec_states_before_installation_or_after_deletion_are_not_installed() {
        for (state, reason) in [
            ("none", "None"),
            ("installing", "Installing"),
            ("retrying", "Retrying"),
            ("deleting", "Deleting"),
            ("deleted", "Deleted"),
        ] {
            let verdict = ipsec_installed(&ipsec(state)).expect("ipsec SA");
            assert_eq!(
                (verdict.status, verdict.reason.as_str()),
                (ConditionStatus::False, reason),
                "{state}"
            );
        }
    }

    #[test]
    fn an_unrecognized_ipsec_state_is_unknown_and_named() {
        let verdict = ipsec_installed(&ipsec("larval")).expect("ipsec SA");
        assert_eq!(
            (verdict.status, verdict.reason.as_str()),
            (ConditionStatus::Unknown, REASON_UNRECOGNIZED_STATE)
        );
        assert!(verdict.message.contains("larval"), "{}", verdict.message);
        let long = "x".repeat(10_000);
        let verdict = ipsec_installed(&ipsec(&long)).expect("ipsec SA");
        assert!(verdict.message.len() < 300, "{}", verdict.message.len());
    }

    #[test]
    fn missing_state_is_unknown() {
        let no_ike = sa(json!({"uuid": "u", "type": "ike"}));
        let empty_ipsec = sa(json!({"uuid": "u", "type": "ipsec", "ipsec": {"state": ""}}));
        assert_eq!(ready(&no_ike).reason, REASON_STATE_NOT_REPORTED);
        assert_eq!(ready(&empty_ipsec).status, ConditionStatus::Unknown);
    }

    #[test]
    fn each_rule_applies_only_to_its_own_type() {
        assert!(ipsec_installed(&ike("established")).is_none());
        assert!(ike_established(&ipsec("installed")).is_none());
        let odd = sa(json!({"uuid": "u", "type": "gre"}));
        assert_eq!(ready(&odd).reason, REASON_UNKNOWN_TYPE);
    }

    #[test]
    fn camel_case_always_yields_a_valid_reason() {
        assert_eq!(camel_case("dead_peer_probe"), "DeadPeerProbe");
        assert_eq!(camel_case("MATURE"), "Mature");
        assert_eq!(camel_case("half-open state"), "HalfOpenState");
        assert_eq!(camel_case("3des"), "State3des");
        assert_eq!(camel_case("--"), REASON_UNRECOGNIZED_STATE);
    }
}
