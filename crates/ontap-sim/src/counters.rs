//! Traffic counters of installed `ipsec` SAs, which grow by a per-SA amount on every read.

use serde_json::Value;

use super::generate::mix;

const INSTALLED: &str = "installed";
const IPSEC_TYPE: &str = "ipsec";
const DIRECTIONS: [(&str, u64); 2] = [("inbound", 11), ("outbound", 13)];

/// True for an `ipsec` SA whose state is `installed` (any case), the only kind whose counters move.
#[must_use]
pub fn is_installed_ipsec(record: &Value) -> bool {
    record["type"].as_str() == Some(IPSEC_TYPE)
        && record["ipsec"]["state"]
            .as_str()
            .is_some_and(|state| state.eq_ignore_ascii_case(INSTALLED))
}

/// Adds `reads` reads' worth of traffic to the record's `ipsec.inbound`/`outbound` counters.
///
/// Each SA moves at its own steady rate (derived from its uuid), like a real tunnel would.
pub fn advance(record: &mut Value, reads: u64) {
    if reads == 0 || !is_installed_ipsec(record) {
        return;
    }
    let seed = record["uuid"].as_str().map_or(0, |uuid| {
        uuid.bytes()
            .fold(0_u64, |hash, byte| mix(hash, u64::from(byte)))
    });
    for (direction, salt) in DIRECTIONS {
        let Some(counters) = record
            .get_mut("ipsec")
            .and_then(|ipsec| ipsec.get_mut(direction))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let rate = mix(seed, salt);
        let packets_per_read = 1 + rate % 8;
        let bytes_per_packet = 64 + (rate >> 8) % 1_400;
        let packets = packets_per_read.saturating_mul(reads);
        for (name, added) in [
            ("packets", packets),
            ("bytes", packets.saturating_mul(bytes_per_packet)),
        ] {
            let current = counters.get(name).and_then(Value::as_u64).unwrap_or(0);
            counters.insert(name.to_owned(), Value::from(current.saturating_add(added)));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn installed_ipsec_counters_grow() {
        let mut record = json!({
            "uuid": "u1", "type": "ipsec",
            "ipsec": {"state": "INSTALLED", "inbound": {"bytes": 10, "packets": 1}, "outbound": {}}
        });
        advance(&mut record, 3);
        assert!(record["ipsec"]["inbound"]["packets"].as_u64() >= Some(4));
        assert!(record["ipsec"]["inbound"]["bytes"].as_u64() > Some(10));
        assert!(record["ipsec"]["outbound"]["packets"].as_u64() >= Some(3));
    }

    #[test]
    fn other_records_do_not_move() {
        let ike = json!({"uuid": "u1", "type": "ike", "ike": {"state": "established"}});
        let down = json!({
            "uuid": "u2", "type": "ipsec",
            "ipsec": {"state": "none", "inbound": {"bytes": 10, "packets": 1}}
        });
        for original in [ike, down] {
            let mut record = original.clone();
            advance(&mut record, 5);
            assert_eq!(record, original);
        }
    }
}
