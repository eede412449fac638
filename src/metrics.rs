//! Prometheus metrics (prefix `ontap_ipsec_`): polls, ONTAP requests, API-server writes, cluster
//! reachability and per-SA tunnel state and traffic, updated on every poll.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric as _, LabelSetEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub mod exposition;
mod process;
mod writes;

pub use writes::WriteCounter;

use crate::crd::{ClusterId, ConditionStatus};

use crate::ontap::model::ClusterVersion;
use crate::ontap::{ClusterIdentity, SecurityAssociation, SecurityAssociationType};

/// Prefix of every metric name.
pub const PREFIX: &str = "ontap_ipsec";

/// Identifies one OntapCluster in labels. The label is `ontapcluster`, not `cluster`: multi-cluster
/// Prometheus setups (Thanos, Mimir) use `cluster` for the Kubernetes cluster.
impl EncodeLabelSet for ClusterId {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        cluster_labels(self).encode(encoder)
    }
}

fn cluster_labels(cluster: &ClusterId) -> [(&'static str, &str); 2] {
    [
        ("namespace", cluster.namespace.as_str()),
        ("ontapcluster", cluster.name.as_str()),
    ]
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    reason: String,
}

/// Every metric the operator exports.
#[derive(Debug)]
pub struct Metrics {
    poll_duration: Family<ClusterId, Histogram>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    snapshots: Arc<Snapshots>,
}

impl Metrics {
    /// Registers every metric in `registry`; API-server writes are read from `writes`.
    #[must_use]
    pub fn register(registry: &mut Registry, writes: Arc<WriteCounter>) -> Arc<Self> {
        let metrics = Self {
            poll_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.05, 2.0, 12))
            }),
            reconcile_errors: Family::default(),
            snapshots: Arc::new(Snapshots {
                clusters: Mutex::default(),
                writes,
            }),
        };
        let prefixed = registry.sub_registry_with_prefix(PREFIX);
        prefixed.register_with_unit(
            "poll_duration",
            "Time to read every SA from ONTAP and mirror them",
            prometheus_client::registry::Unit::Seconds,
            metrics.poll_duration.clone(),
        );
        prefixed.register(
            "reconcile_errors",
            "Reconciles that failed to write to the API server, by reason",
            metrics.reconcile_errors.clone(),
        );
        prefixed.register_collector(Box::new(metrics.snapshots.clone()));
        registry.register_collector(Box::new(process::ProcessCollector));
        Arc::new(metrics)
    }

    /// A poll ended: `outcome` is `success` or a failure's metric label.
    pub fn observe_poll(&self, cluster: &ClusterId, duration: Duration, outcome: &str) {
        self.poll_duration
            .get_or_create(cluster)
            .observe(duration.as_secs_f64());
        let mut clusters = self.snapshots.lock();
        let snapshot = clusters.entry(cluster.clone()).or_default();
        *snapshot.polls.entry(outcome.to_owned()).or_default() += 1;
    }

    /// One HTTP exchange with ONTAP; `None` when no response came.
    pub fn observe_ontap_response(&self, cluster: &ClusterId, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_owned(), |code| code.to_string());
        let mut clusters = self.snapshots.lock();
        let snapshot = clusters.entry(cluster.clone()).or_default();
        *snapshot.requests.entry(status).or_default() += 1;
    }

    pub fn observe_reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A complete poll: the cluster is reachable and these are its SAs now. SAs that are gone
    /// lose their series here.
    pub fn record_success<'a>(
        &self,
        cluster: &ClusterId,
        observations: impl IntoIterator<Item = SaObservation<'a>>,
    ) {
        let samples = observations.into_iter().map(SaSample::of).collect();
        let mut clusters = self.snapshots.lock();
        let snapshot = clusters.entry(cluster.clone()).or_default();
        snapshot.reachable = true;
        snapshot.last_success = Some(unix_seconds());
        snapshot.security_associations = samples;
    }

    /// A failed poll: unreachable; once stale, per-SA series are dropped, since their state is
    /// no longer known.
    pub fn record_failure(&self, cluster: &ClusterId, stale: bool) {
        let mut clusters = self.snapshots.lock();
        let snapshot = clusters.entry(cluster.clone()).or_default();
        snapshot.reachable = false;
        if stale {
            snapshot.security_associations.clear();
        }
    }

    /// What ONTAP said about itself, for `cluster_info`.
    pub fn record_identity(&self, cluster: &ClusterId, identity: &ClusterIdentity) {
        let text = |value: Option<&str>| bounded_label(value.unwrap_or_default());
        let info = ClusterInfo {
            name: text(identity.name.as_deref()),
            uuid: text(identity.uuid.as_deref()),
            version: text(
                identity
                    .version
                    .as_ref()
                    .and_then(ClusterVersion::release)
                    .as_deref(),
            ),
        };
        let mut clusters = self.snapshots.lock();
        clusters.entry(cluster.clone()).or_default().info = Some(info);
    }

    /// Whether the cluster's spec turns TLS verification off or allows plain HTTP.
    pub fn record_transport(&self, cluster: &ClusterId, insecure: bool) {
        let mut clusters = self.snapshots.lock();
        clusters
            .entry(cluster.clone())
            .or_default()
            .insecure_transport = Some(insecure);
    }

    /// The cluster's `spec.pollInterval`; `None` while it is suspended (no poll is due).
    pub fn record_poll_interval(&self, cluster: &ClusterId, interval: Option<Duration>) {
        let mut clusters = self.snapshots.lock();
        clusters.entry(cluster.clone()).or_default().poll_interval =
            interval.map(|interval| interval.as_secs_f64());
    }

    /// The OntapCluster is gone: every series about it goes too.
    pub fn forget(&self, cluster: &ClusterId) {
        self.snapshots.lock().remove(cluster);
        self.poll_duration.remove(cluster);
    }
}

/// The latest observations per cluster, encoded on each scrape.
#[derive(Debug)]
struct Snapshots {
    clusters: Mutex<HashMap<ClusterId, ClusterSnapshot>>,
    writes: Arc<WriteCounter>,
}

impl Snapshots {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClusterId, ClusterSnapshot>> {
        self.clusters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct ClusterSnapshot {
    /// Polls by outcome.
    polls: BTreeMap<String, u64>,
    /// ONTAP responses by status.
    requests: BTreeMap<String, u64>,
    reachable: bool,
    /// TLS verification off or plain HTTP allowed; `None` until the spec was read.
    insecure_transport: Option<bool>,
    /// ONTAP's name, uuid and version, once read.
    info: Option<ClusterInfo>,
    last_success: Option<f64>,
    /// `spec.pollInterval` in seconds; `None` while suspended or before the spec was read.
    poll_interval: Option<f64>,
    security_associations: Vec<SaSample>,
}

/// Longest label value taken from ONTAP's text (node, SVM, policy, address).
pub const MAX_LABEL_VALUE_CHARS: usize = 128;

/// ONTAP's text cut to [`MAX_LABEL_VALUE_CHARS`]: one record cannot make every scrape large.
fn bounded_label(value: &str) -> String {
    // Sliced at a character boundary: collecting characters one by one, here for five labels per
    // SA and in the object's label values, took about 5 % of a steady-state poll's CPU.
    let end = value
        .char_indices()
        .nth(MAX_LABEL_VALUE_CHARS)
        .map_or(value.len(), |(index, _)| index);
    value[..end].to_owned()
}

/// ONTAP's identity as labels of `cluster_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterInfo {
    name: String,
    uuid: String,
    version: String,
}

/// The version of this build, and the commit it was built from when the build was told.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const REVISION: &str = env!("ONTAP_IPSEC_REVISION");
const RUSTC: &str = env!("ONTAP_IPSEC_RUSTC");

/// One mirrored SA as a poll found it: what its series are made of.
#[derive(Debug, Clone, Copy)]
pub struct SaObservation<'a> {
    /// Name of the mirroring object.
    pub name: &'a str,
    pub record: &'a SecurityAssociation,
    /// The SA's `Ready` verdict.
    pub ready: ConditionStatus,
}

#[derive(Debug, Clone)]
struct SaSample {
    name: String,
    sa_type: String,
    node: String,
    svm: String,
    policy: String,
    remote_address: String,
    up: bool,
    ready: ConditionStatus,
    inbound: Option<(u64, u64)>,
    outbound: Option<(u64, u64)>,
}

impl SaSample {
    fn of(observation: SaObservation<'_>) -> Self {
        let record = observation.record;
        let text = |value: Option<&str>| bounded_label(value.unwrap_or_default());
        let direction = |direction: Option<&crate::ontap::model::TrafficDirection>| {
            direction.and_then(|d| Some((d.bytes?, d.packets.unwrap_or(0))))
        };
        let ipsec = record.ipsec.as_ref();
        Self {
            name: observation.name.to_owned(),
            sa_type: text(record.sa_type.as_ref().map(SecurityAssociationType::as_str)),
            node: text(record.node.as_ref().and_then(|n| n.name.as_deref())),
            svm: text(record.svm.as_ref().and_then(|s| s.name.as_deref())),
            policy: text(record.policy_name.as_deref()),
            remote_address: text(record.remote_address.as_deref()),
            up: observation.ready == ConditionStatus::True,
            ready: observation.ready,
            inbound: direction(ipsec.and_then(|i| i.inbound.as_ref())),
            outbound: direction(ipsec.and_then(|i| i.outbound.as_ref())),
        }
    }

    fn labels<'a>(&'a self, cluster: &'a ClusterId) -> [(&'static str, &'a str); 8] {
        [
            ("namespace", &cluster.namespace),
            ("ontapcluster", &cluster.name),
            ("name", &self.name),
            ("type", &self.sa_type),
            ("node", &self.node),
            ("svm", &self.svm),
            ("policy", &self.policy),
            ("remote_address", &self.remote_address),
        ]
    }
}

impl Collector for Snapshots {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let clusters = self.lock();
        let mut sorted: Vec<(&ClusterId, &ClusterSnapshot)> = clusters.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));

        for (metric, help, label, pick_polls) in [
            (
                "polls",
                "Polls by outcome: success, or the reason they failed",
                "outcome",
                true,
            ),
            (
                "ontap_requests",
                "HTTP requests to ONTAP by response status (error when no response came)",
                "status",
                false,
            ),
        ] {
            let mut family = encoder.encode_descriptor(
                metric,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (labels, snapshot) in &sorted {
                let counts = if pick_polls {
                    &snapshot.polls
                } else {
                    &snapshot.requests
                };
                for (value, count) in counts {
                    let set = [
                        ("namespace", labels.namespace.as_str()),
                        ("ontapcluster", labels.name.as_str()),
                        (label, value.as_str()),
                    ];
                    ConstCounter::new(*count).encode(family.encode_family(&set)?)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "cluster_reachable",
            "1 when the last poll of the cluster succeeded, else 0",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, snapshot) in &sorted {
            ConstGauge::new(i64::from(snapshot.reachable))
                .encode(family.encode_family(*labels)?)?;
        }

        encode_identity(&mut encoder, &sorted)?;

        encode_schedule(&mut encoder, &sorted)?;

        let mut family = encoder.encode_descriptor(
            "security_associations",
            "Mirrored SAs by type and readiness (True, False or Unknown)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, snapshot) in &sorted {
            let mut counts: HashMap<(&str, &str), i64> = HashMap::new();
            for sample in &snapshot.security_associations {
                *counts
                    .entry((sample.sa_type.as_str(), sample.ready.as_str()))
                    .or_default() += 1;
            }
            let mut counts: Vec<_> = counts.into_iter().collect();
            counts.sort_unstable();
            for ((sa_type, ready), count) in counts {
                let set = [
                    ("namespace", labels.namespace.as_str()),
                    ("ontapcluster", labels.name.as_str()),
                    ("type", sa_type),
                    ("ready", ready),
                ];
                ConstGauge::new(count).encode(family.encode_family(&set)?)?;
            }
        }

        encode_security_associations(&mut encoder, &sorted)?;
        drop(sorted);
        drop(clusters);
        self.encode_writes(&mut encoder)
    }
}

impl Snapshots {
    fn encode_writes(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "api_writes",
            "Write requests sent to the Kubernetes API server, by kind and verb",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let writes = &self.writes;
        for (kind, verb, counter) in [
            (
                "IpsecSecurityAssociation",
                "apply",
                &writes.security_association_applies,
            ),
            (
                "IpsecSecurityAssociation",
                "apply_status",
                &writes.security_association_status_applies,
            ),
            (
                "IpsecSecurityAssociation",
                "delete",
                &writes.security_association_deletes,
            ),
            (
                "OntapCluster",
                "apply_status",
                &writes.cluster_status_applies,
            ),
        ] {
            let set = [("kind", kind), ("verb", verb)];
            ConstCounter::new(counter.load(Ordering::Relaxed))
                .encode(family.encode_family(&set)?)?;
        }
        Ok(())
    }
}

/// `build_info`, `cluster_info` and `cluster_insecure_transport`: what the operator and each
/// cluster are, rather than what they do.
fn encode_identity(
    encoder: &mut DescriptorEncoder,
    sorted: &[(&ClusterId, &ClusterSnapshot)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        "build_info",
        "1, labelled with the operator's version, the commit it was built from and the compiler",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    let build = [
        ("version", VERSION),
        ("revision", REVISION),
        ("rustc", RUSTC),
    ];
    ConstGauge::new(1).encode(family.encode_family(&build)?)?;

    let mut family = encoder.encode_descriptor(
        "cluster_info",
        "1, labelled with the name, uuid and version ONTAP reports, to join with series \
             labelled by ONTAP's cluster name",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, snapshot) in sorted {
        if let Some(info) = &snapshot.info {
            let set = [
                ("namespace", labels.namespace.as_str()),
                ("ontapcluster", labels.name.as_str()),
                ("ontap_cluster_name", info.name.as_str()),
                ("ontap_cluster_uuid", info.uuid.as_str()),
                ("version", info.version.as_str()),
            ];
            ConstGauge::new(1).encode(family.encode_family(&set)?)?;
        }
    }

    let mut family = encoder.encode_descriptor(
        "cluster_insecure_transport",
        "1 when the cluster's spec turns TLS verification off or allows plain HTTP, else 0",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, snapshot) in sorted {
        if let Some(insecure) = snapshot.insecure_transport {
            ConstGauge::new(i64::from(insecure)).encode(family.encode_family(*labels)?)?;
        }
    }

    Ok(())
}

/// `last_successful_poll_timestamp_seconds` and `poll_interval_seconds`: when a cluster was last
/// polled and how often it should be, for staleness alerts that hold across missing SA series.
fn encode_schedule(
    encoder: &mut DescriptorEncoder,
    sorted: &[(&ClusterId, &ClusterSnapshot)],
) -> Result<(), std::fmt::Error> {
    for (metric, help, pick) in [
        (
            "last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll of the cluster",
            (|snapshot| snapshot.last_success) as fn(&ClusterSnapshot) -> Option<f64>,
        ),
        (
            "poll_interval_seconds",
            "The cluster's spec.pollInterval (absent while it is suspended)",
            |snapshot| snapshot.poll_interval,
        ),
    ] {
        let mut family = encoder.encode_descriptor(
            metric,
            help,
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, snapshot) in sorted {
            if let Some(seconds) = pick(snapshot) {
                ConstGauge::new(seconds).encode(family.encode_family(*labels)?)?;
            }
        }
    }
    Ok(())
}

/// Per-SA series: `sa_up`, and bytes and packets by direction for IPsec SAs.
fn encode_security_associations(
    encoder: &mut DescriptorEncoder,
    sorted: &[(&ClusterId, &ClusterSnapshot)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        "sa_up",
        "1 when the SA is Ready (IKE established or IPsec installed), else 0",
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, snapshot) in sorted {
        for sample in &snapshot.security_associations {
            ConstGauge::new(i64::from(sample.up))
                .encode(family.encode_family(&sample.labels(labels))?)?;
        }
    }

    for (metric, help, pick) in [
        (
            "sa_bytes",
            "Bytes carried by an IPsec SA as ONTAP counts them, by direction",
            0_usize,
        ),
        (
            "sa_packets",
            "Packets carried by an IPsec SA as ONTAP counts them, by direction",
            1,
        ),
    ] {
        let mut family = encoder.encode_descriptor(
            metric,
            help,
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (labels, snapshot) in sorted {
            for sample in &snapshot.security_associations {
                for (direction, values) in
                    [("inbound", sample.inbound), ("outbound", sample.outbound)]
                {
                    let Some(values) = values else { continue };
                    let value = if pick == 0 { values.0 } else { values.1 };
                    let base = sample.labels(labels);
                    let set: Vec<(&str, &str)> = base
                        .iter()
                        .copied()
                        .chain([("direction", direction)])
                        .collect();
                    ConstCounter::new(value).encode(family.encode_family(&set)?)?;
                }
            }
        }
    }
    Ok(())
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// The registry's text in OpenMetrics format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

/// The registry's text in `format`.
pub fn encode_as(
    registry: &Registry,
    format: exposition::Format,
) -> Result<String, std::fmt::Error> {
    let text = encode(registry)?;
    Ok(match format {
        exposition::Format::OpenMetrics => text,
        exposition::Format::Text004 => exposition::openmetrics_to_text_004(&text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<SecurityAssociation> {
        serde_json::from_value(serde_json::json!([
            {"uuid": "a", "type": "ike", "node": {"name": "n1"}, "remote_address": "10.0.0.2",
             "ike": {"state": "established"}},
            {"uuid": "b", "type": "ipsec", "node": {"name": "n1"}, "remote_address": "10.0.0.2",
             "ipsec": {"state": "deleted", "inbound": {"bytes": 5, "packets": 1},
                       "outbound": {"bytes": 7, "packets": 2}}}
        ]))
        .expect("records")
    }

    fn observe(metrics: &Metrics) {
        let records = records();
        let names: Vec<String> = records.iter().map(|r| format!("prod-{}", r.uuid)).collect();
        metrics.record_success(
            &labels(),
            records
                .iter()
                .zip(&names)
                .map(|(record, name)| SaObservation {
                    name,
                    record,
                    ready: crate::ontap::health::ready(record).status,
                }),
        );
    }

    fn labels() -> ClusterId {
        ClusterId::new("ns", "prod")
    }

    #[test]
    fn build_and_cluster_info_and_process_metrics_are_exported() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        let identity: ClusterIdentity = serde_json::from_value(serde_json::json!({
            "name": "cluster1", "uuid": "c-1",
            "version": {"full": "NetApp Release 9.16.1P3: Tue", "generation": 9, "major": 16, "minor": 1}
        }))
        .expect("identity");
        metrics.record_identity(&labels(), &identity);
        let text = encode(&registry).expect("encodes");
        assert!(
            text.contains(&format!(
                r#"ontap_ipsec_build_info{{version="{VERSION}",revision="{REVISION}",rustc="{RUSTC}"}} 1"#
            )),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ontap_ipsec_cluster_info{namespace="ns",ontapcluster="prod",ontap_cluster_name="cluster1",ontap_cluster_uuid="c-1",version="9.16.1"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }

    #[test]
    fn the_poll_interval_is_exported_unless_the_cluster_is_suspended() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        metrics.record_poll_interval(&labels(), Some(Duration::from_secs(30)));
        let text = encode(&registry).expect("encodes");
        assert!(
            text.contains(
                r#"ontap_ipsec_poll_interval_seconds{namespace="ns",ontapcluster="prod"} 30"#
            ),
            "{text}"
        );
        metrics.record_poll_interval(&labels(), None);
        let text = encode(&registry).expect("encodes");
        assert!(
            !text.contains("ontap_ipsec_poll_interval_seconds{"),
            "{text}"
        );
    }

    #[test]
    fn text_004_is_what_promtool_and_prometheus_parse_as_the_same_series() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        observe(&metrics);
        metrics.observe_poll(&labels(), Duration::from_millis(120), "success");
        assert!(
            encode_as(&registry, exposition::Format::Text004)
                .expect("encodes")
                .contains("# TYPE ontap_ipsec_sa_bytes_total counter\n")
        );
        // One encoding converted: two would differ in process_open_fds while tests run.
        let openmetrics = encode(&registry).expect("encodes");
        let text = exposition::openmetrics_to_text_004(&openmetrics);
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ontap_ipsec_polls_total counter\n"),
            "{text}"
        );
        let samples = |body: &str| -> Vec<String> {
            body.lines()
                .filter(|line| !line.starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(samples(&openmetrics), samples(&text));
    }

    #[test]
    fn insecure_transport_is_exported_per_cluster() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        metrics.record_transport(&labels(), true);
        let text = encode(&registry).expect("encodes");
        assert!(
            text.contains(
                r#"ontap_ipsec_cluster_insecure_transport{namespace="ns",ontapcluster="prod"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn a_poll_exports_one_up_series_per_sa_and_counters_by_direction() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        observe(&metrics);
        metrics.observe_poll(&labels(), Duration::from_millis(120), "success");
        metrics.observe_ontap_response(&labels(), Some(200));
        let text = encode(&registry).expect("encodes");
        assert_eq!(text.matches("ontap_ipsec_sa_up{").count(), 2, "{text}");
        assert!(text.contains(r#"ontap_ipsec_sa_up{namespace="ns",ontapcluster="prod",name="prod-a",type="ike",node="n1",svm="",policy="",remote_address="10.0.0.2"} 1"#), "{text}");
        assert!(text.contains(r#"name="prod-b",type="ipsec""#), "{text}");
        assert!(text.contains(r#"direction="outbound"} 7"#), "{text}");
        assert!(text.contains("ontap_ipsec_sa_bytes_total{"), "{text}");
        assert!(
            text.contains(r#"ontap_ipsec_cluster_reachable{namespace="ns",ontapcluster="prod"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ontap_ipsec_polls_total{namespace="ns",ontapcluster="prod",outcome="success"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ontap_ipsec_ontap_requests_total{namespace="ns",ontapcluster="prod",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"ontap_ipsec_security_associations{namespace="ns",ontapcluster="prod",type="ipsec",ready="False"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"ontap_ipsec_api_writes_total{kind="OntapCluster",verb="apply_status"} 0"#
            ),
            "{text}"
        );
    }

    #[test]
    fn stale_and_forgotten_clusters_lose_their_series() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry, Arc::default());
        observe(&metrics);
        metrics.record_failure(&labels(), false);
        let text = encode(&registry).expect("encodes");
        assert!(
            text.contains(r#"ontap_ipsec_cluster_reachable{namespace="ns",ontapcluster="prod"} 0"#)
        );
        assert_eq!(
            text.matches("ontap_ipsec_sa_up{").count(),
            2,
            "kept until stale"
        );
        metrics.record_failure(&labels(), true);
        assert_eq!(
            encode(&registry)
                .expect("encodes")
                .matches("ontap_ipsec_sa_up{")
                .count(),
            0
        );
        metrics.observe_poll(&labels(), Duration::from_millis(1), "timeout");
        metrics.forget(&labels());
        let text = encode(&registry).expect("encodes");
        assert!(!text.contains(r#"ontapcluster="prod""#), "{text}");
    }
}
