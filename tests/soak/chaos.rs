//! The disturbances: fault episodes per simulator, record churn, and API-server outages.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ontap_sim::Fault;
use serde_json::{Value, json};

use crate::settings::{
    CALM_GAP_SECONDS, CHURN_EVERY_SECONDS, CHURN_SPREAD, EPISODE_SECONDS, FIRST_OUTAGE_SECONDS,
    MIN_SHORT_PAGE, OUTAGE_EVERY_SECONDS, OUTAGE_SECONDS, SAS_PER_CLUSTER,
};
use crate::support::k8s::FreshApiServer;
use crate::world::{Span, World, pause};

/// Fault kinds and their weights; `none` is a calm episode.
const EPISODES: [(&str, u32); 12] = [
    ("none", 3),
    ("5xx", 2),
    ("stall", 1),
    ("error_in_ok", 2),
    ("num_records_mismatch", 1),
    ("short_pages", 1),
    ("endless_body", 1),
    ("malformed_json", 1),
    ("drop_connection", 1),
    ("latency", 1),
    ("partial_mid_listing", 2),
    ("5xx_intermittent", 1),
];

fn pick<'a, T>(rng: &mut fastrand::Rng, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.u32(..total);
    for (item, weight) in weighted {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    &weighted[weighted.len() - 1].0
}

/// The faults of one episode kind.
fn faults(kind: &str, rng: &mut fastrand::Rng) -> Vec<Fault> {
    match kind {
        "5xx" => vec![Fault::error([500, 502, 503, 504][rng.usize(..4)])],
        // Every other request fails, for as long as the episode lasts.
        // Every other request fails (each fault skips its own count of requests, then hits one).
        "5xx_intermittent" => (0..150)
            .map(|index| Fault::error(503).skip(index * 2 + 1).count(1))
            .collect(),
        "stall" => vec![Fault::stall()],
        "error_in_ok" => vec![Fault::error_in_ok()],
        "num_records_mismatch" => vec![Fault::num_records_mismatch([-1, 1, 3][rng.usize(..3)])],
        "short_pages" => vec![Fault::short_pages(rng.usize(MIN_SHORT_PAGE..=20))],
        "endless_body" => vec![Fault::endless_body()],
        "malformed_json" => vec![Fault::malformed_json()],
        "drop_connection" => vec![Fault::drop_connection()],
        "latency" => vec![Fault::latency(Duration::from_millis(rng.u64(500..=2500)))],
        // A listing cut into pages that goes wrong after its first page or two.
        "partial_mid_listing" => {
            let failure = match rng.usize(..4) {
                0 => Fault::error(503).from_page(3),
                1 => Fault::error_in_ok().from_page(2),
                2 => Fault::num_records_mismatch(1).from_page(2),
                _ => Fault::drop_connection().from_page(3),
            };
            // The failure first: of two faults that shape the same page, the first one wins.
            vec![failure, Fault::short_pages(10)]
        }
        _ => vec![],
    }
}

/// Fault episodes for one cluster until the soak ends; clears the faults at the end.
pub async fn episodes(world: Arc<World>, cluster: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stop = world.stopping();
    let state = world.clusters[cluster].state();
    // Clusters start their episodes at different moments.
    if pause(&mut stop, Duration::from_secs(rng.u64(5..=25))).await {
        return;
    }
    loop {
        let kind = *pick(&mut rng, &EPISODES);
        let length = Duration::from_secs(rng.u64(EPISODE_SECONDS));
        {
            let mut book = world.book();
            *book.faults_by_kind.entry(kind).or_default() += 1;
            if kind != "none" {
                for fault in faults(kind, &mut rng) {
                    state.set_fault(fault).expect("valid fault");
                }
                let span = Span {
                    start: Instant::now(),
                    end: None,
                };
                book.faults[cluster].push(span);
                if matches!(kind, "short_pages" | "partial_mid_listing") {
                    book.paged[cluster].push(span);
                }
            }
        }
        let stopped = pause(&mut stop, length).await;
        state.clear_faults();
        {
            let now = Instant::now();
            let mut guard = world.book();
            let book = &mut *guard;
            for span in [
                book.faults[cluster].last_mut(),
                book.paged[cluster].last_mut(),
            ]
            .into_iter()
            .flatten()
            {
                span.end.get_or_insert(now);
            }
        }
        if stopped || pause(&mut stop, Duration::from_secs(rng.u64(CALM_GAP_SECONDS))).await {
            return;
        }
    }
}

const IKE_STATES: [(&str, u32); 8] = [
    ("established", 6),
    ("ESTABLISHED", 1),
    ("connecting", 2),
    ("dead_peer_probe", 1),
    ("none", 1),
    // Undocumented: the operator must say Unknown.
    ("rekeying", 1),
    ("half_open", 1),
    ("", 1),
];

const IPSEC_STATES: [(&str, u32); 11] = [
    ("installed", 6),
    ("INSTALLED", 1),
    ("rekeying", 2),
    ("rekeyed", 1),
    ("updating", 1),
    ("none", 1),
    ("installing", 1),
    ("retrying", 1),
    ("deleting", 1),
    ("larval", 1),
    ("", 1),
];

const CHANGES: [(&str, u32); 6] = [
    ("remove", 2),
    ("add", 2),
    ("rekey", 3),
    ("ike_state", 4),
    ("ipsec_state", 4),
    ("state_not_reported", 1),
];

/// Random record changes on random clusters until the soak ends.
pub async fn churn(world: Arc<World>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stop = world.stopping();
    while !pause(&mut stop, Duration::from_secs(rng.u64(CHURN_EVERY_SECONDS))).await {
        let cluster = rng.usize(..world.clusters.len());
        change_one(&world, cluster, &mut rng);
    }
}

fn uuid_of(record: &Value) -> String {
    record["uuid"].as_str().expect("uuid").to_owned()
}

/// One change to one record of `cluster`, noted in the book under the same lock.
fn change_one(world: &World, cluster: usize, rng: &mut fastrand::Rng) {
    let state = world.clusters[cluster].state();
    let mut book = world.book();
    let records = state.records();
    let kind = if records.len() + CHURN_SPREAD <= SAS_PER_CLUSTER {
        "add"
    } else if records.len() >= SAS_PER_CLUSTER + CHURN_SPREAD {
        "remove"
    } else {
        *pick(rng, &CHANGES)
    };
    let of_type =
        |kind: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == kind).collect() };
    let any = &records[rng.usize(..records.len())];
    match kind {
        "remove" => {
            let uuid = uuid_of(any);
            state.remove_record(&uuid).expect("removed");
            book.observe(cluster, &uuid, None);
        }
        "add" => {
            let mut record = any.clone();
            let uuid = uuid::Uuid::new_v4().to_string();
            record["uuid"] = json!(uuid);
            state.insert_record(record).expect("inserted");
            book.observe(cluster, &uuid, state.record(&uuid).as_ref());
        }
        "rekey" => {
            let uuid = uuid_of(any);
            let new = state.rekey_record(&uuid).expect("rekeyed");
            book.observe(cluster, &uuid, None);
            let new_uuid = uuid_of(&new);
            book.observe(cluster, &new_uuid, state.record(&new_uuid).as_ref());
        }
        "ike_state" | "ipsec_state" | "state_not_reported" => {
            let (sa_type, states) = match kind {
                "ike_state" => ("ike", &IKE_STATES[..]),
                "ipsec_state" => ("ipsec", &IPSEC_STATES[..]),
                _ if rng.bool() => ("ike", &[("", 1)][..]),
                _ => ("ipsec", &[("", 1)][..]),
            };
            let candidates = of_type(sa_type);
            let Some(record) = candidates.get(rng.usize(..candidates.len().max(1))) else {
                return;
            };
            let uuid = uuid_of(record);
            let value = *pick(rng, states);
            // An empty state means the field is left out.
            let new_state = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
            state
                .patch_record(&uuid, &json!({ sa_type: {"state": new_state} }))
                .expect("patched");
            book.observe(cluster, &uuid, state.record(&uuid).as_ref());
        }
        _ => unreachable!("{kind}"),
    }
    *book.churn_by_kind.entry(kind).or_default() += 1;
}

/// Kills the API server every few minutes for 10–20 s and starts it again; returns it (running)
/// when the soak ends.
pub async fn outages(
    world: Arc<World>,
    mut server: FreshApiServer,
    seed: u64,
    soak: Duration,
) -> FreshApiServer {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stop = world.stopping();
    // A short soak still gets an outage, in its first half.
    let first = Duration::from_secs(rng.u64(FIRST_OUTAGE_SECONDS)).min(soak.mul_f64(0.4));
    if pause(&mut stop, first).await {
        return server;
    }
    loop {
        let down = Duration::from_secs(rng.u64(OUTAGE_SECONDS));
        world.api_down.store(true, Ordering::SeqCst);
        world.book().outages.push(Span {
            start: Instant::now(),
            end: None,
        });
        eprintln!(
            "soak: {} API server killed for {down:?}",
            world.at(Instant::now())
        );
        server.kill();
        // The outage runs its course even when the soak ends meanwhile.
        tokio::time::sleep(down).await;
        server.restart().await;
        let now = Instant::now();
        if let Some(span) = world.book().outages.last_mut() {
            span.end = Some(now);
        }
        world.api_down.store(false, Ordering::SeqCst);
        eprintln!("soak: {} API server ready again", world.at(now));
        if pause(
            &mut stop,
            Duration::from_secs(rng.u64(OUTAGE_EVERY_SECONDS)),
        )
        .await
        {
            return server;
        }
    }
}
