//! The control plane as the benchmark sees it: an admin client, the API server's own request
//! counters and CPU time, the CRDs, and namespaces that come and go.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::support::proc_stats::{self, Process};
use crate::support::report::repo_root;

/// Written by `make cluster-up`, relative to the repository root.
const ADMIN_KUBECONFIG: &str = "target/k8s/admin.kubeconfig";
const KUBECTL: &str = "target/k8s/bin/kubectl";
const PID_DIR: &str = "target/k8s/pids";
const CRDS: &str = "crds/crds.yaml";
/// The API group of both kinds, as the API server labels its request counters.
const GROUP: &str = "ontap-ipsec.dev";
/// Request verbs that change something, as `apiserver_request_total` spells them.
const WRITE_VERBS: [&str; 6] = [
    "POST",
    "PUT",
    "PATCH",
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
];
pub const MIRRORED_RESOURCE: &str = "ipsecsecurityassociations";
pub const CLUSTER_RESOURCE: &str = "ontapclusters";
/// Marks the benchmark's namespaces so leftovers can be found.
const NAMESPACE_LABEL: &str = "ontap-ipsec-operator.bench/namespace";

/// An admin connection to the local control plane.
#[derive(Clone)]
pub struct ApiServer {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub version: String,
    apiserver_pid: Option<u32>,
    etcd_pid: Option<u32>,
}

/// Which end of a measured window a snapshot is taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// What the API server and etcd have done so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSnapshot {
    /// Write requests to `IpsecSecurityAssociations` (objects and status).
    pub mirrored_writes: f64,
    /// Write requests to OntapClusters (objects and status).
    pub cluster_writes: f64,
    pub apiserver_cpu: Duration,
    pub etcd_cpu: Duration,
}

impl ServerSnapshot {
    /// The change from `earlier` to `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            mirrored_writes: self.mirrored_writes - earlier.mirrored_writes,
            cluster_writes: self.cluster_writes - earlier.cluster_writes,
            apiserver_cpu: self.apiserver_cpu.saturating_sub(earlier.apiserver_cpu),
            etcd_cpu: self.etcd_cpu.saturating_sub(earlier.etcd_cpu),
        }
    }

    pub fn writes(&self) -> f64 {
        self.mirrored_writes + self.cluster_writes
    }
}

impl ApiServer {
    /// Connects with `KUBECONFIG` or the admin kubeconfig of `make cluster-up`.
    pub async fn connect() -> anyhow::Result<Self> {
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .filter(|value| !value.is_empty())
            .map_or_else(|| repo_root().join(ADMIN_KUBECONFIG), PathBuf::from);
        let parsed = Kubeconfig::read_from(&kubeconfig).with_context(|| {
            format!(
                "reading {}; start the control plane with `make cluster-up`",
                kubeconfig.display()
            )
        })?;
        let config = Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default()).await?;
        let client = Client::try_from(config)?;
        let version = client
            .apiserver_version()
            .await
            .context("the API server does not answer; start it with `make cluster-up`")?
            .git_version;
        Ok(Self {
            client,
            kubeconfig,
            version,
            apiserver_pid: recorded_pid("kube-apiserver"),
            etcd_pid: recorded_pid("etcd"),
        })
    }

    /// True when the API server's and etcd's CPU time can be read.
    pub fn sees_processes(&self) -> bool {
        self.apiserver_pid.is_some() && self.etcd_pid.is_some()
    }

    /// Applies the CRDs (server-side) and waits until both are established.
    pub fn install_crds(&self) -> anyhow::Result<()> {
        self.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", CRDS])?;
        self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/ontapclusters.ontap-ipsec.dev",
            "crd/ipsecsecurityassociations.ontap-ipsec.dev",
        ])
    }

    fn kubectl(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = Command::new(repo_root().join(KUBECTL))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .current_dir(repo_root())
            .output()?;
        ensure!(
            output.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// The API server's write counters for both kinds and the CPU time of it and etcd. At the
    /// start of a window the counters are read first and at its end the CPU time is, so that
    /// serving the benchmark's own `/metrics` request stays outside the window.
    pub async fn snapshot(&self, edge: Edge) -> anyhow::Result<ServerSnapshot> {
        let cpu_before = (cpu(self.apiserver_pid), cpu(self.etcd_pid));
        let request = http::Request::get("/metrics").body(Vec::new())?;
        let text = self.client.request_text(request).await?;
        let (apiserver_cpu, etcd_cpu) = match edge {
            Edge::Start => (cpu(self.apiserver_pid), cpu(self.etcd_pid)),
            Edge::End => cpu_before,
        };
        Ok(ServerSnapshot {
            mirrored_writes: writes(&text, MIRRORED_RESOURCE),
            cluster_writes: writes(&text, CLUSTER_RESOURCE),
            apiserver_cpu,
            etcd_cpu,
        })
    }

    /// Creates `<prefix>-<random>`.
    pub async fn create_namespace(&self, prefix: &str) -> anyhow::Result<String> {
        let name = format!("{prefix}-{:08x}", fastrand::u32(..));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(name)
    }

    /// Deletes a namespace and waits until it is gone, so that its objects' deletion does not
    /// load the API server while the next scenario is measured.
    pub async fn delete_namespace(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let api = Api::<Namespace>::all(self.client.clone());
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        let deadline = Instant::now() + timeout;
        while api.get_opt(name).await?.is_some() {
            if Instant::now() > deadline {
                bail!("namespace {name} still exists after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }
}

/// CPU time of a process, zero when it cannot be read.
fn cpu(pid: Option<u32>) -> Duration {
    pid.and_then(|pid| proc_stats::cpu_time(Process::Pid(pid)))
        .unwrap_or_default()
}

/// The pid `make cluster-up` recorded for a component, if that process still runs.
fn recorded_pid(component: &str) -> Option<u32> {
    let text =
        std::fs::read_to_string(repo_root().join(PID_DIR).join(format!("{component}.pid"))).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    proc_stats::cpu_time(Process::Pid(pid)).map(|_| pid)
}

/// Sum of `apiserver_request_total` over the write verbs for one resource of our group, both
/// the object and its status subresource, whatever the answer. Requests on a whole namespace
/// (the namespace controller emptying a deleted namespace) are left out: the operator never
/// makes them.
fn writes(text: &str, resource: &str) -> f64 {
    let group = format!("group=\"{GROUP}\"");
    let resource = format!("resource=\"{resource}\"");
    let one_object = "scope=\"resource\"";
    text.lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter(|line| {
            line.contains(&group) && line.contains(&resource) && line.contains(one_object)
        })
        .filter(|line| {
            WRITE_VERBS
                .iter()
                .any(|verb| line.contains(&format!("verb=\"{verb}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
