//! Reads `kubectl auth can-i --list` into comparable permissions.

use std::collections::BTreeSet;

use crate::support::k8s;

/// One allowed verb: `(resource, resource names, verb)`, or `(non-resource URL, "", verb)`.
pub type Permission = (String, String, String);

const HEADER_NON_RESOURCE: &str = "Non-Resource URLs";
const HEADER_RESOURCE_NAMES: &str = "Resource Names";
const HEADER_VERBS: &str = "Verbs";

/// What `user` may do in `namespace`, as `kubectl auth can-i --list --as=<user>` prints it.
pub fn permissions(user: &str, namespace: &str) -> BTreeSet<Permission> {
    let output = k8s::kubectl([
        "auth",
        "can-i",
        "--list",
        &format!("--as={user}"),
        "--namespace",
        namespace,
    ]);
    assert!(
        output.status.success(),
        "can-i --list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// What `user` may do beyond what every ServiceAccount may do (discovery, self reviews, ...):
/// `baseline_user` is a ServiceAccount with no bindings of its own.
pub fn granted(user: &str, baseline_user: &str, namespace: &str) -> BTreeSet<Permission> {
    let baseline = permissions(baseline_user, namespace);
    permissions(user, namespace)
        .difference(&baseline)
        .cloned()
        .collect()
}

/// Builds the expected set from `(resource, resource names, verbs)` rows.
pub fn expected(rows: &[(&str, &str, &[&str])]) -> BTreeSet<Permission> {
    rows.iter()
        .flat_map(|(resource, names, verbs)| {
            verbs.iter().map(|verb| {
                (
                    (*resource).to_owned(),
                    (*names).to_owned(),
                    (*verb).to_owned(),
                )
            })
        })
        .collect()
}

/// Parses the table by the header's column offsets (the first column is blank on non-resource
/// rows, so splitting on whitespace would shift them).
fn parse(table: &str) -> BTreeSet<Permission> {
    let mut lines = table.lines();
    let header = lines.next().expect("can-i prints a header");
    let column = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("no {name:?} column in {header:?}"))
    };
    let (non_resource, names, verbs) = (
        column(HEADER_NON_RESOURCE),
        column(HEADER_RESOURCE_NAMES),
        column(HEADER_VERBS),
    );
    let cell = |line: &str, from: usize, to: usize| {
        line.get(from..to.min(line.len()))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let list = |text: &str| -> Vec<String> {
        text.trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let mut permissions = BTreeSet::new();
    for line in lines.filter(|line| !line.trim().is_empty()) {
        let resource = cell(line, 0, non_resource);
        let urls = list(&cell(line, non_resource, names));
        let resource_names = list(&cell(line, names, verbs)).join(",");
        let line_verbs = list(&cell(line, verbs, usize::MAX));
        let subjects: Vec<String> = if resource.is_empty() {
            urls
        } else {
            vec![resource]
        };
        for subject in subjects {
            for verb in &line_verbs {
                permissions.insert((subject.clone(), resource_names.clone(), verb.clone()));
            }
        }
    }
    permissions
}

#[test]
fn can_i_tables_are_read_by_column() {
    let table = "\
Resources                                  Non-Resource URLs   Resource Names           Verbs
leases.coordination.k8s.io                 []                  [ontap-ipsec-operator]   [get patch]
                                           [/api]              []                       [get]
secrets                                    []                  []                       [get]
";
    assert_eq!(
        parse(table),
        expected(&[
            (
                "leases.coordination.k8s.io",
                "ontap-ipsec-operator",
                &["get", "patch"]
            ),
            ("/api", "", &["get"]),
            ("secrets", "", &["get"]),
        ])
    );
}
