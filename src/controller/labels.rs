//! Object names and label values derived from ONTAP data, made valid for the API server.

/// Longest label value the API server accepts.
const MAX_LABEL_VALUE: usize = 63;
/// Longest name of a custom resource (a DNS subdomain).
const MAX_NAME: usize = 253;

/// A label value from arbitrary text: characters outside `[A-Za-z0-9._-]` become `-` (so IPv6
/// colons do), the value starts and ends alphanumeric, and it is cut to 63 characters.
#[must_use]
pub fn label_value(text: &str) -> String {
    let replaced: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = trim_to_alphanumeric(&replaced);
    let cut: String = trimmed.chars().take(MAX_LABEL_VALUE).collect();
    trim_to_alphanumeric(&cut).to_owned()
}

/// `<cluster>-<uuid>`, lower-cased; the cluster part is shortened if the whole would be too long.
#[must_use]
pub fn security_association_name(cluster: &str, uuid: &str) -> String {
    let uuid = dns_label_text(uuid);
    let room = MAX_NAME.saturating_sub(uuid.len() + 1);
    let cluster: String = cluster.chars().take(room).collect();
    format!("{}-{uuid}", cluster.trim_end_matches(['-', '.']))
}

fn dns_label_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

fn trim_to_alphanumeric(text: &str) -> &str {
    text.trim_matches(|c: char| !c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_colons_become_dashes() {
        assert_eq!(
            label_value("fd20:8b1e:b255:832e::2"),
            "fd20-8b1e-b255-832e--2"
        );
        assert_eq!(label_value("::1"), "1");
    }

    #[test]
    fn label_values_are_cut_to_63_and_end_alphanumeric() {
        let long = format!("{}-x", "a".repeat(62));
        let value = label_value(&long);
        assert_eq!(value, "a".repeat(62));
        assert_eq!(label_value("vs0 (primary)"), "vs0--primary");
        assert_eq!(label_value(""), "");
    }

    #[test]
    fn names_join_cluster_and_uuid_within_limits() {
        assert_eq!(
            security_association_name("prod", "6B2F1D1E-0000-11EE-8C0A-005056BB1234"),
            "prod-6b2f1d1e-0000-11ee-8c0a-005056bb1234"
        );
        let long = "c".repeat(300);
        assert!(security_association_name(&long, "abc").len() <= 253);
    }
}
