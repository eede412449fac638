//! ONTAP records as the REST API returns them, decoded tolerantly of real-world variation.
//!
//! ONTAP releases differ in small ways (`ike.version` is a string before 9.11.1 and an integer
//! after; SPIs appear with and without `0x`; cluster-scoped SAs carry no `svm`), and states are
//! not a closed set. Every field is therefore optional, unknown fields are ignored and unknown
//! strings are kept exactly as ONTAP sent them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// One IKE or IPsec security association (`/api/security/ipsec/security-associations`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SecurityAssociation {
    /// ONTAP's key for the SA; a rekey produces a new one.
    pub uuid: String,
    #[serde(rename = "type", default)]
    pub sa_type: Option<SecurityAssociationType>,
    #[serde(default)]
    pub node: Option<ObjectReference>,
    /// Absent for cluster-scoped SAs.
    #[serde(default)]
    pub svm: Option<ObjectReference>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub policy_name: Option<String>,
    #[serde(default)]
    pub local_address: Option<String>,
    #[serde(default)]
    pub remote_address: Option<String>,
    #[serde(default)]
    pub cipher_suite: Option<String>,
    /// Seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub lifetime: Option<u64>,
    #[serde(default)]
    pub ike: Option<IkeState>,
    #[serde(default)]
    pub ipsec: Option<IpsecState>,
}

/// `ike` or `ipsec`, compared case-insensitively; anything else is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecurityAssociationType {
    Ike,
    Ipsec,
    Other(String),
}

impl SecurityAssociationType {
    /// The value as ONTAP spells it (`ike`, `ipsec`) or the unknown string unchanged.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ike => "ike",
            Self::Ipsec => "ipsec",
            Self::Other(value) => value,
        }
    }
}

impl fmt::Display for SecurityAssociationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for SecurityAssociationType {
    fn from(value: &str) -> Self {
        if value.eq_ignore_ascii_case("ike") {
            Self::Ike
        } else if value.eq_ignore_ascii_case("ipsec") {
            Self::Ipsec
        } else {
            Self::Other(value.to_owned())
        }
    }
}

impl<'de> Deserialize<'de> for SecurityAssociationType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(Self::from(value.as_str()))
    }
}

impl Serialize for SecurityAssociationType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A `{name, uuid}` reference to a node or an SVM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ObjectReference {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
}

/// The `ike` sub-object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct IkeState {
    #[serde(default)]
    pub state: Option<String>,
    /// `2` from ONTAP 9.11.1, `"2"` before; kept as text.
    #[serde(default, deserialize_with = "string_or_number")]
    pub version: Option<String>,
    #[serde(default)]
    pub authentication: Option<String>,
    #[serde(default)]
    pub is_initiator: Option<bool>,
    #[serde(default, rename = "initiator_security_parameter_index")]
    pub initiator_spi: Option<SecurityParameterIndex>,
    #[serde(default, rename = "responder_security_parameter_index")]
    pub responder_spi: Option<SecurityParameterIndex>,
}

/// The `ipsec` sub-object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct IpsecState {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub inbound: Option<TrafficDirection>,
    #[serde(default)]
    pub outbound: Option<TrafficDirection>,
}

/// `ipsec.inbound` or `ipsec.outbound`: the SPI and traffic counters of one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct TrafficDirection {
    #[serde(default, rename = "security_parameter_index")]
    pub spi: Option<SecurityParameterIndex>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub bytes: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub packets: Option<u64>,
}

/// A security parameter index, normalised to lower-case hex without a `0x` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SecurityParameterIndex(String);

impl SecurityParameterIndex {
    /// Normalises `0xABCD` and `abcd` alike to `abcd`; non-hex text is kept (trimmed) as sent.
    #[must_use]
    pub fn new(raw: &str) -> Self {
        let trimmed = raw.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            Self(digits.to_ascii_lowercase())
        } else {
            Self(trimmed.to_owned())
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecurityParameterIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecurityParameterIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = string_or_number(deserializer)?.unwrap_or_default();
        Ok(Self::new(&raw))
    }
}

/// `GET /api/cluster?fields=name,uuid,version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClusterIdentity {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub version: Option<ClusterVersion>,
}

/// ONTAP's release; patch levels such as `P3` appear only in `full`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClusterVersion {
    #[serde(default)]
    pub full: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub generation: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub major: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub minor: Option<u64>,
}

impl ClusterVersion {
    /// `9.14.1`, or `None` when ONTAP did not report the numeric parts.
    #[must_use]
    pub fn release(&self) -> Option<String> {
        Some(format!(
            "{}.{}.{}",
            self.generation?, self.major?, self.minor?
        ))
    }

    /// True when the release is known and older than 9.8, which lacks the SA endpoint.
    #[must_use]
    pub fn lacks_security_association_endpoint(&self) -> bool {
        matches!((self.generation, self.major), (Some(generation), Some(major)) if (generation, major) < (9, 8))
    }
}

/// One page of a collection response.
#[derive(Debug, Deserialize)]
pub(crate) struct CollectionPage<T> {
    #[serde(default = "Vec::new")]
    pub records: Vec<T>,
    /// Records on this page, as ONTAP counted them.
    #[serde(default)]
    pub num_records: Option<u64>,
    /// Set, next to `records`, when ONTAP could not read part of the collection (a node whose
    /// table did not answer): the page is then not the whole truth.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
    #[serde(default, rename = "_links")]
    pub links: Option<CollectionLinks>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CollectionLinks {
    #[serde(default)]
    pub next: Option<Link>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    pub href: String,
}

/// ONTAP's error body: `{"error": {"message", "code", "target"}}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
    /// A string in real responses; numbers are accepted too.
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    // Before `Integer`: ONTAP's byte counters may exceed i64::MAX.
    Unsigned(u64),
    Integer(i64),
    Float(f64),
}

/// Accepts `"2"`, `2` and `null` alike, as text.
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(
        Option::<StringOrNumber>::deserialize(deserializer)?.map(|value| match value {
            StringOrNumber::String(text) => text,
            StringOrNumber::Unsigned(number) => number.to_string(),
            StringOrNumber::Integer(number) => number.to_string(),
            StringOrNumber::Float(number) => number.to_string(),
        }),
    )
}

/// Accepts `42`, `"42"` and `null`; a non-numeric string is a decode error naming the field.
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<StringOrNumber>::deserialize(deserializer)? {
        None => Ok(None),
        Some(StringOrNumber::Unsigned(number)) => Ok(Some(number)),
        Some(StringOrNumber::Integer(number)) => u64::try_from(number)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("negative count {number}"))),
        Some(StringOrNumber::String(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("not a count: {text:?}"))),
        Some(StringOrNumber::Float(number)) => Err(serde::de::Error::custom(format!(
            "not a whole count: {number}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(value: serde_json::Value) -> SecurityAssociation {
        serde_json::from_value(value).expect("record decodes")
    }

    #[test]
    fn ike_version_is_accepted_as_string_or_integer() {
        let old = decode(json!({"uuid": "a", "ike": {"version": "2"}}));
        let new = decode(json!({"uuid": "b", "ike": {"version": 2}}));
        assert_eq!(old.ike.and_then(|ike| ike.version).as_deref(), Some("2"));
        assert_eq!(new.ike.and_then(|ike| ike.version).as_deref(), Some("2"));
    }

    #[test]
    fn spis_are_normalised_with_or_without_prefix() {
        let sa = decode(json!({"uuid": "a", "ike": {
            "initiator_security_parameter_index": "0xA1B2C3D4E5F60718",
            "responder_security_parameter_index": "a1b2c3d4e5f60719"}}));
        let ike = sa.ike.expect("ike present");
        assert_eq!(ike.initiator_spi.expect("spi").as_str(), "a1b2c3d4e5f60718");
        assert_eq!(ike.responder_spi.expect("spi").as_str(), "a1b2c3d4e5f60719");
    }

    #[test]
    fn cluster_scoped_sa_without_svm_and_sub_objects_decodes() {
        let sa = decode(json!({"uuid": "a", "type": "ipsec", "scope": "cluster",
            "remote_address": "fd20:8b1e:b255:832e::2", "ike": {}}));
        assert_eq!(sa.svm, None);
        assert_eq!(sa.ipsec, None);
        assert_eq!(sa.ike, Some(IkeState::default()));
        assert_eq!(sa.remote_address.as_deref(), Some("fd20:8b1e:b255:832e::2"));
    }

    #[test]
    fn unknown_fields_are_ignored_and_unknown_strings_kept() {
        let sa = decode(
            json!({"uuid": "a", "type": "IKEv3", "future_field": {"x": 1},
            "ipsec": {"state": "Quantum", "offload_bytes": 5}}),
        );
        assert_eq!(
            sa.sa_type,
            Some(SecurityAssociationType::Other("IKEv3".into()))
        );
        assert_eq!(
            sa.ipsec.and_then(|ipsec| ipsec.state).as_deref(),
            Some("Quantum")
        );
    }

    #[test]
    fn type_matches_case_insensitively() {
        assert_eq!(
            SecurityAssociationType::from("IPSEC"),
            SecurityAssociationType::Ipsec
        );
        assert_eq!(
            SecurityAssociationType::from("Ike"),
            SecurityAssociationType::Ike
        );
    }

    #[test]
    fn counters_accept_numbers_and_numeric_strings_but_not_words() {
        let sa = decode(json!({"uuid": "a", "ipsec": {"inbound": {"bytes": "12", "packets": 3}}}));
        let inbound = sa.ipsec.and_then(|ipsec| ipsec.inbound).expect("inbound");
        assert_eq!((inbound.bytes, inbound.packets), (Some(12), Some(3)));
        let huge = decode(json!({"uuid": "b", "ipsec": {"inbound": {"bytes": u64::MAX}}}));
        assert_eq!(
            huge.ipsec.and_then(|i| i.inbound).and_then(|d| d.bytes),
            Some(u64::MAX)
        );
        let bad: Result<SecurityAssociation, _> =
            serde_json::from_value(json!({"uuid": "a", "lifetime": "forever"}));
        assert!(bad.is_err());
    }

    #[test]
    fn release_is_built_from_numeric_parts() {
        let version = ClusterVersion {
            full: Some("NetApp Release 9.12.1: Tue Jan 31 19:19:43 UTC 2023".into()),
            generation: Some(9),
            major: Some(12),
            minor: Some(1),
        };
        assert_eq!(version.release().as_deref(), Some("9.12.1"));
        assert!(!version.lacks_security_association_endpoint());
        let old = ClusterVersion {
            generation: Some(9),
            major: Some(7),
            ..version
        };
        assert!(old.lacks_security_association_endpoint());
    }
}
