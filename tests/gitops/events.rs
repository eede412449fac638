//! The Argo Events example depends on the operator writing an SA only when ONTAP reports a change:
//! the watch it uses stays silent while polls find nothing new, and a tunnel going down and up
//! gives update events whose Ready condition differs from the previous object's, which is what the
//! Sensor's filter selects. The KEDA and Argo Events manifests are checked for the names they use;
//! their CRDs are not installed here, so no dry run.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{ApiResource, DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt as _};
use ontap_ipsec_operator::crd::IpsecSecurityAssociation;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::capture::{mirrored_name, wait_association};
use crate::harness::{CLUSTER, Harness};
use crate::manifests::{ARGO_EVENTS, KEDA, documents, path};

/// The labels of the operator's per-SA metrics (docs: metrics), which a query may select on.
const SA_METRIC_LABELS: [&str; 8] = [
    "ontapcluster",
    "namespace",
    "name",
    "type",
    "node",
    "svm",
    "policy",
    "remote_address",
];

/// The subset of GJSON path syntax the Sensor uses: dotted keys and `#(key=="value")` queries.
fn gjson_get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    let mut rest = path;
    while !rest.is_empty() {
        let (segment, remaining) = if rest.starts_with("#(") {
            let end = rest.find(')').expect("a query closes");
            (&rest[..=end], rest[end + 1..].trim_start_matches('.'))
        } else {
            rest.split_once('.').unwrap_or((rest, ""))
        };
        current = if let Some(query) = segment
            .strip_prefix("#(")
            .and_then(|query| query.strip_suffix(')'))
        {
            let (key, wanted) = query.split_once("==").expect("only == queries");
            let wanted = wanted.trim_matches('"');
            current
                .as_array()?
                .iter()
                .find(|item| item[key] == wanted)?
        } else {
            assert!(
                !segment.contains(['*', '?', '|', '#', '@']),
                "unsupported GJSON syntax in {path}"
            );
            current.get(segment)?
        };
        rest = remaining;
    }
    Some(current)
}

/// The updates the Sensor's filter lets through, as (SA name, new Ready status), each built as the
/// resource `EventSource` sends it: `{type, body, oldBody}`, `oldBody` being the object as last seen.
fn sensor_selections(
    updates: &[DynamicObject],
    last_seen: &mut BTreeMap<String, Value>,
) -> Vec<(String, String)> {
    let sensor = documents(&path(ARGO_EVENTS).join("sensor.yaml")).remove(0);
    let dependency = &sensor["spec"]["dependencies"][0];
    let filter = &dependency["filters"]["exprs"][0];
    // The filter's expression is not evaluated here (no govaluate); it must be this comparison.
    assert_eq!(filter["expr"], "ready != previous");
    let field = |name: &str| {
        filter["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|field| field["name"] == name)
            .expect("field")["path"]
            .as_str()
            .expect("path")
            .to_owned()
    };
    let (ready_path, previous_path) = (field("ready"), field("previous"));
    let parameters = sensor["spec"]["triggers"][0]["template"]["k8s"]["parameters"]
        .as_array()
        .expect("parameters");
    let mut selected = Vec::new();
    for object in updates {
        let body = serde_json::to_value(object).expect("json");
        let name = object.name_any();
        let old_body = last_seen
            .insert(name.clone(), body.clone())
            .expect("an update follows a known object");
        let event = json!({"type": "UPDATE", "body": body, "oldBody": old_body});
        let ready = gjson_get(&event, &ready_path)
            .and_then(Value::as_str)
            .expect("ready resolves");
        let previous = gjson_get(&event, &previous_path)
            .and_then(Value::as_str)
            .expect("previous resolves");
        if ready != previous {
            for parameter in parameters {
                let key = parameter["src"]["dataKey"].as_str().expect("dataKey");
                assert!(
                    gjson_get(&event, key).is_some_and(Value::is_string),
                    "{key} does not resolve to a string"
                );
            }
            selected.push((name, ready.to_owned()));
        }
    }
    selected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sa_watch_events_are_silent_in_steady_state_and_the_sensor_filter_selects_ready_changes() {
    let records = ontap_sim::generate(1, 2);
    let harness = Harness::start(
        "gitops-events",
        records.clone(),
        json!({"pollInterval": "1h"}),
    )
    .await;
    harness.wait_for_mirror(records.len()).await;
    harness
        .wait_cluster_condition(CLUSTER, "TunnelsHealthy", "True", "AllTunnelsUp")
        .await;

    // Watch from the current state, as the EventSource's informer does after its initial list.
    let resource = ApiResource::erase::<IpsecSecurityAssociation>(&());
    let api: Api<DynamicObject> =
        Api::namespaced_with(harness.client.clone(), harness.ns(), &resource);
    let listed = api.list(&ListParams::default()).await.expect("list");
    let mut last_seen: BTreeMap<String, Value> = listed
        .items
        .iter()
        .map(|item| (item.name_any(), serde_json::to_value(item).expect("json")))
        .collect();
    let version = listed.metadata.resource_version.expect("list version");
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let stream = api
        .watch(&WatchParams::default().timeout(290), &version)
        .await
        .expect("watch");
    let watcher = tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Ok(Some(event)) = stream.try_next().await {
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    let drain = |receiver: &mut mpsc::UnboundedReceiver<WatchEvent<DynamicObject>>| {
        let mut updates = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            match event {
                WatchEvent::Modified(object) => updates.push(object),
                WatchEvent::Added(object) | WatchEvent::Deleted(object) => {
                    panic!("unexpected add or delete of {}", object.name_any())
                }
                WatchEvent::Bookmark(_) | WatchEvent::Error(_) => {}
            }
        }
        updates
    };

    // Steady state: three polls that find nothing new write nothing.
    for _ in 0..3 {
        harness.refresh(CLUSTER).await;
        harness.wait_for_polls(1).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = drain(&mut receiver);
    assert!(
        steady.is_empty(),
        "{} update events in steady state",
        steady.len()
    );

    // The first tunnel's IKE SA goes down and comes back.
    let uuid = records[0]["uuid"].as_str().expect("uuid");
    for (state, status, reason) in [
        ("connecting", "False", "Connecting"),
        ("established", "True", "Established"),
    ] {
        harness
            .simulator()
            .state()
            .patch_record(uuid, &json!({"ike": {"state": state}}))
            .expect("patched");
        harness.refresh(CLUSTER).await;
        wait_association(&harness, &records[0], status, reason).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let updates = drain(&mut receiver);
    watcher.abort();

    let selected = sensor_selections(&updates, &mut last_seen);
    let name = mirrored_name(&records[0]);
    println!(
        "{} update events for the flap, {} selected by the Sensor filter",
        updates.len(),
        selected.len()
    );
    assert_eq!(
        selected,
        [
            (name.clone(), "False".to_owned()),
            (name, "True".to_owned())
        ],
        "{} updates",
        updates.len()
    );
    harness.finish().await;
}

#[test]
fn the_keda_query_selects_one_peer_by_labels_the_operator_exports() {
    let scaled_object = documents(&path(KEDA).join("scaledobject.yaml")).remove(0);
    assert_eq!(
        (
            scaled_object["apiVersion"].as_str(),
            scaled_object["kind"].as_str()
        ),
        (Some("keda.sh/v1alpha1"), Some("ScaledObject"))
    );
    let trigger = &scaled_object["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    let query = trigger["metadata"]["query"].as_str().expect("query");
    let selector = query
        .strip_prefix("min(ontap_ipsec_sa_up{")
        .and_then(|rest| rest.strip_suffix("})"))
        .unwrap_or_else(|| panic!("unexpected query {query}"));
    let labels: Vec<&str> = selector
        .split(',')
        .map(|matcher| matcher.split_once('=').expect("label matcher").0)
        .collect();
    for label in &labels {
        assert!(
            SA_METRIC_LABELS.contains(label),
            "{label} is not a label of ontap_ipsec_sa_up"
        );
    }
    assert!(
        labels.contains(&"remote_address") && labels.contains(&"ontapcluster"),
        "{labels:?}"
    );
    // Every threshold is a string, as KEDA's trigger metadata requires.
    for (key, value) in trigger["metadata"].as_object().expect("metadata") {
        assert!(value.is_string(), "{key}");
    }
}

#[test]
fn the_argo_events_manifests_watch_and_filter_the_operator_kind() {
    let source = documents(&path(ARGO_EVENTS).join("eventsource.yaml")).remove(0);
    let sensor = documents(&path(ARGO_EVENTS).join("sensor.yaml")).remove(0);
    assert_eq!(source["kind"], "EventSource");
    assert_eq!(sensor["kind"], "Sensor");
    let (event_name, watched) = source["spec"]["resource"]
        .as_object()
        .expect("resource events")
        .iter()
        .next()
        .expect("one event");
    assert_eq!(
        (
            watched["group"].as_str(),
            watched["version"].as_str(),
            watched["resource"].as_str()
        ),
        (
            Some("ontap-ipsec.dev"),
            Some("v1alpha1"),
            Some("ipsecsecurityassociations")
        )
    );
    assert_eq!(watched["eventTypes"], json!(["UPDATE"]));
    let dependency = &sensor["spec"]["dependencies"][0];
    assert_eq!(dependency["eventSourceName"], source["metadata"]["name"]);
    assert_eq!(dependency["eventName"].as_str(), Some(event_name.as_str()));
}
