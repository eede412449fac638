//! Generators of ONTAP-flavoured JSON: arbitrary values whose object keys are mostly ONTAP's own
//! field names, so that generated documents reach deep into the record decoder.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Keys from ONTAP's security-association records, collection pages and error bodies.
pub const ONTAP_KEYS: &[&str] = &[
    "uuid",
    "type",
    "node",
    "svm",
    "name",
    "scope",
    "policy_name",
    "local_address",
    "remote_address",
    "cipher_suite",
    "lifetime",
    "ike",
    "ipsec",
    "state",
    "version",
    "authentication",
    "is_initiator",
    "initiator_security_parameter_index",
    "responder_security_parameter_index",
    "action",
    "inbound",
    "outbound",
    "security_parameter_index",
    "bytes",
    "packets",
    "offload_bytes",
    "records",
    "num_records",
    "_links",
    "next",
    "href",
    "error",
    "message",
    "code",
    "target",
];

/// Strings ONTAP fields plausibly hold, and some they should not.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::sample::select(vec![
            "ike",
            "ipsec",
            "IPSEC",
            "established",
            "Connecting",
            "dead_peer_probe",
            "installed",
            "none",
            "cluster",
            "svm",
            "0x",
            "0xDEADBEEF",
            "a1b2c3d4e5f60718",
            "-1",
            "18446744073709551616",
            "1e3",
            " 42 ",
            "/api/security/ipsec/security-associations?start.uuid=x",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,24}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|float| Number::from_f64(float).map_or(Value::Null, Value::Number)),
        (0u64..10).prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(ONTAP_KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

/// Any JSON value up to a few levels deep, its objects keyed mostly by ONTAP's field names.
pub fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A value that is usually of the type ONTAP sends for that place, and sometimes anything.
fn usually(typical: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![40 => typical, 1 => json()].boxed()
}

fn state_text() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        "established",
        "ESTABLISHED",
        "connecting",
        "dead_peer_probe",
        "none",
        "installed",
        "Installed",
        "rekeying",
        "",
    ])
    .prop_map(Value::from)
}

fn counter() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0..=i64::MAX.unsigned_abs()).prop_map(Value::from),
        2 => (0u64..1_000_000).prop_map(|n| Value::from(n.to_string())),
        1 => Just(Value::Null),
    ]
}

fn spi() -> impl Strategy<Value = Value> {
    prop_oneof![
        "(0x|0X)?[0-9a-fA-F]{1,16}".prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        prop::sample::select(vec!["", "0x", "-1", "zz"]).prop_map(Value::from),
    ]
}

fn reference() -> impl Strategy<Value = Value> {
    (text(), text()).prop_map(|(name, uuid)| serde_json::json!({"name": name, "uuid": uuid}))
}

fn direction() -> impl Strategy<Value = Value> {
    (usually(spi()), usually(counter()), usually(counter())).prop_map(|(spi, bytes, packets)| {
        serde_json::json!({"security_parameter_index": spi, "bytes": bytes, "packets": packets})
    })
}

fn ike() -> impl Strategy<Value = Value> {
    (
        usually(state_text()),
        usually(prop_oneof![
            Just(Value::from(2)),
            Just(Value::from("2")),
            Just(Value::from(1))
        ]),
        usually(spi()),
        usually(any::<bool>().prop_map(Value::Bool)),
    )
        .prop_map(|(state, version, spi, initiator)| {
            serde_json::json!({"state": state, "version": version,
                "initiator_security_parameter_index": spi, "is_initiator": initiator})
        })
}

fn ipsec() -> impl Strategy<Value = Value> {
    (
        usually(state_text()),
        usually(direction()),
        usually(direction()),
    )
        .prop_map(|(state, inbound, outbound)| {
            serde_json::json!({"state": state, "action": "esp_transport",
                "inbound": inbound, "outbound": outbound})
        })
}

/// A record the simulator stores: a string `uuid`, ONTAP's fields mostly of the right type and
/// sometimes not, each present or absent.
pub fn record(index: usize) -> impl Strategy<Value = Value> {
    let fields = (
        prop::option::of(usually(
            prop::sample::select(vec!["ike", "ipsec", "IKE", "esp"]).prop_map(Value::from),
        )),
        prop::option::of(usually(reference())),
        prop::option::of(usually(reference())),
        prop::option::of(usually(counter())),
        prop::option::of(usually(text().prop_map(Value::from))),
        prop::option::of(usually(ike())),
        prop::option::of(usually(ipsec())),
        prop::collection::vec((key(), json()), 0..2),
    );
    fields.prop_map(
        move |(sa_type, node, svm, lifetime, remote, ike, ipsec, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            for (name, value) in [
                ("type", sa_type),
                ("node", node),
                ("svm", svm),
                ("lifetime", lifetime),
                ("remote_address", remote),
                ("ike", ike),
                ("ipsec", ipsec),
            ] {
                if let Some(value) = value {
                    object.insert(name.to_owned(), value);
                }
            }
            object.insert(
                "uuid".into(),
                Value::String(format!("00000000-0000-4000-8000-{index:012x}")),
            );
            Value::Object(object)
        },
    )
}
