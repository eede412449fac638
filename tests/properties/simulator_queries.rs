//! The simulator's query handling: any query string, instance key or control body gets an
//! answer, never a panic and never a 5xx; refusals carry a well-formed error body.
//!
//! Requests go straight into `ontap_sim::router` with `tower::ServiceExt::oneshot`, so a panic in a
//! handler fails the test instead of being swallowed by a server task.

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use http::{Method, Request, StatusCode};
use ontap_sim::{SimulatorConfig, SimulatorState};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;
use tower::ServiceExt as _;
use url::form_urlencoded::byte_serialize;

use crate::strategies;

const COLLECTION: &str = "/api/security/ipsec/security-associations";
const CONTROL_RECORDS: &str = "/_sim/security-associations";
const CONTROL_FAULTS: &str = "/_sim/faults";
/// Responses are small; this only bounds a runaway body.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Object paths and near misses, beside the simulator's own leaf fields (which include offload
/// fields the default release lacks).
const NOT_LEAVES: &[&str] = &["node", "ipsec.inbound", "records", "nod.name", ""];

/// Operands that match generated records, and some that cannot.
fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "ike", "ipsec", "IKE", "established", "installed", "connecting", "svm1", "svm2",
            "cluster1-01", "cluster1-0*", "*01", "10.1.0.1", "fd20:8b1e:1::1", "suite_aescbc",
            "0", "1", "2", "500", "86400", "28800", "-3", "18446744073709551616", "1e3", "true",
            "false", "null", "cluster", "psk", "*",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,10}",
    ]
}

/// A filter value: an optional operator, one or more operands joined by `|` or `..`.
fn filter_value() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "", "", "!", "<", ">", "<=", ">=", "!null", "null"]),
        prop::collection::vec(operand(), 1..3),
        prop::sample::select(vec!["|", "|", "..", ","]),
    )
        .prop_map(|(prefix, operands, separator)| {
            if prefix.ends_with("null") {
                prefix.to_owned()
            } else {
                format!("{prefix}{}", operands.join(separator))
            }
        })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(
            ontap_sim::security_association_fields()
                .into_iter()
                .chain(NOT_LEAVES.iter().copied())
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_owned),
        1 => Just("*".to_owned()),
        1 => Just("**".to_owned()),
        1 => "[a-z_.]{0,10}",
    ]
}

/// One `key=value` pair, unencoded.
fn pair() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        6 => (field(), filter_value()),
        2 => prop::collection::vec(field(), 1..4)
            .prop_map(|fields| ("fields".to_owned(), fields.join(","))),
        2 => prop::collection::vec(
            (field(), prop::sample::select(vec!["", " asc", " desc", "+desc", " sideways"])),
            1..3,
        )
        .prop_map(|keys| {
            let keys: Vec<String> = keys.into_iter().map(|(field, way)| format!("{field}{way}")).collect();
            ("order_by".to_owned(), keys.join(","))
        }),
        2 => prop_oneof![(0u32..8).prop_map(|n| n.to_string()), "[0-9a-z-]{0,6}"]
            .prop_map(|value| ("max_records".to_owned(), value)),
        1 => prop_oneof![Just("true".to_owned()), Just("false".to_owned()), "[a-z]{0,5}"]
            .prop_map(|value| ("return_records".to_owned(), value)),
        1 => prop_oneof![(0u32..130).prop_map(|n| n.to_string()), "[0-9a-z-]{0,6}"]
            .prop_map(|value| ("return_timeout".to_owned(), value)),
        1 => prop_oneof![
            Just("00000000-0000-4000-8000-000000000000".to_owned()),
            Just("not-a-uuid".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(|value| ("start.uuid".to_owned(), value)),
        1 => ("start\\.[a-z]{0,6}|[a-z_.]{0,8}", "\\PC{0,8}"),
    ]
}

/// A query string: pairs each encoded properly or raw enough to carry stray `%`, `+` and `=`,
/// or a short run of query characters.
fn query() -> impl Strategy<Value = String> {
    let encoded_pair = (pair(), any::<bool>()).prop_map(|((key, value), encode)| {
        if encode {
            let key: String = byte_serialize(key.as_bytes()).collect();
            let value: String = byte_serialize(value.as_bytes()).collect();
            format!("{key}={value}")
        } else {
            format!("{}={}", raw(&key), raw(&value))
        }
    });
    prop_oneof![
        6 => prop::collection::vec(encoded_pair, 0..5).prop_map(|pairs| pairs.join("&")),
        1 => "[a-zA-Z0-9%&=+._*!<>|,-]{0,40}".prop_map(|query| raw(&query)),
    ]
}

/// Keeps the characters a URI query may hold as they are and percent-encodes the rest, so
/// `%`, `+`, `=` and `&` reach the simulator's parser unencoded.
fn raw(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn authorization() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        ontap_sim::DEFAULT_USERNAME,
        ontap_sim::DEFAULT_PASSWORD
    ));
    format!("Basic {token}")
}

/// A router over a handful of generated records, plus one odd fixture record.
fn simulator() -> (Router, SimulatorState) {
    let mut records = ontap_sim::generate(2, 3);
    records.push(serde_json::json!({
        "uuid": "not-a-uuid",
        "type": "IKEv3",
        "lifetime": "12",
        "ike": {"version": "2", "state": null},
        "ipsec": [],
    }));
    let config = SimulatorConfig {
        records,
        ..SimulatorConfig::default()
    };
    let state = SimulatorState::new(config.records.clone()).expect("valid records");
    (ontap_sim::router(&config, state.clone()), state)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends one request and returns its status and body.
async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::AUTHORIZATION, authorization())
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("a valid request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
        .await
        .expect("the body is readable");
    (status, body.to_vec())
}

/// ONTAP's error body: `{"error": {"message": "...", "code": "..."}}` with string fields.
fn is_ontap_error(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|value| {
        value["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty())
            && value["error"]["code"].is_string()
    })
}

/// Checks one `/api/` answer; returns the next link of a successful collection page.
fn check_api_answer(
    uri: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<Option<String>, TestCaseError> {
    prop_assert!(
        status.as_u16() < 500,
        "{uri}: {status} {}",
        String::from_utf8_lossy(body)
    );
    if !status.is_success() {
        prop_assert!(
            is_ontap_error(body),
            "{uri}: {status} without an ONTAP error body: {}",
            String::from_utf8_lossy(body)
        );
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        TestCaseError::fail(format!("{uri}: 200 with a body that is not JSON: {error}"))
    })?;
    prop_assert!(value.is_object(), "{uri}: {value}");
    Ok(value["_links"]["next"]["href"].as_str().map(str::to_owned))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 384,
        // Next to this file, in tests/properties/regressions/.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_collection_query_is_answered_below_500_with_json_or_an_ontap_error(query in query()) {
        let (router, _state) = simulator();
        runtime().block_on(async {
            let uri = format!("{COLLECTION}?{query}");
            let (status, body) = send(&router, Method::GET, &uri, None).await;
            if let Some(next) = check_api_answer(&uri, status, &body)? {
                // The next link the simulator wrote must be one it accepts.
                let (status, body) = send(&router, Method::GET, &next, None).await;
                check_api_answer(&next, status, &body)?;
                prop_assert!(status.is_success(), "its own next link {next} was refused: {status}");
            }
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn any_instance_key_is_answered_below_500_with_json_or_an_ontap_error(
        key in prop_oneof![Just("not-a-uuid".to_owned()), "\\PC{0,40}"],
        query in query(),
    ) {
        let (router, _state) = simulator();
        runtime().block_on(async {
            let encoded: String = byte_serialize(key.as_bytes()).collect();
            let uri = format!("{COLLECTION}/{encoded}?{query}");
            let (status, body) = send(&router, Method::GET, &uri, None).await;
            check_api_answer(&uri, status, &body)?;
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn any_control_body_is_accepted_or_refused_without_a_server_error(
        body in strategies::json(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        target in 0usize..4,
    ) {
        let (router, state) = simulator();
        let uuid = state.records().first().and_then(|record| record["uuid"].as_str().map(str::to_owned))
            .expect("a record");
        let (method, uri) = match target {
            0 => (Method::POST, CONTROL_FAULTS.to_owned()),
            1 => (Method::PUT, CONTROL_RECORDS.to_owned()),
            2 => (Method::POST, CONTROL_RECORDS.to_owned()),
            _ => (Method::PATCH, format!("{CONTROL_RECORDS}/{uuid}")),
        };
        runtime().block_on(async {
            for payload in [serde_json::to_vec(&body).expect("serialisable"), bytes.clone()] {
                let (status, answer) = send(&router, method.clone(), &uri, Some(payload)).await;
                prop_assert!(status.as_u16() < 500, "{method} {uri}: {status} {}", String::from_utf8_lossy(&answer));
                // An accepted fault would shape the next answer on purpose; records stay.
                state.clear_faults();
                // Whatever records the control API accepted, the served API still answers.
                let (status, answer) = send(&router, Method::GET, &format!("{COLLECTION}?fields=**&max_records=3"), None).await;
                check_api_answer(COLLECTION, status, &answer)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
