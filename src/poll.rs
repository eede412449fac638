//! The `poll` command's report: one row per SA with its health, rendered as a table, JSON or YAML.

use std::fmt::Write as _;

use serde::Serialize;

use crate::crd::ConditionStatus;
use crate::crd::Network;
use crate::ontap::SecurityAssociation;
use crate::ontap::health;

/// One SA as `poll` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRow {
    /// `data` or `cluster`: the ONTAP network the SA protects.
    pub network: &'static str,
    pub uuid: String,
    #[serde(rename = "type")]
    pub sa_type: String,
    pub node: String,
    pub svm: String,
    pub policy: String,
    pub local_address: String,
    pub remote_address: String,
    pub state: String,
    /// `True`, `False` or `Unknown`: the SA's `Ready` condition.
    pub healthy: &'static str,
    pub reason: String,
    pub message: String,
}

impl PollRow {
    #[must_use]
    pub fn from_security_association(network: Network, sa: &SecurityAssociation) -> Self {
        let verdict = health::ready(sa);
        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
        Self {
            network: network.as_str(),
            uuid: sa.uuid.clone(),
            sa_type: text(
                sa.sa_type
                    .as_ref()
                    .map(super::ontap::model::SecurityAssociationType::as_str),
            ),
            node: text(sa.node.as_ref().and_then(|n| n.name.as_deref())),
            svm: text(sa.svm.as_ref().and_then(|s| s.name.as_deref())),
            policy: text(sa.policy_name.as_deref()),
            local_address: text(sa.local_address.as_deref()),
            remote_address: text(sa.remote_address.as_deref()),
            state: text(health::applicable_state(sa)),
            healthy: verdict.status.as_str(),
            reason: verdict.reason,
            message: verdict.message,
        }
    }

    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.healthy == ConditionStatus::True.as_str()
    }
}

/// Rows for every SA of `network`, in the order ONTAP listed them.
#[must_use]
pub fn rows(network: Network, records: &[SecurityAssociation]) -> Vec<PollRow> {
    records
        .iter()
        .map(|record| PollRow::from_security_association(network, record))
        .collect()
}

/// A column-aligned table like `kubectl get`.
#[must_use]
pub fn render_table(rows: &[PollRow]) -> String {
    const HEADERS: [&str; 9] = [
        "NETWORK", "TYPE", "NODE", "SVM", "POLICY", "LOCAL", "REMOTE", "STATE", "HEALTHY",
    ];
    let cells: Vec<[&str; 9]> = rows
        .iter()
        .map(|row| {
            [
                row.network,
                row.sa_type.as_str(),
                row.node.as_str(),
                or_dash(&row.svm),
                or_dash(&row.policy),
                row.local_address.as_str(),
                row.remote_address.as_str(),
                or_dash(&row.state),
                row.healthy,
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&HEADERS).chain(&cells) {
        let mut text = String::new();
        for (index, (cell, width)) in line.iter().zip(widths).enumerate() {
            if index + 1 == line.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}   ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Pretty JSON array of rows.
pub fn render_json(rows: &[PollRow]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(rows).map(|text| text + "\n")
}

/// YAML list of rows.
pub fn render_yaml(rows: &[PollRow]) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(rows)
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records() -> Vec<SecurityAssociation> {
        serde_json::from_value(json!([
            {"uuid": "1", "type": "ike", "node": {"name": "n1"}, "svm": {"name": "vs0"},
             "policy_name": "p", "local_address": "10.0.0.1", "remote_address": "10.0.0.2",
             "ike": {"state": "established"}},
            {"uuid": "2", "type": "ipsec", "node": {"name": "n1"}, "scope": "cluster",
             "local_address": "fd00::1", "remote_address": "fd00::2",
             "ipsec": {"state": "deleted"}}
        ]))
        .expect("records decode")
    }

    #[test]
    fn table_aligns_columns_and_marks_missing_values() {
        let table = render_table(&rows(Network::Data, &records()));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("NETWORK   TYPE    NODE   SVM   POLICY"),
            "{table}"
        );
        assert!(lines[1].ends_with("established   True"), "{table}");
        assert!(lines[2].contains(" -  "), "{table}");
        assert!(lines[2].ends_with("deleted       False"), "{table}");
    }

    #[test]
    fn json_rows_carry_reason_and_health() {
        let rows = rows(Network::Data, &records());
        assert!(rows[0].is_healthy());
        assert!(!rows[1].is_healthy());
        let value: serde_json::Value =
            serde_json::from_str(&render_json(&rows).expect("serialises")).expect("json");
        assert_eq!(value[1]["reason"], "Deleted");
        assert_eq!(value[1]["remoteAddress"], "fd00::2");
        assert_eq!(value[0]["type"], "ike");
        assert_eq!(value[0]["network"], "data");
    }

    #[test]
    fn yaml_lists_every_row() {
        let yaml = render_yaml(&rows(Network::Data, &records())).expect("serialises");
        assert_eq!(yaml.matches("uuid:").count(), 2, "{yaml}");
    }
}
