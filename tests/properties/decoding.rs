//! The ONTAP record and page decoding: any bytes and any JSON give a record or a decode error,
//! never a panic; whatever decodes can be judged by the health rules and survives a round trip.

use ontap_ipsec_operator::ontap::SecurityAssociation;
use ontap_ipsec_operator::ontap::health;
use ontap_ipsec_operator::ontap::model::ClusterIdentity;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::strategies;

/// A collection page as the client reads it: records plus the next link.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    records: Vec<SecurityAssociation>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
}

#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

/// Decodes like the client does: with the JSON path of any failure, and nothing after the value.
fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| format!("{}: {}", error.path(), error.inner()))?;
    deserializer.end().map_err(|error| error.to_string())?;
    Ok(value)
}

/// Judges every record, as the controller and `poll` do.
fn judge(records: &[SecurityAssociation]) {
    for record in records {
        let ready = health::ready(record);
        assert!(!ready.reason.is_empty(), "a verdict always has a reason");
        let _ = health::ike_established(record);
        let _ = health::ipsec_installed(record);
        let _ = health::applicable_state(record);
    }
}

/// A real first page of generated records, as the simulator renders it.
fn real_page() -> Vec<u8> {
    let records = ontap_sim::generate(1, 3);
    serde_json::to_vec(&json!({
        "records": records,
        "num_records": records.len(),
        "_links": {
            "self": {"href": "/api/security/ipsec/security-associations?max_records=6"},
            "next": {"href": "/api/security/ipsec/security-associations?start.uuid=x&max_records=6"}
        }
    }))
    .expect("serialisable")
}

/// Ways to damage a page: cut it short, overwrite one byte, or insert one.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    Overwrite(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        prop_oneof![
            any::<prop::sample::Index>().prop_map(Damage::Truncate),
            (any::<prop::sample::Index>(), any::<u8>())
                .prop_map(|(at, byte)| Damage::Overwrite(at, byte)),
            (any::<prop::sample::Index>(), any::<u8>())
                .prop_map(|(at, byte)| Damage::Insert(at, byte)),
        ],
        1..4,
    )
}

fn apply(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for damage in damages {
        if bytes.is_empty() {
            break;
        }
        match damage {
            Damage::Truncate(at) => bytes.truncate(at.index(bytes.len())),
            Damage::Overwrite(at, byte) => {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            Damage::Insert(at, byte) => {
                let at = at.index(bytes.len());
                bytes.insert(at, *byte);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Next to this file, in tests/properties/regressions/.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_decode_or_fail_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(page) = decode::<Page>(&bytes) {
            judge(&page.records);
        }
        if let Ok(record) = decode::<SecurityAssociation>(&bytes) {
            judge(&[record]);
        }
        let _ = decode::<ClusterIdentity>(&bytes);
    }

    #[test]
    fn damaged_ontap_pages_decode_or_fail_without_panicking(damages in damage()) {
        let original = real_page();
        let damaged = apply(original.clone(), &damages);
        match decode::<Page>(&damaged) {
            Ok(page) => {
                judge(&page.records);
                prop_assert!(page.records.len() <= 6, "at most the records that were there");
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn arbitrary_json_records_decode_or_name_the_failing_path(value in strategies::json()) {
        let bytes = serde_json::to_vec(&value).expect("serialisable");
        match decode::<SecurityAssociation>(&bytes) {
            Ok(record) => {
                judge(std::slice::from_ref(&record));
                // Whatever decodes is kept in a form that decodes to the same record again.
                let again: SecurityAssociation = serde_json::from_value(
                    serde_json::to_value(&record).expect("serialisable"),
                ).expect("a decoded record decodes again");
                prop_assert_eq!(again, record);
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn pages_of_arbitrary_records_decode_whole_or_not_at_all(
        records in prop::collection::vec(strategies::json(), 0..6),
        next in proptest::option::of(strategies::json()),
    ) {
        let mut page = json!({"records": records, "num_records": records.len()});
        if let Some(next) = next {
            page["_links"] = json!({"next": next});
        }
        let bytes = serde_json::to_vec(&page).expect("serialisable");
        if let Ok(decoded) = decode::<Page>(&bytes) {
            prop_assert_eq!(decoded.records.len(), records.len());
            judge(&decoded.records);
            // serde also reads a struct from an array, so only an object's `href` is compared.
            let sent = page["_links"]["next"].as_object().and_then(|next| next.get("href"));
            if let (Some(href), Some(sent)) =
                (decoded.links.and_then(|links| links.next).map(|next| next.href), sent)
            {
                prop_assert_eq!(&Value::String(href), sent);
            }
        }
    }
}
