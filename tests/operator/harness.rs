//! One test's world: a fresh namespace, a simulator over HTTPS, the credentials and CA
// Shared by several test targets, each of which uses only part of it.
#![allow(dead_code)]
//! Secrets, an OntapCluster, and the controller running in-process for that namespace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt as _};
use ontap_ipsec_operator::controller::{self, RunOptions};
use ontap_ipsec_operator::crd::{
    IpsecSecurityAssociation, OntapCluster, REFRESH_ANNOTATION, find_condition,
};
use ontap_ipsec_operator::metrics::WriteCounter;
use ontap_sim::{RunningSimulator, SimulatorConfig};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::k8s::{self, TestNamespace};
use crate::support::wait;

pub const CLUSTER: &str = "prod";
pub const CREDENTIALS: &str = "ontap-credentials";
pub const CA: &str = "ontap-ca";
/// Long enough for a loaded 2-core machine, short next to the poll intervals under test.
pub const WAIT: Duration = Duration::from_secs(60);

/// The CRDs, applied once per test process.
static CRDS: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

pub struct Harness {
    pub client: Client,
    pub namespace: TestNamespace,
    pub simulator: Option<RunningSimulator>,
    pub writes: Arc<WriteCounter>,
    operator: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Harness {
    /// A namespace with the Secrets for a simulator holding `records`; no OntapCluster yet.
    pub async fn new(prefix: &str, records: Vec<serde_json::Value>) -> Self {
        Self::with_simulator(
            prefix,
            SimulatorConfig {
                records,
                ..SimulatorConfig::default()
            },
        )
        .await
    }

    /// As [`Harness::new`], with a simulator configured as `config` says.
    pub async fn with_simulator(prefix: &str, config: SimulatorConfig) -> Self {
        let client = k8s::client().await;
        CRDS.get_or_init(|| async { k8s::apply_crds() }).await;
        Self::create(client, prefix, config).await
    }

    /// As [`Harness::new`], on the API server `client` talks to, whose CRDs the caller installed.
    pub async fn new_with_client(
        client: Client,
        prefix: &str,
        records: Vec<serde_json::Value>,
    ) -> Self {
        let config = SimulatorConfig {
            records,
            ..SimulatorConfig::default()
        };
        Self::create(client, prefix, config).await
    }

    async fn create(client: Client, prefix: &str, config: SimulatorConfig) -> Self {
        let namespace = TestNamespace::create(&client, prefix).await;
        let simulator = ontap_sim::start(config).await.expect("simulator starts");
        let harness = Self {
            client,
            namespace,
            simulator: Some(simulator),
            writes: Arc::default(),
            operator: None,
        };
        harness
            .put_secret(
                CREDENTIALS,
                &[
                    ("username", ontap_sim::DEFAULT_USERNAME),
                    ("password", ontap_sim::DEFAULT_PASSWORD),
                ],
            )
            .await;
        let ca = harness.simulator().certificate_pem();
        harness.put_secret(CA, &[("ca.crt", &ca)]).await;
        harness
    }

    /// A namespace, Secrets, an OntapCluster with `spec` merged over the defaults, and the
    /// controller running.
    pub async fn start(
        prefix: &str,
        records: Vec<serde_json::Value>,
        spec: serde_json::Value,
    ) -> Self {
        let mut harness = Self::new(prefix, records).await;
        harness.create_cluster(CLUSTER, spec).await;
        harness.start_operator();
        harness
    }

    pub fn simulator(&self) -> &RunningSimulator {
        self.simulator.as_ref().expect("simulator running")
    }

    pub fn ns(&self) -> &str {
        self.namespace.name()
    }

    pub fn clusters(&self) -> Api<OntapCluster> {
        Api::namespaced(self.client.clone(), self.ns())
    }

    pub fn mirrored(&self) -> Api<IpsecSecurityAssociation> {
        Api::namespaced(self.client.clone(), self.ns())
    }

    pub async fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
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
        let api: Api<Secret> = Api::namespaced(self.client.clone(), self.ns());
        api.patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("secret applied");
    }

    /// The default spec points at the simulator with its CA, polls every 10 s and never
    /// writes counters; `overrides` replace top-level spec fields.
    pub fn spec(&self, overrides: &serde_json::Value) -> serde_json::Value {
        let mut spec = json!({
            "endpoint": self.simulator().base_url(),
            "credentialsSecretRef": {"name": CREDENTIALS},
            "tls": {"caSecretRef": {"name": CA}},
            "pollInterval": "10s",
            "countersRefreshInterval": "0s",
        });
        if let (Some(target), Some(source)) = (spec.as_object_mut(), overrides.as_object()) {
            for (key, value) in source {
                target.insert(key.clone(), value.clone());
            }
        }
        spec
    }

    pub async fn create_cluster(&self, name: &str, overrides: serde_json::Value) -> OntapCluster {
        let object: OntapCluster = serde_json::from_value(json!({
            "apiVersion": "ontap-ipsec.dev/v1alpha1",
            "kind": "OntapCluster",
            "metadata": {"name": name},
            "spec": self.spec(&overrides),
        }))
        .expect("valid OntapCluster");
        self.clusters()
            .create(&PostParams::default(), &object)
            .await
            .expect("OntapCluster created")
    }

    pub fn start_operator(&mut self) {
        self.start_operator_with(|_| {});
    }

    /// Starts the controller with its options changed by `configure`.
    pub fn start_operator_with(&mut self, configure: impl FnOnce(&mut RunOptions)) {
        let (stop, stopped) = oneshot::channel::<()>();
        let mut options = RunOptions {
            instance: Some(format!("test-{}", self.ns())),
            writes: self.writes.clone(),
            ..RunOptions::new(Some(self.ns().to_owned()))
        };
        configure(&mut options);
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            controller::run(client, options, async {
                let _ = stopped.await;
            })
            .await
            .expect("controller runs");
        });
        self.operator = Some((stop, task));
    }

    pub async fn stop_operator(&mut self) {
        if let Some((stop, task)) = self.operator.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }

    /// Asks for an immediate poll through the refresh annotation.
    pub async fn refresh(&self, name: &str) {
        let value = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: value}}});
        self.clusters()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotation set");
    }

    pub async fn list_mirrored(&self) -> Vec<IpsecSecurityAssociation> {
        self.mirrored()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
    }

    /// Waits until exactly `count` objects are mirrored, each with a `Ready` condition.
    pub async fn wait_for_mirror(&self, count: usize) -> Vec<IpsecSecurityAssociation> {
        wait::until(WAIT, &format!("{count} mirrored objects"), || async {
            let items = self.list_mirrored().await;
            items.len() == count
                && items.iter().all(|item| {
                    item.status
                        .as_ref()
                        .is_some_and(|s| find_condition(&s.conditions, "Ready").is_some())
                })
        })
        .await;
        self.list_mirrored().await
    }

    /// The status of condition `type_` on the OntapCluster, as `(status, reason)`.
    pub async fn cluster_condition(&self, name: &str, type_: &str) -> Option<(String, String)> {
        let cluster = self.clusters().get(name).await.ok()?;
        let condition = find_condition(&cluster.status?.conditions, type_)?.clone();
        Some((condition.status, condition.reason))
    }

    pub async fn wait_cluster_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) {
        wait::until(
            WAIT,
            &format!("{name} {type_}={status} ({reason})"),
            || async {
                self.cluster_condition(name, type_).await
                    == Some((status.to_owned(), reason.to_owned()))
            },
        )
        .await;
    }

    /// Object uid by name: equal maps mean nothing was deleted or recreated.
    pub async fn uids(&self) -> BTreeMap<String, String> {
        self.list_mirrored()
            .await
            .iter()
            .map(|item| (item.name_any(), item.uid().unwrap_or_default()))
            .collect()
    }

    /// `(status, reason, message)` of condition `type_` on the OntapCluster.
    pub async fn cluster_condition_message(
        &self,
        name: &str,
        type_: &str,
    ) -> Option<(String, String, String)> {
        let cluster = self.clusters().get(name).await.ok()?;
        let condition = find_condition(&cluster.status?.conditions, type_)?.clone();
        Some((condition.status, condition.reason, condition.message))
    }

    /// `(status, reason)` of an SA's `Ready` condition.
    pub async fn sa_ready(&self, name: &str) -> Option<(String, String)> {
        let object = self.mirrored().get(name).await.ok()?;
        let condition = find_condition(&object.status?.conditions, "Ready")?.clone();
        Some((condition.status, condition.reason))
    }

    /// Resource versions of the OntapCluster and every mirrored object.
    pub async fn resource_versions(&self) -> BTreeMap<String, String> {
        let mut versions: BTreeMap<String, String> = self
            .list_mirrored()
            .await
            .iter()
            .map(|item| (item.name_any(), item.resource_version().unwrap_or_default()))
            .collect();
        for cluster in self
            .clusters()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
        {
            versions.insert(
                format!("cluster/{}", cluster.name_any()),
                cluster.resource_version().unwrap_or_default(),
            );
        }
        versions
    }

    /// Waits until the simulator has served `polls` more collection listings (first pages).
    pub async fn wait_for_polls(&self, polls: u64) {
        let start = self.simulator().state().request_count();
        wait::until(
            WAIT + Duration::from_secs(20 * polls),
            &format!("{polls} more polls"),
            || async { self.simulator().state().request_count() >= start + polls },
        )
        .await;
    }

    /// Reasons of the Events about `object_name` in this namespace.
    pub async fn event_reasons(&self, object_name: &str) -> Vec<String> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), self.ns());
        events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|event| {
                event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object_name)
            })
            .filter_map(|event| event.reason)
            .collect()
    }

    pub async fn delete_cluster(&self, name: &str) {
        self.clusters()
            .delete(name, &DeleteParams::background())
            .await
            .expect("deleted");
    }

    pub async fn finish(mut self) {
        self.stop_operator().await;
        if let Some(simulator) = self.simulator.take() {
            simulator.shutdown().await;
        }
        self.namespace.cleanup().await;
    }
}
