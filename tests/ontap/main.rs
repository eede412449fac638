//! The ONTAP client against the simulator over real HTTPS on loopback, and the `poll` command.

mod client;
mod poll_command;

use ontap_ipsec_operator::ontap::{ClientConfig, Credentials, OntapClient, Secret};
use ontap_sim::{RunningSimulator, SimulatorConfig};

/// A simulator with `records`, and a client that trusts its certificate.
pub async fn simulator_with(records: Vec<serde_json::Value>) -> (RunningSimulator, OntapClient) {
    simulator_from(SimulatorConfig {
        records,
        ..SimulatorConfig::default()
    })
    .await
}

pub async fn simulator_from(config: SimulatorConfig) -> (RunningSimulator, OntapClient) {
    ontap_ipsec_operator::ontap::tls::install_default_crypto_provider();
    let password = config.password.clone();
    let simulator = ontap_sim::start(config).await.expect("simulator starts");
    let client = OntapClient::new(trusted_config(&simulator, &password)).expect("client builds");
    (simulator, client)
}

#[must_use]
pub fn trusted_config(simulator: &RunningSimulator, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new(
        &simulator.base_url(),
        Credentials::Basic {
            username: ontap_sim::DEFAULT_USERNAME.into(),
            password: Secret::new(password),
        },
    )
    .expect("valid endpoint");
    config.tls.ca_bundle_pem = Some(simulator.certificate_pem().into_bytes());
    config
}
