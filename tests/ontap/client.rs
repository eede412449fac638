//! `OntapClient` against `ontap-sim`: paging, filters, errors, TLS, timeouts and faults.

use std::collections::HashSet;
use std::time::Duration;

use ontap_ipsec_operator::ontap::model::SecurityAssociationType;
use ontap_ipsec_operator::ontap::{OntapClient, OntapError, Selector, health};
use ontap_sim::{Fault, FaultScope, OntapVersion, SimulatorConfig};
use serde_json::json;

use super::{simulator_from, simulator_with, trusted_config};

/// A fault and a check of the error it must give.
type Expectation = fn(&OntapError) -> bool;

fn uuids(records: &[ontap_ipsec_operator::ontap::SecurityAssociation]) -> HashSet<String> {
    records.iter().map(|record| record.uuid.clone()).collect()
}

#[tokio::test]
async fn paging_collects_every_sa_across_many_pages() {
    let records = ontap_sim::generate(4, 400);
    let expected: HashSet<String> = records
        .iter()
        .map(|record| record["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    let (simulator, client) = simulator_with(records).await;
    let listing = client
        .security_associations(&Selector::default())
        .await
        .expect("listing");
    assert_eq!(listing.records.len(), 3200);
    assert_eq!(listing.pages, 7, "3200 records in pages of 500");
    assert_eq!(uuids(&listing.records), expected);
    assert_eq!(simulator.state().request_count(), 7);
    simulator.shutdown().await;
}

#[tokio::test]
async fn short_and_empty_pages_with_next_links_are_followed_to_the_end() {
    let (simulator, client) = simulator_with(ontap_sim::generate(2, 150)).await;
    // The first fault that shapes a page wins, so the three empty pages go in first.
    simulator
        .state()
        .set_fault(Fault::empty_pages().from_page(2).count(3))
        .expect("fault accepted");
    simulator
        .state()
        .set_fault(Fault::short_pages(37).with_scope(FaultScope::Collection))
        .expect("fault accepted");
    let listing = client
        .security_associations(&Selector::default())
        .await
        .expect("listing");
    assert_eq!(listing.records.len(), 600);
    assert_eq!(uuids(&listing.records).len(), 600, "no duplicates");
    // 600 records in pages of 37 take 17 pages; the three empty ones come on top.
    assert_eq!(
        listing.pages,
        17 + 3,
        "short and empty pages were both served"
    );
    simulator.shutdown().await;
}

#[tokio::test]
async fn selector_lists_become_ontap_filters() {
    let (simulator, client) = simulator_with(ontap_sim::generate(3, 20)).await;
    let all = client
        .security_associations(&Selector::default())
        .await
        .expect("listing")
        .records;
    let node = all[0].node.clone().and_then(|n| n.name).expect("node name");
    let selector = Selector {
        nodes: vec![node.clone()],
        types: vec!["ipsec".into()],
        ..Selector::default()
    };
    let filtered = client
        .security_associations(&selector)
        .await
        .expect("listing")
        .records;
    let expected = all
        .iter()
        .filter(|r| {
            r.sa_type == Some(SecurityAssociationType::Ipsec)
                && r.node.as_ref().and_then(|n| n.name.as_deref()) == Some(&node)
        })
        .count();
    assert!(expected > 0);
    assert_eq!(filtered.len(), expected);
    let svms: Vec<String> = all
        .iter()
        .filter_map(|r| r.svm.as_ref().and_then(|s| s.name.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .take(2)
        .collect();
    let by_svm = client
        .security_associations(&Selector {
            svms: svms.clone(),
            ..Selector::default()
        })
        .await
        .expect("listing")
        .records;
    assert!(!by_svm.is_empty());
    assert!(by_svm.iter().all(|r| {
        r.svm
            .as_ref()
            .and_then(|s| s.name.as_ref())
            .is_some_and(|name| svms.contains(name))
    }));
    simulator.shutdown().await;
}

#[tokio::test]
async fn realistic_records_decode_and_evaluate() {
    let records = vec![
        json!({"uuid": "00000000-0000-0000-0000-000000000001", "type": "ike", "scope": "cluster",
            "node": {"name": "c1-01", "uuid": "n1"}, "policy_name": "cluster_policy",
            "local_address": "fd20:8b1e:b255:832e::1", "remote_address": "fd20:8b1e:b255:832e::2",
            "cipher_suite": "suiteb_gcm256", "lifetime": 86400,
            "ike": {"state": "ESTABLISHED", "version": 2, "authentication": "psk", "is_initiator": true,
                "initiator_security_parameter_index": "0x1A2B3C4D5E6F7081",
                "responder_security_parameter_index": "8192a3b4c5d6e7f8"}}),
        json!({"uuid": "00000000-0000-0000-0000-000000000002", "type": "ipsec", "scope": "svm",
            "svm": {"name": "vs0", "uuid": "s1"}, "node": {"name": "c1-01", "uuid": "n1"},
            "policy_name": "p1", "local_address": "10.0.0.1", "remote_address": "10.0.0.2",
            "ipsec": {"state": "installed", "action": "esp_transport",
                "inbound": {"security_parameter_index": "0xC0FFEE01", "bytes": 10, "packets": 1},
                "outbound": {"security_parameter_index": "c0ffee02", "bytes": 20, "packets": 2}}}),
    ];
    let (simulator, client) = simulator_from(SimulatorConfig {
        records,
        ontap_version: "9.10.1".parse::<OntapVersion>().expect("version"),
        ..SimulatorConfig::default()
    })
    .await;
    let listing = client
        .security_associations(&Selector::default())
        .await
        .expect("listing");
    let ike = &listing.records[0];
    assert_eq!(ike.svm, None);
    let ike_state = ike.ike.clone().expect("ike");
    assert_eq!(
        ike_state.version.as_deref(),
        Some("2"),
        "9.10 sends a string"
    );
    assert_eq!(
        ike_state.initiator_spi.expect("spi").as_str(),
        "1a2b3c4d5e6f7081"
    );
    assert_eq!(
        health::ready(ike).status,
        ontap_ipsec_operator::crd::ConditionStatus::True
    );
    let ipsec = &listing.records[1];
    let inbound = ipsec
        .ipsec
        .clone()
        .and_then(|i| i.inbound)
        .expect("inbound");
    assert_eq!(inbound.spi.expect("spi").as_str(), "c0ffee01");
    assert!(inbound.bytes.expect("bytes") >= 10, "counters only grow");
    assert_eq!(health::ready(ipsec).reason, "Installed");
    let identity = client.cluster().await.expect("cluster");
    assert_eq!(
        identity.version.and_then(|v| v.release()).as_deref(),
        Some("9.10.1")
    );
    simulator.shutdown().await;
}

#[tokio::test]
async fn counters_grow_between_polls() {
    let (simulator, client) = simulator_with(ontap_sim::generate(1, 1)).await;
    let bytes = |records: &[ontap_ipsec_operator::ontap::SecurityAssociation]| {
        records
            .iter()
            .filter_map(|r| r.ipsec.as_ref()?.inbound.as_ref()?.bytes)
            .sum::<u64>()
    };
    let first = client
        .security_associations(&Selector::default())
        .await
        .expect("first");
    let second = client
        .security_associations(&Selector::default())
        .await
        .expect("second");
    assert!(bytes(&second.records) > bytes(&first.records));
    simulator.shutdown().await;
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let (simulator, _) = simulator_with(ontap_sim::generate(1, 1)).await;
    let client = OntapClient::new(trusted_config(&simulator, "wrong")).expect("client");
    let error = client
        .security_associations(&Selector::default())
        .await
        .expect_err("rejected");
    assert!(matches!(error, OntapError::Unauthorized { .. }), "{error}");
    assert!(
        error.to_string().contains("User is not authorized"),
        "{error}"
    );
    simulator.shutdown().await;
}

#[tokio::test]
async fn each_ontap_error_maps_to_its_typed_error() {
    let (simulator, client) = simulator_with(ontap_sim::generate(1, 2)).await;
    let state = simulator.state();
    let cases: Vec<(Fault, Expectation)> = vec![
        (
            Fault::error_with(403, "6", "not authorized for that command"),
            |e| matches!(e, OntapError::Forbidden { .. }),
        ),
        (
            Fault::error_with(404, "4", "entry doesn't exist"),
            |e| matches!(e, OntapError::NotFound { code, .. } if code == "4"),
        ),
        (
            Fault::error_with(400, "262179", "Unexpected argument \"x\"."),
            |e| matches!(e, OntapError::Api { status: 400, code, .. } if code == "262179"),
        ),
        (Fault::error(503), |e| {
            matches!(e, OntapError::Api { status: 503, .. }) && e.is_transient()
        }),
        (Fault::unauthorized(), |e| {
            matches!(e, OntapError::Unauthorized { .. })
        }),
        (Fault::malformed_json(), |e| {
            matches!(e, OntapError::Decode { .. })
        }),
        (Fault::drop_connection(), |e| {
            matches!(e, OntapError::Transport { .. })
        }),
    ];
    for (fault, expected) in cases {
        state.set_fault(fault.clone()).expect("fault accepted");
        let error = client
            .security_associations(&Selector::default())
            .await
            .expect_err("fault fails the listing");
        assert!(expected(&error), "{fault:?} gave {error:?}");
        state.clear_faults();
    }
    simulator.shutdown().await;
}

#[tokio::test]
async fn a_fault_on_a_later_page_fails_the_whole_listing() {
    let (simulator, client) = simulator_with(ontap_sim::generate(2, 300)).await;
    simulator
        .state()
        .set_fault(Fault::malformed_json().from_page(2))
        .expect("fault accepted");
    let error = client
        .security_associations(&Selector::default())
        .await
        .expect_err("incomplete listings are errors");
    assert!(matches!(error, OntapError::Decode { .. }), "{error}");
    simulator.shutdown().await;
}

#[tokio::test]
async fn a_missing_endpoint_on_old_releases_is_code_3() {
    let (simulator, client) = simulator_from(SimulatorConfig {
        ontap_version: "9.7.0".parse::<OntapVersion>().expect("version"),
        ..SimulatorConfig::default()
    })
    .await;
    let error = client
        .security_associations(&Selector::default())
        .await
        .expect_err("absent before 9.8");
    assert!(
        matches!(&error, OntapError::NotFound { code, .. } if code == "3"),
        "{error}"
    );
    let identity = client.cluster().await.expect("cluster");
    assert!(
        identity
            .version
            .expect("version")
            .lacks_security_association_endpoint()
    );
    simulator.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let (simulator, _) = simulator_with(vec![]).await;
    let mut config = trusted_config(&simulator, ontap_sim::DEFAULT_PASSWORD);
    config.tls.ca_bundle_pem = None;
    let client = OntapClient::new(config).expect("client");
    let error = client
        .cluster()
        .await
        .expect_err("system roots do not trust the simulator");
    assert!(matches!(error, OntapError::Tls { .. }), "{error}");
    simulator.shutdown().await;
}

#[tokio::test]
async fn server_name_override_verifies_against_that_name() {
    let (simulator, _) = simulator_with(vec![]).await;
    let mut config = trusted_config(&simulator, ontap_sim::DEFAULT_PASSWORD);
    config.tls.server_name = Some("localhost".into());
    OntapClient::new(config.clone())
        .expect("client")
        .cluster()
        .await
        .expect("the certificate names localhost");
    config.tls.server_name = Some("cluster1.example.com".into());
    let error = OntapClient::new(config)
        .expect("client")
        .cluster()
        .await
        .expect_err("the certificate does not name cluster1");
    assert!(matches!(error, OntapError::Tls { .. }), "{error}");
    simulator.shutdown().await;
}

#[tokio::test]
async fn insecure_skip_verify_accepts_an_untrusted_certificate() {
    let (simulator, _) = simulator_with(vec![]).await;
    let mut config = trusted_config(&simulator, ontap_sim::DEFAULT_PASSWORD);
    config.tls.ca_bundle_pem = None;
    config.tls.insecure_skip_verify = true;
    OntapClient::new(config)
        .expect("client")
        .cluster()
        .await
        .expect("verification is off");
    simulator.shutdown().await;
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let (simulator, _) = simulator_with(ontap_sim::generate(1, 1)).await;
    simulator
        .state()
        .set_fault(Fault::latency(Duration::from_secs(3)))
        .expect("fault accepted");
    let mut config = trusted_config(&simulator, ontap_sim::DEFAULT_PASSWORD);
    config.timeout = Duration::from_millis(500);
    let client = OntapClient::new(config).expect("client");
    let error = client
        .security_associations(&Selector::default())
        .await
        .expect_err("too slow");
    assert!(matches!(error, OntapError::Timeout { .. }), "{error}");
    simulator.shutdown().await;
}

#[tokio::test]
async fn a_stopped_simulator_is_a_transport_error() {
    let (simulator, client) = simulator_with(vec![]).await;
    simulator.shutdown().await;
    let error = client.cluster().await.expect_err("nothing listens");
    assert!(matches!(error, OntapError::Transport { .. }), "{error}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn the_password_never_appears_in_errors_or_debug_output() {
    let (simulator, _) = simulator_with(vec![]).await;
    let config = trusted_config(&simulator, "s3cr3t-passw0rd");
    let client = OntapClient::new(config).expect("client");
    let error = client.cluster().await.expect_err("wrong password");
    let text = format!("{error} {error:?} {client:?}");
    assert!(!text.contains("s3cr3t-passw0rd"), "{text}");
    simulator.shutdown().await;
}

#[tokio::test]
async fn answers_that_are_partial_oversized_or_endless_fail_the_listing_at_bounded_cost() {
    let (simulator, client) = simulator_with(ontap_sim::generate(2, 300)).await;
    let cases: Vec<(Fault, Expectation)> = vec![
        (
            Fault::error_in_ok().from_page(2),
            |e| matches!(e, OntapError::IncompleteListing { message, .. } if !message.is_empty()),
        ),
        (
            Fault::num_records_mismatch(-1).with_scope(FaultScope::Collection),
            |e| matches!(e, OntapError::IncompleteListing { message, .. } if message.contains("num_records")),
        ),
        (
            Fault::oversized_page(1).with_scope(FaultScope::Collection),
            |e| {
                matches!(
                    e,
                    OntapError::OversizedPage {
                        records: 501,
                        requested: 500,
                        ..
                    }
                )
            },
        ),
        (
            Fault::endless_body().with_scope(FaultScope::Collection),
            |e| matches!(e, OntapError::ResponseTooLarge { .. }),
        ),
    ];
    for (fault, expected) in cases {
        simulator.state().clear_faults();
        simulator.state().set_fault(fault.clone()).expect("fault");
        let started = std::time::Instant::now();
        let error = client
            .security_associations(&Selector::default())
            .await
            .expect_err("the listing must fail");
        assert!(expected(&error), "{fault:?}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{fault:?} took {:?}",
            started.elapsed()
        );
    }
    simulator.state().clear_faults();
    let listing = client
        .security_associations(&Selector::default())
        .await
        .expect("a clean listing afterwards");
    assert_eq!(listing.records.len(), 1200);
    simulator.shutdown().await;
}

#[tokio::test]
async fn a_listing_longer_than_the_limit_fails_before_reading_it_all() {
    let simulator = ontap_sim::start(SimulatorConfig {
        records: ontap_sim::generate(2, 600),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let mut config = super::trusted_config(&simulator, ontap_sim::DEFAULT_PASSWORD);
    config.limits.max_security_associations = 1000;
    let client = OntapClient::new(config).expect("client");
    let error = client
        .security_associations(&Selector::default())
        .await
        .expect_err("2,400 SAs are over the limit");
    assert!(
        matches!(
            error,
            OntapError::TooManySecurityAssociations { limit: 1000 }
        ),
        "{error}"
    );
    // Pages of 500: the third crosses 1,000, and the two after it are never asked for.
    assert_eq!(simulator.state().request_count(), 3);
    simulator.shutdown().await;
}
