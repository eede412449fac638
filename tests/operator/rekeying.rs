//! IPsec states ONTAP does not document: a rekey keeps a tunnel ready, and a state nobody knows
//! turns its condition `Unknown` rather than raising a false alarm.

use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

/// The uuid of the first IPsec record.
fn first_ipsec(records: &[serde_json::Value]) -> String {
    records
        .iter()
        .find(|record| record["type"] == "ipsec")
        .and_then(|record| record["uuid"].as_str())
        .expect("an ipsec record")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipsec_sa_being_rekeyed_stays_ready_and_raises_no_tunnel_down() {
    let records = ontap_sim::generate(1, 2);
    let harness = Harness::start("rekeying", records.clone(), json!({})).await;
    harness.wait_for_mirror(records.len()).await;
    let uuid = first_ipsec(&records);
    let name = format!("{CLUSTER}-{uuid}");
    let state = harness.simulator().state();

    for (ontap_state, expected) in [
        ("rekeying", ("True", "Rekeying")),
        ("larval", ("Unknown", "UnrecognizedState")),
        ("deleting", ("False", "Deleting")),
    ] {
        state
            .patch_record(&uuid, &json!({"ipsec": {"state": ontap_state}}))
            .expect("patched");
        harness.refresh(CLUSTER).await;
        wait::until(
            WAIT,
            &format!("{ontap_state}: Ready={expected:?}"),
            || async {
                harness.sa_ready(&name).await
                    == Some((expected.0.to_owned(), expected.1.to_owned()))
            },
        )
        .await;
        if ontap_state != "deleting" {
            assert!(
                !harness
                    .event_reasons(&name)
                    .await
                    .contains(&"TunnelDown".to_owned()),
                "{ontap_state} is no tunnel down"
            );
        }
    }
    harness.finish().await;
}
