//! ONTAP 9.19's cluster-network SA endpoints: served like the SA collection from 9.19 on, unknown
//! paths before, changed through their own control API, and faulted apart from the SA collection.

use http::StatusCode;
use ontap_sim::{Fault, FaultScope, OntapVersion, SimulatorConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    CLUSTER_NETWORK, JsonBody, Reply, SECURITY_ASSOCIATIONS, Sim, four_records, post_faults, send,
    uuid, uuids,
};

const CONTROL: &str = "/_sim/cluster-network/associations";
const NODES: usize = 2;
const TUNNELS: usize = 5;
/// One `ike` and one `ipsec` SA per tunnel.
const GENERATED: usize = NODES * TUNNELS * 2;

/// A 9.19 simulator with the four hand-made SAs and 20 generated cluster-network SAs.
async fn sim_9_19() -> Sim {
    Sim::start(SimulatorConfig {
        ontap_version: OntapVersion::new(9, 19, 0),
        records: four_records(),
        cluster_network: ontap_sim::generate_cluster_network(NODES, TUNNELS),
        ..SimulatorConfig::default()
    })
    .await
}

/// The uuids of `generate_cluster_network(nodes, tunnels)` in uuid (served) order.
fn generated_uuids(nodes: usize, tunnels: usize) -> Vec<String> {
    let mut uuids: Vec<String> = ontap_sim::generate_cluster_network(nodes, tunnels)
        .iter()
        .map(|record| record["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    uuids.sort();
    uuids
}

fn instance(uuid: &str) -> String {
    format!("{CLUSTER_NETWORK}/{uuid}")
}

#[tokio::test]
async fn collection_pages_through_every_record_with_next_links_carrying_the_query() {
    let sim = sim_9_19().await;
    let pages = sim
        .read_all_at(CLUSTER_NETWORK, "max_records=3&fields=node.name,type")
        .await;
    assert_eq!(pages.len(), GENERATED.div_ceil(3));
    let served: Vec<String> = pages.iter().flat_map(Reply::uuids).collect();
    assert_eq!(
        served,
        generated_uuids(NODES, TUNNELS),
        "every record once, in uuid order"
    );
    assert_eq!(pages[0].body["num_records"], 3);
    assert_eq!(pages[pages.len() - 1].body["num_records"], GENERATED % 3);
    let next = pages[0].next().expect("a next link");
    assert!(
        next.starts_with(&format!("{CLUSTER_NETWORK}?start.uuid="))
            && next.ends_with("&max_records=3&fields=node.name,type"),
        "{next}"
    );
    let record = &pages[0].records()[0];
    assert!(record["node"]["name"].is_string() && record["type"].is_string());
    assert!(
        record.get("local_address").is_none(),
        "only the fields asked for"
    );
    assert_eq!(
        record["_links"]["self"]["href"],
        json!(instance(record["uuid"].as_str().expect("uuid")))
    );
}

#[tokio::test]
async fn collection_filters_orders_and_counts_like_the_sa_collection() {
    let sim = sim_9_19().await;
    let count = sim
        .collection_at(
            CLUSTER_NETWORK,
            "return_records=false&type=ipsec&node.name=cluster1-02",
        )
        .await;
    assert_eq!(count.status, StatusCode::OK, "{}", count.text);
    assert_eq!(count.body["num_records"], TUNNELS);
    assert!(count.body.get("records").is_none());

    let offloading = sim
        .collection_at(
            CLUSTER_NETWORK,
            "ipsec.inbound.offload_bytes=%3E0&return_timeout=0",
        )
        .await;
    assert_eq!(offloading.records().len(), GENERATED / 2);
    assert!(offloading.records().iter().all(|record| {
        record["ipsec"]["inbound"]["offload_bytes"].as_u64() > Some(0) && record["type"].is_null()
    }));

    let ordered = sim
        .collection_at(
            CLUSTER_NETWORK,
            "order_by=remote_address+desc&fields=remote_address",
        )
        .await;
    let addresses: Vec<&str> = ordered
        .records()
        .iter()
        .map(|record| record["remote_address"].as_str().expect("address"))
        .collect();
    assert_eq!(addresses.len(), GENERATED);
    assert!(
        addresses.windows(2).all(|pair| pair[0] >= pair[1]),
        "{addresses:?}"
    );
}

#[tokio::test]
async fn svm_and_scope_are_unknown_fields_on_the_cluster_network_only() {
    let sim = sim_9_19().await;
    let error = sim
        .collection_at(CLUSTER_NETWORK, "fields=svm.name")
        .await
        .ontap_error(StatusCode::BAD_REQUEST, "262197")
        .clone();
    assert_eq!(error["target"], "fields");
    for query in [
        "fields=bogus",
        "max_records=0",
        "return_timeout=121",
        "bogus=1",
    ] {
        let cluster = sim.collection_at(CLUSTER_NETWORK, query).await;
        let sa = sim.collection(query).await;
        assert_eq!(
            (cluster.status, &cluster.body),
            (sa.status, &sa.body),
            "{query}"
        );
        assert!(cluster.body["error"]["code"].is_string(), "{query}");
    }
    sim.collection_at(CLUSTER_NETWORK, "scope=cluster")
        .await
        .ontap_error(StatusCode::BAD_REQUEST, "262179");
    let sa = sim.collection("fields=svm.name").await;
    assert_eq!(sa.status, StatusCode::OK, "{}", sa.text);

    let all = sim.collection_at(CLUSTER_NETWORK, "fields=**").await;
    for record in all.records() {
        assert!(record.get("svm").is_none() && record.get("scope").is_none());
        assert!(record["policy_name"].is_string());
    }
}

#[tokio::test]
async fn instance_get_returns_the_bare_record_and_ontap_errors_for_bad_keys() {
    let sim = sim_9_19().await;
    let key = generated_uuids(NODES, TUNNELS)[0].clone();
    let reply = sim.get(&instance(&key)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["uuid"], json!(key));
    assert!(reply.body.get("records").is_none());
    let spi = match reply.body["type"].as_str() {
        Some("ike") => &reply.body["ike"]["initiator_security_parameter_index"],
        _ => &reply.body["ipsec"]["inbound"]["security_parameter_index"],
    };
    assert!(
        spi.as_str().is_some_and(|spi| spi.starts_with("0x")),
        "{spi}"
    );
    // An SA of the other set is no entry here.
    sim.get(&instance(&uuid("a")))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "4");
    sim.get(&instance("not-a-uuid"))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "2");
    sim.get(&format!("{}/x", instance(&key)))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "262179");
}

#[tokio::test]
async fn endpoints_are_unknown_paths_before_9_19() {
    for version in ["9.18.1", "9.14.1"] {
        let sim = Sim::start(SimulatorConfig {
            ontap_version: version.parse().expect("valid version"),
            cluster_network: ontap_sim::generate_cluster_network(1, 1),
            ..SimulatorConfig::default()
        })
        .await;
        let unknown = sim.get("/api/storage/volumes").await;
        unknown.ontap_error(StatusCode::NOT_FOUND, "3");
        let key = generated_uuids(1, 1)[0].clone();
        for path in [
            CLUSTER_NETWORK.to_owned(),
            format!("{CLUSTER_NETWORK}?max_records=1&fields=bogus"),
            instance(&key),
            format!("{}/x", instance(&key)),
        ] {
            let reply = sim.get(&path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{version} {path}");
            assert_eq!(reply.body, unknown.body, "{version} {path}");
            assert_eq!(reply.content_type, unknown.content_type);
        }
    }
}

#[tokio::test]
async fn without_cluster_network_records_9_19_serves_an_empty_collection() {
    let sim = Sim::start(SimulatorConfig {
        ontap_version: "9.19.1".parse().expect("valid version"),
        records: four_records(),
        ..SimulatorConfig::default()
    })
    .await;
    let reply = sim.collection_at(CLUSTER_NETWORK, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["num_records"], 0);
    assert!(reply.records().is_empty());
    assert!(reply.next().is_none());
    assert_eq!(sim.collection("").await.uuids(), uuids("abcd"));
}

#[tokio::test]
async fn control_api_changes_what_the_cluster_network_endpoints_serve() {
    let sim = sim_9_19().await;
    let listed = sim.get(CONTROL).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(GENERATED));
    assert!(listed.body[0].get("_links").is_none());

    let added = json!({
        "uuid": uuid("c1"), "type": "ike", "node": {"name": "cluster1-01"},
        "ike": {"state": "established", "initiator_security_parameter_index": "0x12345678"}
    });
    let reply = send(sim.request(Method::POST, CONTROL).json_body(&added)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let served = sim.get(&instance(&uuid("c1"))).await;
    assert_eq!(
        served.body["ike"]["initiator_security_parameter_index"],
        "0x12345678"
    );
    assert_eq!(
        sim.collection_at(CLUSTER_NETWORK, "return_records=false")
            .await
            .body["num_records"],
        GENERATED + 1
    );

    let control_instance = format!("{CONTROL}/{}", uuid("c1"));
    let patched = send(
        sim.request(Method::PATCH, &control_instance)
            .json_body(&json!({"ike": {"state": "connecting"}})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(
        sim.get(&instance(&uuid("c1"))).await.body["ike"]["state"],
        "connecting"
    );

    let deleted = send(sim.request(Method::DELETE, &control_instance)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    sim.get(&instance(&uuid("c1")))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "4");
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let missing = send(sim.request(method.clone(), &control_instance).body("{}")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{method}");
    }

    let replaced = send(sim.request(Method::PUT, CONTROL).json_body(&vec![added])).await;
    assert_eq!(replaced.body["num_records"], 1);
    assert_eq!(
        sim.collection_at(CLUSTER_NETWORK, "").await.uuids(),
        [uuid("c1")]
    );
    let refused = send(
        sim.request(Method::PUT, CONTROL)
            .body("[{\"type\": \"ike\"}]"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.collection("").await.uuids(),
        uuids("abcd"),
        "the SA collection never changed"
    );
}

#[tokio::test]
async fn control_rekey_writes_new_0x_spis() {
    let sim = sim_9_19().await;
    let ipsec = ontap_sim::generate_cluster_network(NODES, TUNNELS)[1].clone();
    let old = ipsec["uuid"].as_str().expect("uuid");
    let reply = send(sim.request(Method::POST, &format!("{CONTROL}/{old}/rekey"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let new = reply.body["uuid"].as_str().expect("new uuid");
    assert_ne!(new, old);
    let spi = reply.body["ipsec"]["outbound"]["security_parameter_index"]
        .as_str()
        .expect("spi");
    assert!(spi.starts_with("0x") && spi.len() == 10, "{spi}");
    assert_eq!(reply.body["ipsec"]["outbound"]["bytes"], 0);
    let served = sim.get(&instance(new)).await;
    assert_eq!(
        served.body["ipsec"]["outbound"]["security_parameter_index"],
        spi
    );
    sim.get(&instance(old))
        .await
        .ontap_error(StatusCode::NOT_FOUND, "4");
}

#[tokio::test]
async fn in_process_handle_seeds_and_changes_the_cluster_network_set() {
    let sim = Sim::start(SimulatorConfig {
        ontap_version: OntapVersion::new(9, 19, 0),
        ..SimulatorConfig::default()
    })
    .await;
    let records = sim.state().cluster_network();
    records
        .replace_records(ontap_sim::generate_cluster_network(1, 1))
        .expect("valid records");
    let key = generated_uuids(1, 1)[0].clone();
    records
        .patch_record(&key, &json!({"ike": {"state": "dead_peer_probe"}}))
        .expect("patched");
    assert_eq!(
        sim.get(&instance(&key)).await.body["ike"]["state"],
        "dead_peer_probe"
    );
    records.remove_record(&key).expect("removed");
    assert_eq!(
        sim.collection_at(CLUSTER_NETWORK, "").await.uuids().len(),
        1
    );
    assert!(sim.state().records().is_empty(), "the SA set stays empty");
}

/// Which of CN collection, CN instance, SA collection, SA instance and `/api/cluster` a 503
/// error fault in `scope` hits.
#[tokio::test]
async fn fault_scopes_hit_one_record_set_and_leave_the_other_alone() {
    let sim = sim_9_19().await;
    let key = generated_uuids(NODES, TUNNELS)[0].clone();
    for (scope, expected) in [
        ("cluster_network", [true, true, false, false, false]),
        (
            "cluster_network_collection",
            [true, false, false, false, false],
        ),
        ("security_associations", [false, false, true, true, false]),
        ("collection", [false, false, true, false, false]),
        ("any", [true, true, true, true, true]),
    ] {
        sim.state().clear_faults();
        post_faults(
            &sim,
            &json!({"kind": "error", "status": 503, "scope": scope}),
        )
        .await;
        let mut hit = Vec::new();
        for path in [
            CLUSTER_NETWORK.to_owned(),
            instance(&key),
            SECURITY_ASSOCIATIONS.to_owned(),
            format!("{SECURITY_ASSOCIATIONS}/{}", uuid("a")),
            "/api/cluster".to_owned(),
        ] {
            hit.push(sim.get(&path).await.status == StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(hit, expected, "{scope}");
    }
}

/// What a shaped page must look like, given the uuid of the first record.
type PageCheck = fn(&Reply, &str);

#[tokio::test]
async fn page_faults_shape_the_cluster_network_collection_only_when_scoped_to_it() {
    let sim = sim_9_19().await;
    let query = "max_records=3&fields=node.name";
    let first = generated_uuids(NODES, TUNNELS)[0].clone();
    let cases: [(Fault, PageCheck); 5] = [
        (Fault::short_pages(2), |page, _| {
            assert_eq!(page.records().len(), 2);
            assert!(page.next().is_some());
        }),
        (Fault::empty_pages(), |page, first| {
            assert!(page.records().is_empty());
            let next = page.next().expect("next link");
            assert!(next.contains(&format!("start.uuid={first}")), "{next}");
        }),
        (Fault::error_in_ok_for_node("cluster1-02"), |page, _| {
            assert_eq!(page.body["error"]["code"], "13");
            assert!(
                page.records()
                    .iter()
                    .all(|record| record["node"]["name"] == "cluster1-01")
            );
        }),
        (Fault::num_records_mismatch(1), |page, _| {
            assert_eq!(page.records().len(), 3);
            assert_eq!(page.body["num_records"], 4);
        }),
        (Fault::oversized_page(1), |page, _| {
            assert_eq!(page.records().len(), 4);
        }),
    ];
    for (fault, check) in cases {
        sim.state().clear_faults();
        sim.state()
            .set_fault(
                fault
                    .clone()
                    .with_scope(FaultScope::ClusterNetworkCollection),
            )
            .expect("valid fault");
        let untouched = sim.collection(query).await;
        assert_eq!(
            untouched.records().len(),
            3,
            "{fault:?}: {}",
            untouched.text
        );
        assert_eq!(untouched.body["num_records"], 3, "{fault:?}");
        assert!(untouched.body.get("error").is_none(), "{fault:?}");
        let shaped = sim.collection_at(CLUSTER_NETWORK, query).await;
        assert_eq!(shaped.status, StatusCode::OK, "{fault:?}: {}", shaped.text);
        check(&shaped, &first);
    }

    sim.state().clear_faults();
    sim.state()
        .set_fault(Fault::short_pages(1).with_scope(FaultScope::Collection))
        .expect("valid fault");
    assert_eq!(
        sim.collection_at(CLUSTER_NETWORK, query)
            .await
            .records()
            .len(),
        3
    );
    assert_eq!(sim.collection(query).await.records().len(), 1);
}

#[tokio::test]
async fn from_page_counts_the_pages_of_the_cluster_network_collection() {
    let sim = sim_9_19().await;
    sim.state()
        .set_fault(
            Fault::error(500)
                .with_scope(FaultScope::ClusterNetwork)
                .from_page(2),
        )
        .expect("valid fault");
    let first = sim.collection_at(CLUSTER_NETWORK, "max_records=5").await;
    assert_eq!(first.status, StatusCode::OK);
    // An SA read in between neither fails nor restarts the cluster-network page count.
    assert_eq!(sim.collection("max_records=1").await.status, StatusCode::OK);
    let second = sim.get(&first.next().expect("next link")).await;
    second.ontap_error(StatusCode::INTERNAL_SERVER_ERROR, "1");
}

#[tokio::test]
async fn stats_count_cluster_network_requests_and_records() {
    let sim = sim_9_19().await;
    let key = generated_uuids(NODES, TUNNELS)[0].clone();
    sim.collection_at(CLUSTER_NETWORK, "").await;
    sim.get(&instance(&key)).await;
    sim.collection("").await;
    let stats: Value = sim.get("/_sim/stats").await.body;
    assert_eq!(stats["cluster_network_requests"], 2);
    assert_eq!(stats["cluster_network_records"], GENERATED);
    assert_eq!(stats["records"], 4);
    assert_eq!(stats["requests"], 3);
}
