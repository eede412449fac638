//! One scenario end to end: the bare-client limit, the operator's first mirror, its steady
//! state, the latency of a state change, and the naive baseline's steady state, each in a fresh
//! namespace that is deleted (and waited for) afterwards.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::crd::{IpsecSecurityAssociation, OntapCluster, find_condition};
use ontap_sim::{RunningSimulator, SimulatorConfig};
use serde_json::json;

use crate::api_server::{ApiServer, Edge, ServerSnapshot};
use crate::bare_client::{self, BareTimes};
use crate::operator::{Mode, Operator, OperatorSnapshot};

/// The shortest poll interval an OntapCluster accepts, so steady state shows quickly.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);
const POLL_INTERVAL_TEXT: &str = "10s";
/// The operator spreads polls by up to this fraction of the interval.
pub const JITTER: f64 = 0.1;
const CREDENTIALS: &str = "ontap-credentials";
/// Steady-state polls measured per cluster.
const STEADY_POLLS: usize = 3;
/// Naive-baseline polls measured per cluster (each rewrites everything, so they are slow).
const NAIVE_POLLS: usize = 1;
/// State changes timed per scenario: down, up, down, up, so the SA ends as it began.
const LATENCY_SAMPLES: usize = 4;
/// Generous bounds; a scenario that needs longer has failed.
const FIRST_MIRROR_TIMEOUT: Duration = Duration::from_secs(900);
const WINDOW_TIMEOUT: Duration = Duration::from_secs(900);
const DELETE_TIMEOUT: Duration = Duration::from_secs(600);
const SCRAPE_PERIOD: Duration = Duration::from_secs(2);

/// A shape of the estate: clusters, and SAs per cluster from `ontap_sim::generate(nodes, tunnels)`.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub clusters: usize,
    pub nodes: usize,
    pub tunnels: usize,
}

impl Scenario {
    pub fn per_cluster(&self) -> usize {
        self.nodes * self.tunnels * 2
    }

    pub fn total(&self) -> usize {
        self.clusters * self.per_cluster()
    }
}

/// What happened over a window of polls.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub operator: OperatorSnapshot,
    pub server: ServerSnapshot,
    /// Mirrored objects whose resourceVersion moved (or that came or went) in the window.
    pub changed_objects: usize,
    pub elapsed: Duration,
}

impl Window {
    pub fn polls(&self) -> f64 {
        self.operator.successful_polls
    }

    pub fn per_poll(&self, value: f64) -> f64 {
        value / self.polls().max(1.0)
    }
}

/// Every figure of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: Scenario,
    pub bare: BareTimes,
    pub first_mirror: Duration,
    /// API-server writes and CPU during the first mirror.
    pub first_mirror_server: ServerSnapshot,
    /// The operator's CPU time during the first mirror.
    pub first_mirror_cpu: Duration,
    pub steady: Window,
    pub naive: Window,
    pub latencies: Vec<Duration>,
    pub peak_rss: u64,
    /// Resident set right after the steady-state window.
    pub steady_rss: u64,
    pub naive_peak_rss: u64,
}

/// Runs `scenario`, cleaning up its namespaces whatever happens.
pub async fn run(server: &ApiServer, scenario: Scenario) -> anyhow::Result<Outcome> {
    let clusters: Vec<(String, Vec<serde_json::Value>)> = (0..scenario.clusters)
        .map(|index| {
            (
                format!("ontap{index:02}"),
                ontap_sim::generate(scenario.nodes, scenario.tunnels),
            )
        })
        .collect();

    let phase = Instant::now();
    println!("  bare client: creating {} objects", scenario.total());
    let bare_namespace = server.create_namespace("bench-bare").await?;
    let bare = async {
        let objects = bare_client::desired_objects(&bare_namespace, &clusters)?;
        bare_client::create(server, &bare_namespace, &objects).await
    }
    .await;
    println!(
        "  deleting namespace {bare_namespace} ({:.0} s)",
        phase.elapsed().as_secs_f64()
    );
    server
        .delete_namespace(&bare_namespace, DELETE_TIMEOUT)
        .await?;
    let bare = bare?;
    println!("  deleted ({:.0} s)", phase.elapsed().as_secs_f64());

    let namespace = server
        .create_namespace(&format!("bench-{}", scenario.name))
        .await?;
    let outcome = operate(server, scenario, &namespace, &clusters, bare).await;
    let phase = Instant::now();
    println!("  deleting namespace {namespace}");
    server.delete_namespace(&namespace, DELETE_TIMEOUT).await?;
    println!("  deleted ({:.0} s)", phase.elapsed().as_secs_f64());
    outcome
}

/// Everything in the operator's namespace.
async fn operate(
    server: &ApiServer,
    scenario: Scenario,
    namespace: &str,
    clusters: &[(String, Vec<serde_json::Value>)],
    bare: BareTimes,
) -> anyhow::Result<Outcome> {
    let mut simulators = Vec::with_capacity(clusters.len());
    for (_, records) in clusters {
        simulators.push(
            ontap_sim::start(SimulatorConfig {
                records: records.clone(),
                ..SimulatorConfig::default()
            })
            .await?,
        );
    }
    let secrets: Api<Secret> = Api::namespaced(server.client.clone(), namespace);
    create_secret(
        &secrets,
        CREDENTIALS,
        &[
            ("username", ontap_sim::DEFAULT_USERNAME),
            ("password", ontap_sim::DEFAULT_PASSWORD),
        ],
    )
    .await?;
    for ((name, _), simulator) in clusters.iter().zip(&simulators) {
        create_secret(
            &secrets,
            &ca_secret(name),
            &[("ca.crt", &simulator.certificate_pem())],
        )
        .await?;
    }

    let operator = Operator::start(namespace, &server.kubeconfig, Mode::Product).await?;
    let before = server.snapshot(Edge::Start).await?;
    let cpu_before = operator.cpu();
    let started = Instant::now();
    let ontap_clusters: Api<OntapCluster> = Api::namespaced(server.client.clone(), namespace);
    for ((name, _), simulator) in clusters.iter().zip(&simulators) {
        create_cluster(&ontap_clusters, name, simulator).await?;
    }
    println!("  first mirror of {} SAs", scenario.total());
    wait_for_first_mirror(&ontap_clusters, scenario).await?;
    let first_mirror = started.elapsed();
    let first_mirror_cpu = operator.cpu().saturating_sub(cpu_before);
    println!("  mirrored in {:.1} s", first_mirror.as_secs_f64());
    let first_mirror_server = server.snapshot(Edge::End).await?.since(&before);
    let mirrored: Api<IpsecSecurityAssociation> = Api::namespaced(server.client.clone(), namespace);
    let count = mirrored
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    if count != scenario.total() {
        bail!("{count} objects mirrored, not {}", scenario.total());
    }

    // The poll that mirrored everything may still be finishing on other clusters; let every
    // cluster poll once more before measuring.
    let settled = operator.snapshot().await?.successful_polls + scenario.clusters as f64;
    wait_for_polls(&operator, settled, WINDOW_TIMEOUT).await?;
    println!("  steady state: {STEADY_POLLS} polls per cluster");
    let steady = window(
        server,
        &operator,
        &mirrored,
        (scenario.clusters, STEADY_POLLS),
    )
    .await?;
    let steady_rss = operator.rss();

    println!("  latency of a state change, {LATENCY_SAMPLES} times");
    let latencies = latencies(&mirrored, &clusters[0], &simulators[0]).await?;
    let peak_rss = operator.peak_rss();
    operator.stop()?;

    println!("  naive baseline: {NAIVE_POLLS} poll per cluster after its first");
    let naive_operator =
        Operator::start(namespace, &server.kubeconfig, Mode::ApplyEverything).await?;
    // Its first poll of each cluster starts as it becomes ready, before a window could open;
    // measure the next ones, which run on the schedule as every later one does.
    wait_for_polls(&naive_operator, scenario.clusters as f64, WINDOW_TIMEOUT).await?;
    let naive = window(
        server,
        &naive_operator,
        &mirrored,
        (scenario.clusters, NAIVE_POLLS),
    )
    .await?;
    let naive_peak_rss = naive_operator.peak_rss();
    naive_operator.stop()?;
    for simulator in simulators {
        simulator.shutdown().await;
    }
    Ok(Outcome {
        scenario,
        bare,
        first_mirror,
        first_mirror_server,
        first_mirror_cpu,
        steady,
        naive,
        latencies,
        peak_rss,
        steady_rss,
        naive_peak_rss,
    })
}

fn ca_secret(cluster: &str) -> String {
    format!("{cluster}-ca")
}

async fn create_secret(api: &Api<Secret>, name: &str, data: &[(&str, &str)]) -> anyhow::Result<()> {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    api.create(&PostParams::default(), &secret).await?;
    Ok(())
}

async fn create_cluster(
    api: &Api<OntapCluster>,
    name: &str,
    simulator: &RunningSimulator,
) -> anyhow::Result<()> {
    let object: OntapCluster = serde_json::from_value(json!({
        "apiVersion": "ontap-ipsec.dev/v1alpha1",
        "kind": "OntapCluster",
        "metadata": {"name": name},
        "spec": {
            "endpoint": simulator.base_url(),
            "credentialsSecretRef": {"name": CREDENTIALS},
            "tls": {"caSecretRef": {"name": ca_secret(name)}},
            "pollInterval": POLL_INTERVAL_TEXT,
        },
    }))?;
    api.create(&PostParams::default(), &object).await?;
    Ok(())
}

/// Waits until every OntapCluster reports all its SAs mirrored and `Ready=True`; the operator
/// writes that status only after the last object of the poll.
async fn wait_for_first_mirror(api: &Api<OntapCluster>, scenario: Scenario) -> anyhow::Result<()> {
    let expected = i64::try_from(scenario.per_cluster())?;
    let deadline = Instant::now() + FIRST_MIRROR_TIMEOUT;
    loop {
        let clusters = api.list(&ListParams::default()).await?.items;
        let done = clusters.len() == scenario.clusters
            && clusters.iter().all(|cluster| {
                cluster.status.as_ref().is_some_and(|status| {
                    status.security_associations.map(|counts| counts.total) == Some(expected)
                        && find_condition(&status.conditions, "Ready")
                            .is_some_and(|ready| ready.status == "True")
                })
            });
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no complete first mirror within {FIRST_MIRROR_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the operator has completed `target` successful polls in all, scraping its
/// metrics every two seconds (each scrape costs it some CPU).
async fn wait_for_polls(
    operator: &Operator,
    target: f64,
    timeout: Duration,
) -> anyhow::Result<OperatorSnapshot> {
    let deadline = Instant::now() + timeout;
    loop {
        // CPU time before the scrape, so that serving the last scrape stays out of a window.
        let cpu = operator.cpu();
        let mut snapshot = operator.snapshot().await?;
        if snapshot.successful_polls >= target {
            snapshot.cpu = cpu;
            return Ok(snapshot);
        }
        if Instant::now() > deadline {
            bail!(
                "{} successful polls after {timeout:?}, not {target}; see {}",
                snapshot.successful_polls,
                operator.log.display()
            );
        }
        tokio::time::sleep(SCRAPE_PERIOD).await;
    }
}

/// Measures `polls_per_cluster` polls of every cluster, from now. The benchmark's own reads
/// (object
/// lists, both `/metrics`) happen outside the CPU readings where it can arrange that, and it
/// sleeps through most of the window before it starts scraping the operator.
async fn window(
    server: &ApiServer,
    operator: &Operator,
    mirrored: &Api<IpsecSecurityAssociation>,
    (clusters, polls_per_cluster): (usize, usize),
) -> anyhow::Result<Window> {
    let polls = clusters * polls_per_cluster;
    let versions_before = resource_versions(mirrored).await?;
    let server_before = server.snapshot(Edge::Start).await?;
    let operator_before = operator.snapshot().await?;
    let started = Instant::now();
    let target = operator_before.successful_polls + polls as f64;
    // Each cluster polls about once an interval; do not scrape the operator before that.
    tokio::time::sleep(POLL_INTERVAL.mul_f64((1.0 - JITTER) * polls_per_cluster as f64)).await;
    let operator_after = wait_for_polls(operator, target, WINDOW_TIMEOUT).await?;
    let elapsed = started.elapsed();
    let server_after = server.snapshot(Edge::End).await?;
    let versions_after = resource_versions(mirrored).await?;
    let changed_objects = versions_before
        .iter()
        .filter(|(name, version)| versions_after.get(*name) != Some(*version))
        .count()
        + versions_after
            .keys()
            .filter(|name| !versions_before.contains_key(*name))
            .count();
    Ok(Window {
        operator: operator_after.since(&operator_before),
        server: server_after.since(&server_before),
        changed_objects,
        elapsed,
    })
}

async fn resource_versions(
    api: &Api<IpsecSecurityAssociation>,
) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(api
        .list_metadata(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|item| (item.name_any(), item.resource_version().unwrap_or_default()))
        .collect())
}

/// Takes one IKE SA down and up again in ONTAP, timing each change until the mirrored
/// object's `Ready` condition shows it.
async fn latencies(
    mirrored: &Api<IpsecSecurityAssociation>,
    (cluster, records): &(String, Vec<serde_json::Value>),
    simulator: &RunningSimulator,
) -> anyhow::Result<Vec<Duration>> {
    let uuid = records
        .iter()
        .find(|record| record["type"] == "ike")
        .and_then(|record| record["uuid"].as_str())
        .context("an IKE SA")?
        .to_owned();
    let name = format!("{cluster}-{uuid}");
    let steps: HashMap<bool, (&str, &str)> = HashMap::from([
        (false, ("connecting", "False")),
        (true, ("established", "True")),
    ]);
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for sample in 0..LATENCY_SAMPLES {
        let (state, status) = steps[&(sample % 2 == 1)];
        // Let the change land at a random point of the poll cycle.
        tokio::time::sleep(POLL_INTERVAL.mul_f64(fastrand::f64())).await;
        simulator
            .state()
            .patch_record(&uuid, &json!({"ike": {"state": state}}))?;
        let changed = Instant::now();
        loop {
            let object = mirrored.get(&name).await?;
            let ready = object
                .status
                .as_ref()
                .and_then(|status| find_condition(&status.conditions, "Ready"))
                .map(|condition| condition.status.clone());
            if ready.as_deref() == Some(status) {
                latencies.push(changed.elapsed());
                break;
            }
            if changed.elapsed() > WINDOW_TIMEOUT {
                bail!("{name} did not turn Ready={status} within {WINDOW_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(latencies)
}
