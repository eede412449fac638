//! One scenario end to end: the bare-client limit, the operator's first mirror, its steady
//! state, the latency of a state change, and (where the scenario asks for it) the naive
//! baseline's steady state, each in a fresh namespace that is deleted (and waited for)
//! afterwards.

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
use crate::operator::{Mode, Operator, OperatorSnapshot, Program};

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
/// Generous bounds for a small scenario; a scenario that needs longer has failed. Each grows
/// with the scenario's SAs (`Scenario::bound`).
const FIRST_MIRROR_TIMEOUT: Duration = Duration::from_secs(900);
const WINDOW_TIMEOUT: Duration = Duration::from_secs(900);
const DELETE_TIMEOUT: Duration = Duration::from_secs(600);
/// Objects a second that any healthy run writes or deletes, a quarter of what this API server
/// manages (about 200 a second with status), so that 100,000 SAs are not cut off.
const SLOWEST_RATE: f64 = 50.0;
const SCRAPE_PERIOD: Duration = Duration::from_secs(2);
/// Mirrored objects read per list request, so that 100,000 do not come in one answer.
const LIST_PAGE: u32 = 5_000;

/// A shape of the estate: clusters, and SAs per cluster from `ontap_sim::generate(nodes, tunnels)`.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub clusters: usize,
    pub nodes: usize,
    pub tunnels: usize,
    /// Whether the naive baseline runs too.
    pub naive: bool,
    /// Part of `make bench-fleet` rather than `make bench`.
    pub fleet: bool,
    pub targets: Targets,
}

impl Scenario {
    pub fn per_cluster(&self) -> usize {
        self.nodes * self.tunnels * 2
    }

    pub fn total(&self) -> usize {
        self.clusters * self.per_cluster()
    }

    /// `base` plus the time to write or delete every SA at the slowest healthy rate.
    fn bound(&self, base: Duration) -> Duration {
        base + Duration::from_secs_f64(self.total() as f64 / SLOWEST_RATE)
    }

    /// How long deleting a namespace of this scenario may take.
    pub fn delete_timeout(&self) -> Duration {
        self.bound(DELETE_TIMEOUT)
    }
}

/// What a scenario is judged on; `None` is not judged.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// First mirror against the bare client's creates alone.
    pub first_mirror_vs_create: Option<f64>,
    /// First mirror against the bare client's creates and status applies.
    pub first_mirror_vs_create_status: Option<f64>,
    pub peak_rss: Option<u64>,
    /// Resident set right after the steady-state window.
    pub steady_rss: Option<u64>,
    /// Operator CPU for one steady-state round of polls over every cluster.
    pub round_cpu: Option<Duration>,
}

impl Targets {
    pub const NONE: Self = Self {
        first_mirror_vs_create: None,
        first_mirror_vs_create_status: None,
        peak_rss: None,
        steady_rss: None,
        round_cpu: None,
    };
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
    pub latencies: Vec<Duration>,
    pub peak_rss: u64,
    /// Resident set right after the steady-state window.
    pub steady_rss: u64,
    /// `None` when the scenario skips the naive baseline.
    pub naive: Option<Naive>,
}

/// The naive baseline's steady state.
#[derive(Debug, Clone, Copy)]
pub struct Naive {
    pub window: Window,
    pub peak_rss: u64,
}

/// Each cluster's name and ONTAP records.
pub type Records = Vec<(String, Vec<serde_json::Value>)>;

/// The records of every cluster of `scenario`.
pub fn records(scenario: Scenario) -> Records {
    (0..scenario.clusters)
        .map(|index| {
            (
                format!("ontap{index:02}"),
                ontap_sim::generate(scenario.nodes, scenario.tunnels),
            )
        })
        .collect()
}

/// Runs `scenario`, cleaning up its namespaces whatever happens.
pub async fn run(server: &ApiServer, scenario: Scenario) -> anyhow::Result<Outcome> {
    let clusters = records(scenario);
    let delete_timeout = scenario.delete_timeout();

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
        .delete_namespace(&bare_namespace, delete_timeout)
        .await?;
    let bare = bare?;
    println!("  deleted ({:.0} s)", phase.elapsed().as_secs_f64());

    let namespace = server
        .create_namespace(&format!("bench-{}", scenario.name))
        .await?;
    let outcome = operate(server, scenario, &namespace, &clusters, bare).await;
    let phase = Instant::now();
    println!("  deleting namespace {namespace}");
    server.delete_namespace(&namespace, delete_timeout).await?;
    println!("  deleted ({:.0} s)", phase.elapsed().as_secs_f64());
    outcome
}

/// Everything in the operator's namespace.
async fn operate(
    server: &ApiServer,
    scenario: Scenario,
    namespace: &str,
    clusters: &Records,
    bare: BareTimes,
) -> anyhow::Result<Outcome> {
    let simulators = serve(server, namespace, clusters).await?;
    let operator = Operator::start(
        namespace,
        &server.kubeconfig,
        Mode::Product,
        &Program::default(),
    )
    .await?;
    let before = server.snapshot(Edge::Start).await?;
    let cpu_before = operator.cpu();
    let started = Instant::now();
    let mirrored = mirror(server, scenario, namespace, clusters, &simulators).await?;
    let first_mirror = started.elapsed();
    let first_mirror_cpu = operator.cpu().saturating_sub(cpu_before);
    let first_mirror_server = server.snapshot(Edge::End).await?.since(&before);
    check_count(&mirrored, scenario).await?;

    let steady = steady_state(server, &operator, &mirrored, scenario).await?;
    let steady_rss = operator.rss();

    println!("  latency of a state change, {LATENCY_SAMPLES} times");
    let latencies = latencies(
        &mirrored,
        &clusters[0],
        &simulators[0],
        scenario.bound(WINDOW_TIMEOUT),
    )
    .await?;
    let peak_rss = operator.peak_rss();
    operator.stop()?;

    let naive = if scenario.naive {
        Some(naive(server, namespace, &mirrored, scenario).await?)
    } else {
        println!("  naive baseline: skipped for this scenario");
        None
    };
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
        latencies,
        peak_rss,
        steady_rss,
        naive,
    })
}

/// One `ontap-sim` per cluster, and the Secrets an OntapCluster of each refers to.
pub async fn serve(
    server: &ApiServer,
    namespace: &str,
    clusters: &Records,
) -> anyhow::Result<Vec<RunningSimulator>> {
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
    Ok(simulators)
}

/// Creates the OntapClusters and waits until a running operator has mirrored every SA.
pub async fn mirror(
    server: &ApiServer,
    scenario: Scenario,
    namespace: &str,
    clusters: &Records,
    simulators: &[RunningSimulator],
) -> anyhow::Result<Api<IpsecSecurityAssociation>> {
    let started = Instant::now();
    let ontap_clusters: Api<OntapCluster> = Api::namespaced(server.client.clone(), namespace);
    for ((name, _), simulator) in clusters.iter().zip(simulators) {
        create_cluster(&ontap_clusters, name, simulator).await?;
    }
    println!("  first mirror of {} SAs", scenario.total());
    wait_for_first_mirror(&ontap_clusters, scenario).await?;
    println!("  mirrored in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Api::namespaced(server.client.clone(), namespace))
}

async fn check_count(
    mirrored: &Api<IpsecSecurityAssociation>,
    scenario: Scenario,
) -> anyhow::Result<()> {
    let count = resource_versions(mirrored).await?.len();
    if count != scenario.total() {
        bail!("{count} objects mirrored, not {}", scenario.total());
    }
    Ok(())
}

/// Lets every cluster poll once more, then measures `STEADY_POLLS` polls per cluster.
pub async fn steady_state(
    server: &ApiServer,
    operator: &Operator,
    mirrored: &Api<IpsecSecurityAssociation>,
    scenario: Scenario,
) -> anyhow::Result<Window> {
    // The poll that mirrored everything may still be finishing on other clusters, and a
    // process started on a complete mirror makes its first polls as it becomes ready.
    let settled = operator.snapshot().await?.successful_polls + scenario.clusters as f64;
    wait_for_polls(operator, settled, scenario.bound(WINDOW_TIMEOUT)).await?;
    println!("  steady state: {STEADY_POLLS} polls per cluster");
    window(server, operator, mirrored, scenario, STEADY_POLLS).await
}

async fn naive(
    server: &ApiServer,
    namespace: &str,
    mirrored: &Api<IpsecSecurityAssociation>,
    scenario: Scenario,
) -> anyhow::Result<Naive> {
    println!("  naive baseline: {NAIVE_POLLS} poll per cluster after its first");
    let operator = Operator::start(
        namespace,
        &server.kubeconfig,
        Mode::ApplyEverything,
        &Program::default(),
    )
    .await?;
    // Its first poll of each cluster starts as it becomes ready, before a window could open;
    // measure the next ones, which run on the schedule as every later one does.
    wait_for_polls(
        &operator,
        scenario.clusters as f64,
        scenario.bound(WINDOW_TIMEOUT),
    )
    .await?;
    let window = window(server, &operator, mirrored, scenario, NAIVE_POLLS).await?;
    let peak_rss = operator.peak_rss();
    operator.stop()?;
    Ok(Naive { window, peak_rss })
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
    let timeout = scenario.bound(FIRST_MIRROR_TIMEOUT);
    let deadline = Instant::now() + timeout;
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
            bail!("no complete first mirror within {timeout:?}");
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
/// (object lists, both `/metrics`) happen outside the CPU readings where it can arrange that,
/// and it sleeps through most of the window before it starts scraping the operator.
async fn window(
    server: &ApiServer,
    operator: &Operator,
    mirrored: &Api<IpsecSecurityAssociation>,
    scenario: Scenario,
    polls_per_cluster: usize,
) -> anyhow::Result<Window> {
    let polls = scenario.clusters * polls_per_cluster;
    let versions_before = resource_versions(mirrored).await?;
    let server_before = server.snapshot(Edge::Start).await?;
    let operator_before = operator.snapshot().await?;
    let started = Instant::now();
    let target = operator_before.successful_polls + polls as f64;
    // Each cluster polls about once an interval; do not scrape the operator before that.
    tokio::time::sleep(POLL_INTERVAL.mul_f64((1.0 - JITTER) * polls_per_cluster as f64)).await;
    let operator_after = wait_for_polls(operator, target, scenario.bound(WINDOW_TIMEOUT)).await?;
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

/// Every mirrored object's name and resourceVersion, read a page at a time.
async fn resource_versions(
    api: &Api<IpsecSecurityAssociation>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut versions = BTreeMap::new();
    let mut params = ListParams::default().limit(LIST_PAGE);
    loop {
        let page = api.list_metadata(&params).await?;
        versions.extend(
            page.items
                .into_iter()
                .map(|item| (item.name_any(), item.resource_version().unwrap_or_default())),
        );
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(versions),
        }
    }
}

/// Takes one IKE SA down and up again in ONTAP, timing each change until the mirrored
/// object's `Ready` condition shows it.
async fn latencies(
    mirrored: &Api<IpsecSecurityAssociation>,
    (cluster, records): &(String, Vec<serde_json::Value>),
    simulator: &RunningSimulator,
    timeout: Duration,
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
            if changed.elapsed() > timeout {
                bail!("{name} did not turn Ready={status} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(latencies)
}
