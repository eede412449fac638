//! Arbitrary records served by the simulator over real HTTPS and read by `OntapClient`: the
//! listing is complete or fails with a typed error, through short pages too, and never panics.

use std::collections::BTreeSet;

use ontap_ipsec_operator::ontap::health;
use ontap_ipsec_operator::ontap::{
    ClientConfig, Credentials, OntapClient, OntapError, Secret, Selector, TlsOptions,
};
use ontap_sim::{Fault, FaultScope, SimulatorConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::Value;

use crate::strategies;

/// Each case is one HTTPS listing or more; this keeps the target within seconds.
const CASES: u32 = 48;

fn records() -> impl Strategy<Value = Vec<Value>> {
    (0usize..10).prop_flat_map(|count| (0..count).map(strategies::record).collect::<Vec<_>>())
}

#[test]
fn arbitrary_served_records_are_listed_whole_or_refused_with_a_typed_error() {
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let running = runtime
        .block_on(ontap_sim::start(SimulatorConfig::default()))
        .expect("simulator starts");
    let mut config = ClientConfig::new(
        &running.base_url(),
        Credentials::Basic {
            username: ontap_sim::DEFAULT_USERNAME.to_owned(),
            password: Secret::new(ontap_sim::DEFAULT_PASSWORD),
        },
    )
    .expect("valid config");
    config.tls = TlsOptions {
        ca_bundle_pem: Some(running.certificate_pem().into_bytes()),
        ..TlsOptions::default()
    };
    let client = OntapClient::new(config).expect("client");
    let state = running.state();

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    });
    let outcome = runner.run(&(records(), 0usize..4), |(records, page)| {
        state.clear_faults();
        state
            .replace_records(records.clone())
            .expect("records with unique uuids");
        if page > 0 {
            state
                .set_fault(Fault::short_pages(page).with_scope(FaultScope::Collection))
                .expect("valid fault");
        }
        let listing = runtime.block_on(client.security_associations(&Selector::default()));
        match listing {
            Ok(listing) => {
                let sent: BTreeSet<&str> =
                    records.iter().filter_map(|r| r["uuid"].as_str()).collect();
                let read: BTreeSet<&str> =
                    listing.records.iter().map(|r| r.uuid.as_str()).collect();
                prop_assert_eq!(read, sent, "every served record is listed once");
                for record in &listing.records {
                    let _ = health::ready(record);
                }
            }
            Err(OntapError::Decode { path, .. }) => {
                prop_assert!(!path.is_empty(), "a decode error names where it failed");
            }
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "only decoding may fail on odd records, not {other:?}"
                )));
            }
        }
        Ok(())
    });
    state.clear_faults();
    runtime.block_on(running.shutdown());
    if let Err(error) = outcome {
        panic!("{error}");
    }
}
