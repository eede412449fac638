//! The physical limit: the same objects the operator would write, created by a bare kube
//! client as fast as the API server takes them, with bounded concurrency.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource as _};
use ontap_ipsec_operator::controller::plan::{self, Owner, StatusPolicy};
use ontap_ipsec_operator::crd::{
    IpsecSecurityAssociation, IpsecSecurityAssociationStatus, LABEL_MANAGED_BY,
};
use ontap_ipsec_operator::ontap::SecurityAssociation;
use serde_json::json;

use crate::api_server::ApiServer;

/// Requests in flight at once. The operator keeps up to 16 writes in flight per cluster and
/// polls up to 8 clusters at once; 32 lets the bare client saturate this API server too.
pub const CONCURRENCY: usize = 32;
/// Field manager of the bare client's status writes.
const FIELD_MANAGER: &str = "bench-bare-client";
/// Keeps the bare objects out of any operator's watch, which selects on this label.
const NOT_MANAGED: &str = "bench-bare-client";
const COUNTERS_REFRESH: Duration = Duration::from_secs(15 * 60);

/// How long the bare client took.
#[derive(Debug, Clone, Copy)]
pub struct BareTimes {
    /// One create per object.
    pub create: Duration,
    /// One status apply per object, after all creates.
    pub status: Duration,
}

/// The objects and statuses the operator would write for `clusters` (name and ONTAP records),
/// without owner references (their owners do not exist here) and outside the operator's label.
pub fn desired_objects(
    namespace: &str,
    clusters: &[(String, Vec<serde_json::Value>)],
) -> anyhow::Result<Vec<(IpsecSecurityAssociation, IpsecSecurityAssociationStatus)>> {
    let mut objects = Vec::new();
    for (name, records) in clusters {
        let owner = Owner {
            cluster: ontap_ipsec_operator::crd::ClusterId::new(namespace, name),
            uid: uuid::Uuid::new_v4().to_string(),
        };
        let records: Vec<SecurityAssociation> = records
            .iter()
            .map(|record| serde_json::from_value(record.clone()))
            .collect::<Result<_, _>>()?;
        let policy = StatusPolicy {
            // The default countersRefreshInterval (15m), as the OntapClusters of the benchmark use.
            counters_refresh_interval: Some(COUNTERS_REFRESH),
            now: jiff::Timestamp::now(),
            rewrite_everything: false,
        };
        for desired in plan::plan(
            &owner,
            &ontap_ipsec_operator::controller::source::DATA,
            records.iter().cloned(),
            &HashMap::new(),
            policy,
        )
        .objects
        {
            // With nothing in the API server yet, every SA needs its object and status written.
            let write = desired.write.context("a new SA needs writing")?;
            let mut object = write.object.context("a new SA's object needs writing")?;
            object.metadata.owner_references = None;
            if let Some(labels) = object.metadata.labels.as_mut() {
                labels.insert(LABEL_MANAGED_BY.to_owned(), NOT_MANAGED.to_owned());
            }
            objects.push((object, write.status));
        }
    }
    Ok(objects)
}

/// Creates every object, then applies every status, timing each pass.
pub async fn create(
    server: &ApiServer,
    namespace: &str,
    objects: &[(IpsecSecurityAssociation, IpsecSecurityAssociationStatus)],
) -> anyhow::Result<BareTimes> {
    let api: Api<IpsecSecurityAssociation> = Api::namespaced(server.client.clone(), namespace);
    let started = Instant::now();
    stream::iter(objects.iter().map(|(object, _)| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), object).await.map(drop) }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    let create = started.elapsed();

    let started = Instant::now();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    stream::iter(objects.iter().map(|(object, status)| {
        let api = api.clone();
        let params = params.clone();
        async move {
            let name = object.metadata.name.clone().unwrap_or_default();
            let body = json!({
                "apiVersion": IpsecSecurityAssociation::api_version(&()),
                "kind": IpsecSecurityAssociation::kind(&()),
                "metadata": {"name": name},
                "status": status,
            });
            api.patch_status(&name, &params, &Patch::Apply(&body))
                .await
                .map(drop)
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    Ok(BareTimes {
        create,
        status: started.elapsed(),
    })
}
