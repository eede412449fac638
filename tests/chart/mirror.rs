//! One test's mirror: the chart applied into a fresh namespace, a simulator holding a fixture
//! with some tunnels down, the Secrets and an OntapCluster created by the admin, and the operator
//! binary running with a token of the chart's ServiceAccount.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::controller::labels::security_association_name;
use ontap_ipsec_operator::crd::{
    IpsecSecurityAssociation, OntapCluster, REFRESH_ANNOTATION, find_condition,
};
use ontap_sim::{RunningSimulator, SimulatorConfig};
use serde_json::json;

use crate::operator::{OperatorProcess, forbidden_lines};
use crate::release::Release;
use crate::support::k8s::{ServiceAccountKubeconfig, service_account_kubeconfig};
use crate::support::wait;

pub const CLUSTER: &str = "prod";
const CREDENTIALS: &str = "ontap-credentials";
const CA: &str = "ontap-ca";
/// Two nodes with five tunnels each: twenty SAs, ten IKE and ten IPsec.
const NODES: usize = 2;
const TUNNELS_PER_NODE: usize = 5;
/// Long enough for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(90);
const EVENT_TUNNEL_DOWN: &str = "TunnelDown";
const REPORTING_CONTROLLER: &str = "ontap-ipsec-operator";
const CONDITION_READY: &str = "Ready";

pub struct Mirror {
    pub release: Release,
    pub simulator: RunningSimulator,
    operator: Option<OperatorProcess>,
    _kubeconfig: ServiceAccountKubeconfig,
    /// uuid → whether the fixture has that SA healthy.
    healthy: BTreeMap<String, bool>,
}

impl Mirror {
    /// Installs the chart (values from `overrides(namespace)`), starts the simulator and the
    /// operator (`--namespace <ns>` plus `args`, and `env`), and creates the OntapCluster.
    pub async fn start(
        prefix: &str,
        overrides: impl FnOnce(&str) -> serde_json::Value,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let release = Release::install(prefix, overrides).await;
        let ns = release.ns().to_owned();

        let mut records = ontap_sim::generate(NODES, TUNNELS_PER_NODE);
        // Some tunnels down, as on any real cluster: one IKE SA connecting, one dead peer, one
        // IPsec SA not installed.
        let downs = [
            ("ike", json!({"ike": {"state": "connecting"}})),
            ("ike", json!({"ike": {"state": "dead_peer_probe"}})),
            ("ipsec", json!({"ipsec": {"state": "none"}})),
        ];
        let mut healthy = BTreeMap::new();
        for record in &records {
            healthy.insert(record["uuid"].as_str().expect("uuid").to_owned(), true);
        }
        let mut used = BTreeSet::new();
        for (kind, patch) in downs {
            let record = records
                .iter_mut()
                .find(|record| {
                    record["type"] == kind && !used.contains(&record["uuid"].to_string())
                })
                .expect("the fixture has SAs of both types");
            used.insert(record["uuid"].to_string());
            ontap_sim::merge_patch(record, &patch);
            healthy.insert(record["uuid"].as_str().expect("uuid").to_owned(), false);
        }
        let simulator = ontap_sim::start(SimulatorConfig {
            records,
            ..SimulatorConfig::default()
        })
        .await
        .expect("the simulator starts");

        let admin = release.client.clone();
        put_secret(
            &admin,
            &ns,
            CREDENTIALS,
            &[
                ("username", ontap_sim::DEFAULT_USERNAME),
                ("password", ontap_sim::DEFAULT_PASSWORD),
            ],
        )
        .await;
        put_secret(&admin, &ns, CA, &[("ca.crt", &simulator.certificate_pem())]).await;
        let cluster: OntapCluster = serde_json::from_value(json!({
            "apiVersion": "ontap-ipsec.dev/v1alpha1",
            "kind": "OntapCluster",
            "metadata": {"name": CLUSTER},
            "spec": {
                "endpoint": simulator.base_url(),
                "credentialsSecretRef": {"name": CREDENTIALS},
                "tls": {"caSecretRef": {"name": CA}},
                "pollInterval": "10s",
                "countersRefreshInterval": "0s",
            },
        }))
        .expect("a valid OntapCluster");
        Api::<OntapCluster>::namespaced(admin.clone(), &ns)
            .create(&PostParams::default(), &cluster)
            .await
            .expect("the OntapCluster is created");

        // The chart's ServiceAccount exists already; this only mints its token.
        let kubeconfig = service_account_kubeconfig(&admin, &ns, &release.service_account()).await;
        let mut all_args = vec!["--namespace", ns.as_str()];
        all_args.extend_from_slice(args);
        // The Lease the chart's Deployment names and its leader-election Role grants.
        let lease_name = release.lease_name_arg();
        if args.contains(&"--leader-elect") {
            all_args.extend(lease_name.as_deref());
        }
        let mut all_env = vec![("POD_NAMESPACE", ns.as_str())];
        all_env.extend_from_slice(env);
        let operator = OperatorProcess::start(kubeconfig.path(), &all_args, &all_env);
        Self {
            release,
            simulator,
            operator: Some(operator),
            _kubeconfig: kubeconfig,
            healthy,
        }
    }

    fn operator(&mut self) -> &mut OperatorProcess {
        self.operator
            .as_mut()
            .expect("the operator runs until finish")
    }

    /// The running operator's ports on 127.0.0.1: `(metrics, health)`.
    pub fn ports(&self) -> (u16, u16) {
        let operator = self
            .operator
            .as_ref()
            .expect("the operator runs until finish");
        (operator.metrics_port, operator.health_port)
    }

    fn log(&self) -> String {
        self.operator
            .as_ref()
            .map(OperatorProcess::log)
            .unwrap_or_default()
    }

    pub fn mirrored(&self) -> Api<IpsecSecurityAssociation> {
        Api::namespaced(self.release.client.clone(), self.release.ns())
    }

    pub fn expected_names(&self) -> BTreeSet<String> {
        self.healthy
            .keys()
            .map(|uuid| security_association_name(CLUSTER, "", uuid).expect("a name"))
            .collect()
    }

    /// Waits until every SA of the fixture is mirrored with the right `Ready` status and the
    /// OntapCluster is Ready; returns the objects.
    pub async fn wait_for_complete_mirror(&self) -> Vec<IpsecSecurityAssociation> {
        let expected: BTreeMap<String, &str> = self
            .healthy
            .iter()
            .map(|(uuid, up)| {
                (
                    security_association_name(CLUSTER, "", uuid).expect("a name"),
                    if *up { "True" } else { "False" },
                )
            })
            .collect();
        let mirrored = self.mirrored();
        let clusters: Api<OntapCluster> =
            Api::namespaced(self.release.client.clone(), self.release.ns());
        let outcome = tokio::time::timeout(WAIT, async {
            loop {
                let items = mirrored
                    .list(&ListParams::default())
                    .await
                    .map(|list| list.items)
                    .unwrap_or_default();
                let actual: BTreeMap<String, &str> = items
                    .iter()
                    .map(|item| (item.name_any(), ready_status(item)))
                    .collect();
                let cluster_ready = clusters
                    .get(CLUSTER)
                    .await
                    .ok()
                    .and_then(|cluster| cluster.status)
                    .and_then(|status| {
                        find_condition(&status.conditions, CONDITION_READY)
                            .map(|c| c.status.clone())
                    });
                if actual == expected && cluster_ready.as_deref() == Some("True") {
                    return items;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        outcome.unwrap_or_else(|elapsed| {
            panic!(
                "the fixture was not mirrored ({elapsed}); operator log:\n{}",
                self.log()
            )
        })
    }

    /// Waits for the operator's `TunnelDown` Event about `name` (Events need their own rights).
    pub async fn wait_for_tunnel_down_event(&self, name: &str) {
        let events: Api<Event> = Api::namespaced(self.release.client.clone(), self.release.ns());
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let published = events.list(&ListParams::default()).await.is_ok_and(|list| {
                    list.items.iter().any(|event| {
                        event.reason.as_deref() == Some(EVENT_TUNNEL_DOWN)
                            && event.reporting_controller.as_deref() == Some(REPORTING_CONTROLLER)
                            && event.regarding.as_ref().and_then(|r| r.name.as_deref())
                                == Some(name)
                    })
                });
                if published {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "no TunnelDown event for {name}; operator log:\n{}",
            self.log()
        );
    }

    /// Waits until the read-only guard of this release denies an admin's change, i.e. the policy
    /// and its binding have reached the API server's admission cache.
    pub async fn wait_for_guard(&self) {
        let object = self
            .expected_names()
            .into_iter()
            .next()
            .expect("at least one SA");
        let ns = self.release.ns().to_owned();
        wait::until(WAIT, "the admission policy to take effect", || {
            let object = object.clone();
            let ns = ns.clone();
            async move {
                let output = crate::support::k8s::kubectl([
                    "-n",
                    &ns,
                    "label",
                    &format!("ipsecsa/{object}"),
                    "guard-probe=1",
                    "--dry-run=server",
                ]);
                !output.status.success()
            }
        })
        .await;
    }

    /// Takes one healthy IKE SA down in the simulator, asks for a poll, and waits until its
    /// mirror says so; returns the object's name.
    pub async fn take_tunnel_down_and_wait(&self) -> String {
        let uuid = self
            .healthy
            .iter()
            .find(|(uuid, up)| {
                **up && self
                    .simulator
                    .state()
                    .record(uuid)
                    .is_some_and(|record| record["type"] == "ike")
            })
            .map(|(uuid, _)| uuid.clone())
            .expect("a healthy IKE SA");
        self.simulator
            .state()
            .patch_record(&uuid, &json!({"ike": {"state": "connecting"}}))
            .expect("the record is patched");
        let clusters: Api<OntapCluster> =
            Api::namespaced(self.release.client.clone(), self.release.ns());
        let refresh = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: uuid::Uuid::new_v4().to_string()}}});
        clusters
            .patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&refresh))
            .await
            .expect("the refresh annotation is set");
        let name = security_association_name(CLUSTER, "", &uuid).expect("a name");
        let mirrored = self.mirrored();
        let outcome = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(object) = mirrored.get(&name).await
                    && ready_status(&object) == "False"
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        assert!(
            outcome.is_ok(),
            "{name} did not turn Ready=False; operator log:\n{}",
            self.log()
        );
        name
    }

    /// Stops the operator, checks it was never refused anything, and removes the release.
    pub async fn finish(mut self) {
        self.operator().assert_running();
        let log = self
            .operator
            .take()
            .map(OperatorProcess::stop)
            .unwrap_or_default();
        let refused = forbidden_lines(&log);
        assert!(
            refused.is_empty(),
            "the API server refused the operator:\n{}",
            refused.join("\n")
        );
        self.simulator.shutdown().await;
        self.release.cleanup().await;
    }
}

fn ready_status(object: &IpsecSecurityAssociation) -> &str {
    object
        .status
        .as_ref()
        .and_then(|status| find_condition(&status.conditions, CONDITION_READY))
        .map_or("", |condition| condition.status.as_str())
}

async fn put_secret(client: &kube::Client, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap_or_else(|error| panic!("cannot create Secret {name}: {error}"));
}
