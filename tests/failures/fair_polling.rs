//! Endpoints that accept a connection and never answer do not starve a healthy cluster of
//! poll slots: it still sees a change within its interval plus 2 s.

use std::time::{Duration, Instant};

use ontap_sim::{Fault, SimulatorConfig};
use serde_json::json;

use crate::harness::{CLUSTER, Harness, WAIT};
use crate::support::wait;

const STALLED: usize = 20;
/// One poll interval (10 s) plus its 10 % jitter, plus the 2 s allowed for the write.
const ONE_POLL: Duration = Duration::from_secs(13);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_stalled_endpoints_do_not_starve_a_healthy_cluster() {
    let records = ontap_sim::generate(1, 3);
    let mut harness = Harness::new("fair-polling", records.clone()).await;
    harness.create_cluster(CLUSTER, json!({})).await;
    harness.start_operator();
    harness.wait_for_mirror(records.len()).await;

    let mut stalled = Vec::new();
    for index in 0..STALLED {
        let simulator = ontap_sim::start(SimulatorConfig {
            records: ontap_sim::generate(1, 1),
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator starts");
        simulator.state().set_fault(Fault::stall()).expect("fault");
        harness
            .create_cluster(
                &format!("stalled-{index}"),
                json!({
                    "endpoint": simulator.base_url(),
                    "tls": {"insecureSkipVerify": true},
                    "timeout": "30s",
                }),
            )
            .await;
        stalled.push(simulator);
    }
    // Let the stalled clusters take what they can: every one is polling or backing off.
    wait::until(WAIT, "every stalled endpoint to be asked", || async {
        stalled
            .iter()
            .filter(|simulator| {
                simulator.state().hanging_responses() > 0 || simulator.state().request_count() > 0
            })
            .count()
            >= STALLED / 2
    })
    .await;

    let state = harness.simulator().state();
    let uuid = records
        .iter()
        .find(|record| record["type"] == "ike")
        .and_then(|record| record["uuid"].as_str())
        .expect("an ike record")
        .to_owned();
    let name = format!("{CLUSTER}-{uuid}");
    let mut worst = Duration::ZERO;
    for (ike_state, reason) in [
        ("dead_peer_probe", "DeadPeerProbe"),
        ("established", "Established"),
        ("connecting", "Connecting"),
    ] {
        state
            .patch_record(&uuid, &json!({"ike": {"state": ike_state}}))
            .expect("patched");
        let changed = Instant::now();
        wait::until(
            ONE_POLL + Duration::from_secs(20),
            &format!("{ike_state} mirrored"),
            || async {
                harness
                    .sa_ready(&name)
                    .await
                    .is_some_and(|(_, mirrored)| mirrored == reason)
            },
        )
        .await;
        worst = worst.max(changed.elapsed());
    }
    assert!(
        worst <= ONE_POLL,
        "a change in the healthy cluster took {worst:?} next to {STALLED} stalled endpoints"
    );
    harness.finish().await;
    for simulator in stalled {
        simulator.shutdown().await;
    }
}
