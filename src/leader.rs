//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas only one polls
//! and writes. Built on kube-lease-manager: maintained, made for kube 5, and it takes the Lease
//! by server-side apply, so two candidates can never both believe they hold it.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Default name of the Lease in the operator's namespace (`--lease-name`).
pub const LEASE_NAME: &str = "ontap-ipsec-operator";
/// A standby takes over at most this long after the leader stopped renewing.
pub const LEASE_DURATION_SECONDS: u64 = 15;
/// The leader renews this long before the Lease would expire.
const LEASE_GRACE_SECONDS: u64 = 5;
/// How long a stopping leader waits for its Lease to be released.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running candidacy: watch `is_leader` and call [`Candidacy::release`] on the way out.
#[derive(Debug)]
pub struct Candidacy {
    pub is_leader: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Candidacy {
    /// Starts competing for the Lease `name` in `namespace` as `identity`.
    pub async fn start(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
    ) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client, name)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(LEASE_DURATION_SECONDS)
            .with_grace(LEASE_GRACE_SECONDS)
            .build()
            .await?;
        let (is_leader, task) = manager.watch().await;
        Ok(Self { is_leader, task })
    }

    /// Completes when this process holds the Lease.
    pub async fn acquired(&mut self) {
        let _ = self.is_leader.wait_for(|leading| *leading).await;
    }

    /// Completes when this process no longer holds the Lease.
    pub async fn lost(mut receiver: watch::Receiver<bool>) {
        let _ = receiver.wait_for(|leading| !*leading).await;
    }

    /// Gives the Lease up so a standby can take over at once, waiting a few seconds at most.
    pub async fn release(self) {
        drop(self.is_leader);
        match tokio::time::timeout(RELEASE_TIMEOUT, self.task).await {
            Ok(Ok(Ok(_))) => tracing::info!("lease released"),
            Ok(Ok(Err(error))) => tracing::warn!(%error, "releasing the lease failed"),
            Ok(Err(error)) => tracing::warn!(%error, "lease task ended abnormally"),
            Err(_) => tracing::warn!("lease not released in time; it will expire"),
        }
    }
}
