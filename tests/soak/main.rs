//! Fault soak: the operator binary runs for `SOAK_MINUTES` (default 15) against several
//! simulated ONTAP clusters with random fault episodes, record churn and API-server restarts,
//! while invariants are checked all along: no SA ONTAP still lists is ever deleted, every
//! condition is right or Unknown, memory stays bounded, and API writes and ONTAP requests per
//! minute stay within bounds derived from the setup. Ignored by default; `make soak` runs it and
//! rewrites the results section of docs/reliability.md. `SOAK_SEED` repeats a run's choices.
// The soak reads best as one story.
#![allow(clippy::too_many_lines)]

#[path = "../support/mod.rs"]
mod support;

// Where and on what the soak ran, described as the benchmarks describe it.
#[path = "../../benches/support/machine.rs"]
#[allow(dead_code)]
mod machine;

mod chaos;
mod checks;
mod figures;
mod operator;
mod settings;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use ontap_ipsec_operator::crd::condition::TYPE_READY;
use ontap_ipsec_operator::crd::{
    IpsecSecurityAssociation, OntapCluster, REFRESH_ANNOTATION, find_condition,
};
use ontap_sim::SimulatorConfig;
use serde_json::json;

use crate::checks::Checker;
use crate::figures::Figures;
use crate::operator::Operator;
use crate::settings::{
    CLUSTERS, NODES, POLL_INTERVAL_SECONDS, SAS_PER_CLUSTER, STALE_AFTER, TIMEOUT_SECONDS,
    TUNNELS_PER_NODE,
};
use crate::support::k8s::{self, FreshApiServer, TestNamespace};
use crate::world::{Cluster, Expected, World};

const CREDENTIALS: &str = "ontap-credentials";
/// How long the first mirror of every SA, and the convergence at the end, may take.
const SETTLE: Duration = Duration::from_secs(180);
const CONVERGE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs for 15 minutes by default: `make soak`"]
async fn the_operator_keeps_its_invariants_under_random_faults() {
    let minutes: f64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(15.0);
    let planned = Duration::from_secs_f64(minutes * 60.0);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..1_000_000));
    let load_at_start = machine::load_average();
    eprintln!("soak: {minutes} minutes, seed {seed}, load average {load_at_start}");
    k8s::install_crypto_provider();

    let server = FreshApiServer::start().await;
    server.kubectl(&["apply", "--server-side", "-f", "crds/crds.yaml"]);
    server.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ontapclusters.ontap-ipsec.dev",
        "crd/ipsecsecurityassociations.ontap-ipsec.dev",
    ]);
    let client = server.client().await;
    let namespace = TestNamespace::create(&client, "soak").await;
    let ns = namespace.name().to_owned();
    put_secret(
        &client,
        &ns,
        CREDENTIALS,
        &[
            ("username", ontap_sim::DEFAULT_USERNAME),
            ("password", ontap_sim::DEFAULT_PASSWORD),
        ],
    )
    .await;
    let mut clusters = Vec::new();
    for index in 0..CLUSTERS {
        let simulator = ontap_sim::start(SimulatorConfig {
            records: ontap_sim::generate(NODES, TUNNELS_PER_NODE),
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator starts");
        let name = format!("ontap-{index}");
        let ca = format!("{name}-ca");
        put_secret(
            &client,
            &ns,
            &ca,
            &[("ca.crt", &simulator.certificate_pem())],
        )
        .await;
        let object: OntapCluster = serde_json::from_value(json!({
            "apiVersion": "ontap-ipsec.dev/v1alpha1",
            "kind": "OntapCluster",
            "metadata": {"name": name},
            "spec": {
                "endpoint": simulator.base_url(),
                "credentialsSecretRef": {"name": CREDENTIALS},
                "tls": {"caSecretRef": {"name": ca}},
                "pollInterval": format!("{POLL_INTERVAL_SECONDS}s"),
                "timeout": format!("{TIMEOUT_SECONDS}s"),
                "staleAfter": STALE_AFTER,
            },
        }))
        .expect("valid OntapCluster");
        Api::<OntapCluster>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &object)
            .await
            .expect("OntapCluster created");
        clusters.push(Cluster { name, simulator });
    }
    let mut operator = Operator::start(&ns, server.kubeconfig.path());
    let first_mirror = Instant::now();
    if let Err(mismatch) = converge(&clusters, &ns, &client, SETTLE).await {
        panic!(
            "the first mirror did not complete within {SETTLE:?}: {mismatch}; operator log {}",
            operator.log.display()
        );
    }
    let initial_mirror = first_mirror.elapsed();
    eprintln!(
        "soak: {} SAs mirrored in {initial_mirror:?}; faults start",
        CLUSTERS * SAS_PER_CLUSTER
    );

    let world = Arc::new(World::new(ns.clone(), clusters));
    let soak_started = Instant::now();
    let checker = tokio::spawn(Checker::new(world.clone(), &client).run());
    let (sampling_ends, sampling_done) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(operator::sample(
        world.clone(),
        operator.pid(),
        operator.metrics_port,
        sampling_done,
    ));
    let mut chaos = Vec::new();
    for index in 0..CLUSTERS {
        chaos.push(tokio::spawn(chaos::episodes(
            world.clone(),
            index,
            seed.wrapping_add(index as u64 + 1),
        )));
    }
    chaos.push(tokio::spawn(chaos::churn(
        world.clone(),
        seed.wrapping_add(100),
    )));
    let outages = tokio::spawn(chaos::outages(
        world.clone(),
        server,
        seed.wrapping_add(200),
        planned,
    ));
    let mut stopping = world.stopping();
    tokio::select! {
        () = tokio::time::sleep(planned) => {}
        _ = stopping.changed() => {}
    }
    world.stop();
    for task in chaos {
        task.await.expect("chaos task");
    }
    let server = outages.await.expect("outage task");
    let soaked = soak_started.elapsed();
    let mut checker = checker.await.expect("checker task");

    // Faults are cleared; every cluster is asked for a poll at once rather than at the end of
    // a backoff, and the mirror must match the simulators exactly.
    let mut convergence = None;
    if world.violation().is_none() {
        let converging = Instant::now();
        for cluster in &world.clusters {
            refresh(&client, &ns, &cluster.name).await;
        }
        match converge(&world.clusters, &ns, &client, CONVERGE).await {
            Ok(()) => convergence = Some(converging.elapsed()),
            Err(mismatch) => world.fail(format!(
                "the mirror did not match the simulators within {CONVERGE:?} after the last \
                 fault: {mismatch}"
            )),
        }
        // The last round of checks, on the converged mirror.
        if let Err(violation) = checker.round().await {
            world.fail(violation);
        }
    }
    sampling_ends.send_replace(true);
    let sampling = sampler.await.expect("sampler task");
    let exit = match operator.exited() {
        Some(_) => None,
        None => Some(operator.terminate().await),
    };
    let figures = {
        let book = world.book();
        Figures {
            seed,
            planned,
            soaked,
            initial_mirror,
            convergence,
            sampling,
            checks: checker.into_figures(),
            faults_by_kind: book.faults_by_kind.clone(),
            churn_by_kind: book.churn_by_kind.clone(),
            outages: book
                .outages
                .iter()
                .filter_map(|span| Some(span.end?.saturating_duration_since(span.start)))
                .collect(),
            ontap_requests: world
                .clusters
                .iter()
                .map(|cluster| cluster.state().request_count())
                .sum(),
            exit,
            violation: world.violation(),
            load_at_start,
        }
    };
    eprintln!("{}", figures.markdown());
    if let Some(violation) = figures.violation.clone() {
        panic!(
            "invariant violated: {violation}\noperator log: {}",
            operator.log.display()
        );
    }
    assert!(
        exit.is_some_and(|(_, clean)| clean),
        "the operator did not exit cleanly on SIGTERM; log {}",
        operator.log.display()
    );
    if std::env::var_os("SOAK_NO_WRITE").is_none() {
        let path = figures.write().expect("results written");
        eprintln!("soak: figures written to {}", path.display());
    }
    namespace.cleanup().await;
    drop(server);
    let world = Arc::try_unwrap(world).ok().expect("tasks ended");
    for cluster in world.clusters {
        cluster.simulator.shutdown().await;
    }
}

async fn put_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply("soak").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("secret applied");
}

/// Asks for an immediate poll through the refresh annotation.
async fn refresh(client: &Client, ns: &str, name: &str) {
    let value = jiff::Timestamp::now().as_nanosecond().to_string();
    let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: value}}});
    let _ = Api::<OntapCluster>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}

/// Waits until the mirror matches the simulators exactly: one object per served SA and none
/// else, each with the Ready the health rule gives for its current state. Returns the last
/// mismatch when `within` passes first.
async fn converge(
    clusters: &[Cluster],
    ns: &str,
    client: &Client,
    within: Duration,
) -> Result<(), String> {
    let api = Api::<IpsecSecurityAssociation>::namespaced(client.clone(), ns);
    let started = Instant::now();
    loop {
        let mismatch = match api.list(&ListParams::default()).await {
            Ok(list) => mismatch(clusters, &list.items),
            Err(error) => Some(format!("list: {error}")),
        };
        let Some(mismatch) = mismatch else {
            return Ok(());
        };
        if started.elapsed() > within {
            return Err(mismatch);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn mismatch(clusters: &[Cluster], items: &[IpsecSecurityAssociation]) -> Option<String> {
    let mut mirrored: BTreeMap<(String, String), Option<(String, String)>> = BTreeMap::new();
    for item in items {
        let ready = item
            .status
            .as_ref()
            .and_then(|status| find_condition(&status.conditions, TYPE_READY))
            .map(|ready| (ready.status.clone(), ready.reason.clone()));
        mirrored.insert(
            (item.spec.cluster_ref.name.clone(), item.spec.uuid.clone()),
            ready,
        );
    }
    let mut served = BTreeSet::new();
    for cluster in clusters {
        for record in cluster.state().records() {
            let uuid = record["uuid"].as_str().unwrap_or_default().to_owned();
            let key = (cluster.name.clone(), uuid);
            let expected = Expected::of(&record);
            let want = (expected.status.to_owned(), expected.reason);
            match mirrored.get(&key) {
                None => return Some(format!("{key:?} is not mirrored")),
                Some(ready) if ready.as_ref() != Some(&want) => {
                    return Some(format!("{key:?} has Ready {ready:?}, not {want:?}"));
                }
                Some(_) => {}
            }
            served.insert(key);
        }
    }
    mirrored
        .keys()
        .find(|key| !served.contains(*key))
        .map(|key| format!("{key:?} is mirrored but no longer served"))
}
