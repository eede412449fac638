//! Generates realistic, healthy security-association records of either set: one `ike` and one
//! `ipsec` SA per tunnel.
//!
//! Public NetApp examples settle neither way whether an `ipsec` record carries an `ike` object or
//! an `ike` record an `ipsec` one; generated `ipsec` records carry the tunnel's IKE
//! `authentication`, `version` and `is_initiator`, and `ike` records carry no `ipsec` object.

use serde_json::{Value, json};

use super::record_set::RecordSet;

/// Prefix of generated node names (`cluster1-01`, `cluster1-02`, ...), as ONTAP names nodes.
const NODE_NAME_PREFIX: &str = "cluster1";
const SVM_NAMES: [&str; 2] = ["svm1", "svm2"];
/// Cluster-network policy names: `cluster-network-policy-00001`, ...
const CLUSTER_NETWORK_POLICY_PREFIX: &str = "cluster-network-policy";
/// Seeds cluster-network uuids apart from the data SAs' (`ike`, `ipsec`), so the sets never share one.
const CLUSTER_NETWORK_UUID_LABEL: &str = "cluster-network";
const CIPHER_SUITES: [&str; 3] = ["suite_aescbc", "suiteb_gcm256", "suiteb_gmac256"];
const IKE_LIFETIME_SECONDS: u64 = 86_400;
const IPSEC_LIFETIME_SECONDS: u64 = 28_800;
/// Absurd sizes grow the vector as they go instead of failing one huge allocation up front.
const MAX_PREALLOCATED_RECORDS: usize = 1 << 20;

/// Records for `nodes` nodes with `tunnels_per_node` tunnels each, in generation order.
///
/// Everything is derived from the tunnel index, so the same arguments give the same records.
/// Every fifth tunnel is cluster-scoped (no `svm`), every fourth uses IPv6 addresses.
#[must_use]
pub fn generate(nodes: usize, tunnels_per_node: usize) -> Vec<Value> {
    generate_set(RecordSet::SecurityAssociations, nodes, tunnels_per_node)
}

/// Cluster-network records (ONTAP 9.19's cluster interconnect SAs) for `nodes` nodes with
/// `tunnels_per_node` tunnels each, in generation order.
///
/// Deterministic like [`generate`] and with the same node names and uuids, but with uuids of
/// their own, no `svm` or `scope`, node-to-node addresses in `169.254.0.0/16`, `0x` SPIs and
/// non-zero offload counters.
#[must_use]
pub fn generate_cluster_network(nodes: usize, tunnels_per_node: usize) -> Vec<Value> {
    generate_set(RecordSet::ClusterNetwork, nodes, tunnels_per_node)
}

fn generate_set(set: RecordSet, nodes: usize, tunnels_per_node: usize) -> Vec<Value> {
    let wanted = nodes.saturating_mul(tunnels_per_node).saturating_mul(2);
    let mut records = Vec::with_capacity(wanted.min(MAX_PREALLOCATED_RECORDS));
    for node in 0..nodes {
        for tunnel in 0..tunnels_per_node {
            let index = node.saturating_mul(tunnels_per_node).saturating_add(tunnel);
            let tunnel = match set {
                RecordSet::SecurityAssociations => Tunnel::data(node, tunnel, index),
                RecordSet::ClusterNetwork => Tunnel::cluster_network(node, tunnel, index, nodes),
            };
            records.push(tunnel.ike_record());
            records.push(tunnel.ipsec_record());
        }
    }
    records
}

/// Everything the two SAs of one tunnel share.
struct Tunnel {
    set: RecordSet,
    index: u64,
    node: Value,
    svm: Option<Value>,
    policy_name: String,
    local_address: String,
    remote_address: String,
    cipher_suite: &'static str,
}

impl Tunnel {
    fn data(node: usize, tunnel: usize, index: usize) -> Self {
        let index = index as u64;
        let node_number = node + 1;
        let svm = (index % 5 != 4).then(|| {
            let svm = (index % 2) as usize;
            json!({
                "name": SVM_NAMES[svm],
                "uuid": uuid_from("svm", svm as u64),
            })
        });
        let (local_address, remote_address) = if index % 4 == 3 {
            (
                format!("fd20:8b1e:{node_number:x}::{:x}", tunnel + 1),
                format!("fd20:8b1e:ff::{:x}", index + 1),
            )
        } else {
            (
                format!(
                    "10.{}.{}.{}",
                    node_number % 256,
                    tunnel / 250 % 256,
                    tunnel % 250 + 1
                ),
                format!("192.168.{}.{}", index / 250 % 256, index % 250 + 1),
            )
        };
        let owner = svm
            .as_ref()
            .and_then(|svm| svm["name"].as_str())
            .unwrap_or("cluster");
        Self {
            set: RecordSet::SecurityAssociations,
            index,
            node: node_reference(node),
            policy_name: format!("{owner}_tunnel_{:05}", index + 1),
            svm,
            local_address,
            remote_address,
            cipher_suite: CIPHER_SUITES[(index % 3) as usize],
        }
    }

    /// A tunnel from `node` to another node over the cluster interconnect's link-local LIFs.
    fn cluster_network(node: usize, tunnel: usize, index: usize, nodes: usize) -> Self {
        // Tunnels of one node go round the other nodes (a one-node cluster talks to itself).
        let peer = (node + 1 + tunnel % nodes.saturating_sub(1).max(1)) % nodes;
        let lif = |node: usize| format!("169.254.{}.{}", (node + 1) % 256, tunnel % 250 + 1);
        let index = index as u64;
        Self {
            set: RecordSet::ClusterNetwork,
            index,
            node: node_reference(node),
            svm: None,
            policy_name: format!("{CLUSTER_NETWORK_POLICY_PREFIX}-{:05}", index + 1),
            local_address: lif(node),
            remote_address: lif(peer),
            cipher_suite: CIPHER_SUITES[(index % 3) as usize],
        }
    }

    fn common(&self, kind: &str, lifetime: u64) -> Value {
        let label = match self.set {
            RecordSet::SecurityAssociations => kind.to_owned(),
            RecordSet::ClusterNetwork => format!("{CLUSTER_NETWORK_UUID_LABEL}-{kind}"),
        };
        let mut record = json!({
            "uuid": uuid_from(&label, self.index),
            "type": kind,
            "node": self.node,
            "policy_name": self.policy_name,
            "local_address": self.local_address,
            "remote_address": self.remote_address,
            "cipher_suite": self.cipher_suite,
            "lifetime": lifetime,
        });
        if self.set == RecordSet::SecurityAssociations {
            record["scope"] = json!(if self.svm.is_some() { "svm" } else { "cluster" });
        }
        if let (Some(svm), Some(object)) = (&self.svm, record.as_object_mut()) {
            object.insert("svm".to_owned(), svm.clone());
        }
        record
    }

    /// What the tunnel's IKE negotiation says, shared by both of its SAs.
    fn ike_parameters(&self) -> Value {
        json!({
            "authentication": if self.index % 7 == 6 { "cert" } else { "psk" },
            "version": 2,
            "is_initiator": self.index.is_multiple_of(2),
        })
    }

    fn ike_record(&self) -> Value {
        let mut record = self.common("ike", IKE_LIFETIME_SECONDS);
        let mut ike = self.ike_parameters();
        let prefix = self.set.spi_prefix();
        ike["state"] = json!("established");
        ike["initiator_security_parameter_index"] =
            json!(format!("{prefix}{:016x}", mix(self.index, 1)));
        ike["responder_security_parameter_index"] =
            json!(format!("{prefix}{:016x}", mix(self.index, 2)));
        record["ike"] = ike;
        record
    }

    /// The IPsec SA also carries the tunnel's IKE parameters (no IKE state or SPIs).
    fn ipsec_record(&self) -> Value {
        let mut record = self.common("ipsec", IPSEC_LIFETIME_SECONDS);
        record["ike"] = self.ike_parameters();
        record["ipsec"] = json!({
            "state": "installed",
            "action": "esp_transport",
            "inbound": self.direction(3),
            "outbound": self.direction(4),
        });
        record
    }

    fn direction(&self, salt: u64) -> Value {
        let seed = mix(self.index, salt);
        let packets = 1_000 + seed % 100_000;
        let bytes = packets * (200 + (seed >> 20) % 1_200);
        // Half the cluster interconnect's traffic goes through the NIC; data SAs start without.
        let (offload_bytes, offload_packets) = match self.set {
            RecordSet::SecurityAssociations => (0, 0),
            RecordSet::ClusterNetwork => (bytes / 2, packets / 2),
        };
        json!({
            "security_parameter_index": format!("{}{:08x}", self.set.spi_prefix(), seed >> 32),
            "bytes": bytes,
            "packets": packets,
            "offload_bytes": offload_bytes,
            "offload_packets": offload_packets,
        })
    }
}

/// The `node` object of node number `node` (0-based), the same in both sets.
fn node_reference(node: usize) -> Value {
    json!({
        "name": format!("{NODE_NAME_PREFIX}-{:02}", node + 1),
        "uuid": uuid_from("node", node as u64),
    })
}

/// A version-4-shaped UUID derived from a label and an index.
#[must_use]
pub fn uuid_from(label: &str, index: u64) -> String {
    let salt = label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let high = mix(index, salt);
    let low = mix(index, salt.rotate_left(17) ^ 0x5bd1_e995);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        8 + (low >> 62),
        (low >> 48) & 0xfff,
        low & 0xffff_ffff_ffff
    )
}

/// splitmix64 over an index and a salt: cheap, deterministic, well spread.
#[must_use]
pub fn mix(index: u64, salt: u64) -> u64 {
    let mut value = index
        .wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_tunnel_has_one_ike_and_one_ipsec_sa() {
        let records = generate(2, 3);
        assert_eq!(records.len(), 12);
        let ike = records.iter().filter(|r| r["type"] == "ike").count();
        assert_eq!(ike, 6);
    }

    #[test]
    fn uuids_are_distinct_and_well_formed() {
        let records = generate(4, 500);
        let uuids: HashSet<_> = records.iter().map(|r| r["uuid"].to_string()).collect();
        assert_eq!(uuids.len(), records.len());
        for record in &records {
            let uuid = record["uuid"].as_str().expect("uuid is a string");
            assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{uuid}");
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(generate(2, 5), generate(2, 5));
    }

    #[test]
    fn records_are_healthy_and_varied() {
        let records = generate(2, 10);
        assert!(
            records
                .iter()
                .all(|r| r["ike"]["state"] == "established" || r["ipsec"]["state"] == "installed")
        );
        assert!(
            records
                .iter()
                .any(|r| r["scope"] == "cluster" && r.get("svm").is_none())
        );
        assert!(
            records
                .iter()
                .any(|r| r["scope"] == "svm" && r["svm"]["name"].is_string())
        );
        assert!(records.iter().any(|r| {
            r["remote_address"]
                .as_str()
                .is_some_and(|a| a.contains(':'))
        }));
        assert!(records.iter().any(|r| {
            r["remote_address"]
                .as_str()
                .is_some_and(|a| a.contains('.'))
        }));
        assert_eq!(records[0]["node"]["name"], "cluster1-01");
        assert_eq!(records[records.len() - 1]["node"]["name"], "cluster1-02");
    }

    #[test]
    fn spis_have_cli_widths() {
        let records = generate(1, 2);
        let ike = &records[0]["ike"];
        assert_eq!(
            ike["initiator_security_parameter_index"]
                .as_str()
                .map(str::len),
            Some(16)
        );
        let ipsec = &records[1]["ipsec"];
        assert_eq!(
            ipsec["inbound"]["security_parameter_index"]
                .as_str()
                .map(str::len),
            Some(8)
        );
    }

    #[test]
    fn ipsec_records_carry_the_tunnel_ike_parameters_only() {
        let records = generate(1, 7);
        for pair in records.chunks(2) {
            let (ike, ipsec) = (&pair[0], &pair[1]);
            for field in ["authentication", "version", "is_initiator"] {
                assert_eq!(ipsec["ike"][field], ike["ike"][field], "{field}");
            }
            assert!(ipsec["ike"].get("state").is_none());
            assert!(
                ipsec["ike"]
                    .get("initiator_security_parameter_index")
                    .is_none()
            );
            assert!(ike.get("ipsec").is_none());
        }
        assert!(
            records
                .iter()
                .any(|r| r["type"] == "ipsec" && r["ike"]["authentication"] == "cert")
        );
    }

    #[test]
    fn cluster_network_records_have_own_uuids_no_svm_and_0x_spis() {
        let data: HashSet<_> = generate(4, 500)
            .iter()
            .map(|r| r["uuid"].to_string())
            .collect();
        let records = generate_cluster_network(4, 500);
        let uuids: HashSet<_> = records.iter().map(|r| r["uuid"].to_string()).collect();
        assert_eq!(uuids.len(), records.len());
        assert!(uuids.is_disjoint(&data));
        assert_eq!(
            generate_cluster_network(2, 3),
            generate_cluster_network(2, 3)
        );
        for record in &records {
            assert!(record.get("svm").is_none() && record.get("scope").is_none());
            assert!(
                record["local_address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("169.254."))
            );
            assert_ne!(record["local_address"], record["remote_address"]);
        }
        let (ike, ipsec) = (&records[0], &records[1]);
        assert_eq!(
            ike["ike"]["initiator_security_parameter_index"]
                .as_str()
                .map(|spi| (spi.starts_with("0x"), spi.len())),
            Some((true, 18))
        );
        assert_eq!(
            ipsec["ipsec"]["outbound"]["security_parameter_index"]
                .as_str()
                .map(|spi| (spi.starts_with("0x"), spi.len())),
            Some((true, 10))
        );
        assert!(ipsec["ipsec"]["inbound"]["offload_bytes"].as_u64() > Some(0));
        assert_eq!(ike["node"], generate(1, 1)[0]["node"]);
    }
}
