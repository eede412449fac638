//! Query filters with every ONTAP operator, on the four hand-made records of `support`.

use crate::support::{Sim, four_records, uuids};

async fn matching(query: &str) -> Vec<String> {
    let sim = Sim::with_records(four_records()).await;
    let reply = sim.collection(query).await;
    assert_eq!(
        reply.status,
        http::StatusCode::OK,
        "{query}: {}",
        reply.text
    );
    reply.uuids()
}

#[tokio::test]
async fn equality_matches_case_insensitively() {
    assert_eq!(matching("type=ike").await, uuids("ac"));
    assert_eq!(matching("type=IKE").await, uuids("ac"));
}

#[tokio::test]
async fn not_operator_excludes_matches() {
    assert_eq!(matching("type=!ike").await, uuids("bd"));
    assert_eq!(matching("type=%21ike").await, uuids("bd"));
}

#[tokio::test]
async fn not_operator_never_matches_unset_fields() {
    // c is cluster-scoped and has no svm: ONTAP leaves it out of `!` queries on svm fields.
    assert_eq!(matching("svm.name=!vs1").await, uuids("d"));
    assert_eq!(matching("svm.name=!vs*").await, Vec::<String>::new());
    assert_eq!(matching("svm.name=!vs1|null").await, uuids("cd"));
    assert_eq!(matching("ike.state=!established").await, uuids("c"));
    assert_eq!(matching("ipsec.state=!installed").await, uuids("d"));
}

#[tokio::test]
async fn comparison_operators_compare_numbers_numerically() {
    assert_eq!(matching("lifetime=<300").await, uuids("ab"));
    assert_eq!(matching("lifetime=<=300").await, uuids("abc"));
    assert_eq!(matching("lifetime=>300").await, uuids("d"));
    assert_eq!(matching("lifetime=>=300").await, uuids("cd"));
    // 4000 > 999 numerically although "4000" < "999" as text.
    assert_eq!(matching("lifetime=%3E999").await, uuids("d"));
    assert_eq!(matching("lifetime=%3C%3D200").await, uuids("ab"));
}

#[tokio::test]
async fn wildcard_matches_patterns() {
    assert_eq!(matching("remote_address=192.168.*").await, uuids("ab"));
    assert_eq!(matching("policy_name=*three").await, uuids("d"));
    assert_eq!(matching("remote_address=fd20:*").await, uuids("c"));
    assert_eq!(matching("policy_name=!*one").await, uuids("cd"));
}

#[tokio::test]
async fn pipe_ors_alternatives() {
    assert_eq!(matching("node.name=n1|n2").await, uuids("abcd"));
    assert_eq!(
        matching("policy_name=policy_two%7Cpolicy_three").await,
        uuids("cd")
    );
    assert_eq!(matching("lifetime=100|>1000").await, uuids("ad"));
}

#[tokio::test]
async fn null_and_not_null_test_presence() {
    assert_eq!(matching("svm.name=null").await, uuids("c"));
    assert_eq!(matching("svm.name=!null").await, uuids("abd"));
    assert_eq!(matching("ike.state=null").await, uuids("bd"));
}

#[tokio::test]
async fn dotted_paths_reach_nested_fields() {
    assert_eq!(matching("ipsec.inbound.packets=>5").await, uuids("b"));
    assert_eq!(matching("ipsec.state=installed").await, uuids("b"));
    assert_eq!(
        matching("node.uuid=00000000-0000-4000-8000-0000000000e2").await,
        uuids("cd")
    );
}

#[tokio::test]
async fn booleans_match_true_and_false() {
    assert_eq!(matching("ike.is_initiator=true").await, uuids("a"));
    assert_eq!(matching("ike.is_initiator=false").await, uuids("c"));
}

#[tokio::test]
async fn several_filters_are_all_required() {
    assert_eq!(matching("type=ipsec&node.name=n2").await, uuids("d"));
    assert_eq!(
        matching("type=ipsec&node.name=n2&lifetime=<100").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn filters_apply_across_pages() {
    let sim = Sim::with_records(four_records()).await;
    let pages = sim.read_all("type=ipsec&max_records=1").await;
    let read: Vec<String> = pages
        .iter()
        .flat_map(crate::support::Reply::uuids)
        .collect();
    assert_eq!(read, uuids("bd"));
}
