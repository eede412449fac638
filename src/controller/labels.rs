//! Object names and label values derived from ONTAP data, made valid for the API server.

/// Longest label value the API server accepts.
const MAX_LABEL_VALUE: usize = 63;
/// Longest name of a custom resource (a DNS subdomain).
const MAX_NAME: usize = 253;

/// A label value from arbitrary text: characters outside `[A-Za-z0-9._-]` become `-` (so IPv6
/// colons do), the value starts and ends alphanumeric, and it is cut to 63 characters.
#[must_use]
pub fn label_value(text: &str) -> String {
    // Most values (node, SVM and policy names, IPv4 addresses) are valid as they are.
    if text.len() <= MAX_LABEL_VALUE
        && text.bytes().all(is_label_byte)
        && trim_to_alphanumeric(text).len() == text.len()
    {
        return text.to_owned();
    }
    let replaced: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && is_label_byte(c as u8) {
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

fn is_label_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')
}

/// Hex digits of the hash that ends a name too long to keep whole.
const HASH_SUFFIX_DIGITS: usize = 16;

/// `<cluster>-<infix><uuid>`, lower-cased, with every character of the uuid outside `[a-z0-9]` turned
/// into `-`. A name that would be longer than 253 characters is cut and ends in a hash of the
/// whole, so it stays unique and stable. `None` when the uuid has no letter or digit at all.
#[must_use]
pub fn security_association_name(cluster: &str, infix: &str, uuid: &str) -> Option<String> {
    let uuid = dns_label_text(uuid);
    if uuid.is_empty() {
        return None;
    }
    let whole = format!("{cluster}-{infix}{uuid}");
    if whole.len() <= MAX_NAME {
        return Some(whole);
    }
    let keep = MAX_NAME - HASH_SUFFIX_DIGITS - 1;
    let prefix = whole[..keep].trim_end_matches(['-', '.']);
    Some(format!(
        "{prefix}-{:0width$x}",
        stable_hash(&whole),
        width = HASH_SUFFIX_DIGITS
    ))
}

/// FNV-1a: the same on every run and every build, unlike the standard library's hasher.
#[must_use]
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
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
            security_association_name("prod", "", "6B2F1D1E-0000-11EE-8C0A-005056BB1234")
                .as_deref(),
            Some("prod-6b2f1d1e-0000-11ee-8c0a-005056bb1234")
        );
    }

    #[test]
    fn over_long_names_end_in_a_stable_hash_of_the_whole() {
        let long_uuid = "ab".repeat(200);
        let first = security_association_name("prod", "", &long_uuid).expect("a name");
        assert_eq!(first.len(), 253, "{first}");
        assert_eq!(
            security_association_name("prod", "", &long_uuid),
            Some(first.clone()),
            "stable"
        );
        let other =
            security_association_name("prod", "", &format!("{long_uuid}c")).expect("a name");
        assert_ne!(
            first, other,
            "names differing only past the cut stay distinct"
        );
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        let long_cluster = "c".repeat(250);
        let name = security_association_name(&long_cluster, "", "abc").expect("a name");
        assert!(name.len() <= 253 && name.starts_with("ccc"), "{name}");
    }

    #[test]
    fn a_uuid_without_letters_or_digits_gives_no_name() {
        assert_eq!(security_association_name("prod", "", ""), None);
        assert_eq!(security_association_name("prod", "", "::--"), None);
    }
}
