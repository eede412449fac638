//! Starts simulators for the tests and talks to them over real HTTPS on loopback.

use std::sync::Arc;

use http::StatusCode;
use ontap_sim::{RunningSimulator, SimulatorConfig, SimulatorState};
use reqwest::{Client, Method, RequestBuilder};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

pub const USERNAME: &str = "admin";
pub const PASSWORD: &str = "netapp1!";
pub const SECURITY_ASSOCIATIONS: &str = "/api/security/ipsec/security-associations";
pub const CLUSTER_NETWORK: &str = "/api/security/cluster-network/ipsec/associations";

/// A running simulator plus a client that trusts its certificate and knows its credentials.
pub struct Sim {
    pub running: RunningSimulator,
    pub client: Client,
}

/// One HTTP response, body parsed when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub text: String,
    pub body: Value,
}

impl Reply {
    /// The `records` array of a collection response.
    pub fn records(&self) -> &Vec<Value> {
        self.body["records"]
            .as_array()
            .unwrap_or_else(|| panic!("no records in {}", self.text))
    }

    /// The uuids of the records, in response order.
    pub fn uuids(&self) -> Vec<String> {
        self.records()
            .iter()
            .map(|record| record["uuid"].as_str().expect("uuid").to_owned())
            .collect()
    }

    /// The `_links.next.href`, if any.
    pub fn next(&self) -> Option<String> {
        self.body["_links"]["next"]["href"]
            .as_str()
            .map(str::to_owned)
    }

    /// Asserts an ONTAP error response and returns its `error` object.
    pub fn ontap_error(&self, status: StatusCode, code: &str) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.body["error"]["code"],
            json!(code),
            "body: {}",
            self.text
        );
        &self.body["error"]
    }
}

/// A client for plain-HTTP simulators (it trusts no certificate at all).
pub fn plain_client() -> Client {
    client_with_roots(rustls::RootCertStore::empty())
}

/// A rustls client (ring provider) that trusts exactly `certificate_pem`.
pub fn client_trusting(certificate_pem: &str) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(certificate_pem.as_bytes()) {
        roots
            .add(certificate.expect("certificate PEM parses"))
            .expect("certificate is a valid trust anchor");
    }
    client_with_roots(roots)
}

fn client_with_roots(roots: rustls::RootCertStore) -> Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client builds")
}

impl Sim {
    pub async fn start(config: SimulatorConfig) -> Self {
        let running = ontap_sim::start(config).await.expect("simulator starts");
        let client = client_trusting(&running.certificate_pem());
        Self { running, client }
    }

    pub async fn with_records(records: Vec<Value>) -> Self {
        Self::start(SimulatorConfig {
            records,
            ..SimulatorConfig::default()
        })
        .await
    }

    pub async fn generated(nodes: usize, tunnels: usize) -> Self {
        Self::with_records(ontap_sim::generate(nodes, tunnels)).await
    }

    pub fn state(&self) -> SimulatorState {
        self.running.state()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.running.base_url())
    }

    /// An authenticated request builder.
    pub fn request(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path_and_query))
            .basic_auth(USERNAME, Some(PASSWORD))
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        send(self.request(Method::GET, path_and_query)).await
    }

    /// GET of the SA collection with the given query (without the leading `?`).
    pub async fn collection(&self, query: &str) -> Reply {
        self.collection_at(SECURITY_ASSOCIATIONS, query).await
    }

    /// GET of the collection at `path` with the given query (without the leading `?`).
    pub async fn collection_at(&self, path: &str, query: &str) -> Reply {
        if query.is_empty() {
            self.get(path).await
        } else {
            self.get(&format!("{path}?{query}")).await
        }
    }

    /// Follows next links of the SA collection from `query` to the end; returns every page.
    pub async fn read_all(&self, query: &str) -> Vec<Reply> {
        self.read_all_at(SECURITY_ASSOCIATIONS, query).await
    }

    /// Follows next links of the collection at `path` from `query` to the end; returns every page.
    pub async fn read_all_at(&self, path: &str, query: &str) -> Vec<Reply> {
        let mut pages = vec![self.collection_at(path, query).await];
        while let Some(next) = pages.last().and_then(Reply::next) {
            assert!(pages.len() < 100_000, "next links never end");
            let page = self.get(&next).await;
            assert_eq!(page.status, StatusCode::OK, "page body: {}", page.text);
            pages.push(page);
        }
        pages
    }
}

/// Adds faults through the control API, as a test harness in another process would.
pub async fn post_faults(sim: &Sim, faults: &Value) {
    let reply = send(
        sim.request(Method::POST, "/_sim/faults")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(faults.to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// `RequestBuilder::json` needs reqwest's `json` feature; send the bytes by hand.
pub trait JsonBody {
    fn json_body<T: serde::Serialize>(self, value: &T) -> Self;
}

impl JsonBody for RequestBuilder {
    fn json_body<T: serde::Serialize>(self, value: &T) -> Self {
        self.header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(value).expect("serializes"))
    }
}

/// Sends a request and reads the whole response.
pub async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("request succeeds");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body reads");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        text,
        body,
    }
}

/// A valid UUID ending in `suffix` (hex digits), so tests can name records readably.
pub fn uuid(suffix: &str) -> String {
    format!("00000000-0000-4000-8000-{suffix:0>12}")
}

/// Four hand-made records whose expected filter results are easy to state.
///
/// ```text
/// uuid  type   node  svm  remote        lifetime  state
/// a     ike    n1    vs1  192.168.1.10  100       established
/// b     ipsec  n1    vs1  192.168.1.11  200       installed
/// c     ike    n2    -    fd20::1       300       connecting
/// d     ipsec  n2    vs2  10.0.0.5      4000      none
/// ```
pub fn four_records() -> Vec<Value> {
    let node = |name: &str, suffix: &str| json!({"name": name, "uuid": uuid(suffix)});
    vec![
        json!({
            "uuid": uuid("a"), "type": "ike", "scope": "svm",
            "node": node("n1", "e1"), "svm": {"name": "vs1", "uuid": uuid("f1")},
            "policy_name": "policy_one", "local_address": "192.168.1.1",
            "remote_address": "192.168.1.10", "cipher_suite": "suite_aescbc", "lifetime": 100,
            "ike": {"state": "established", "authentication": "psk", "version": 2,
                    "is_initiator": true,
                    "initiator_security_parameter_index": "1111111111111111",
                    "responder_security_parameter_index": "2222222222222222"}
        }),
        json!({
            "uuid": uuid("b"), "type": "ipsec", "scope": "svm",
            "node": node("n1", "e1"), "svm": {"name": "vs1", "uuid": uuid("f1")},
            "policy_name": "policy_one", "local_address": "192.168.1.1",
            "remote_address": "192.168.1.11", "cipher_suite": "suiteb_gcm256", "lifetime": 200,
            "ipsec": {"state": "installed", "action": "esp_transport",
                      "inbound": {"security_parameter_index": "aaaa0001", "bytes": 1000, "packets": 10},
                      "outbound": {"security_parameter_index": "bbbb0001", "bytes": 2000, "packets": 20}}
        }),
        json!({
            "uuid": uuid("c"), "type": "ike", "scope": "cluster",
            "node": node("n2", "e2"),
            "policy_name": "policy_two", "local_address": "fd20::100",
            "remote_address": "fd20::1", "cipher_suite": "suiteb_gmac256", "lifetime": 300,
            "ike": {"state": "connecting", "authentication": "cert", "version": 2,
                    "is_initiator": false,
                    "initiator_security_parameter_index": "3333333333333333",
                    "responder_security_parameter_index": "4444444444444444"}
        }),
        json!({
            "uuid": uuid("d"), "type": "ipsec", "scope": "svm",
            "node": node("n2", "e2"), "svm": {"name": "vs2", "uuid": uuid("f2")},
            "policy_name": "policy_three", "local_address": "10.0.0.1",
            "remote_address": "10.0.0.5", "cipher_suite": "suite_aescbc", "lifetime": 4000,
            "ipsec": {"state": "none", "action": "discard",
                      "inbound": {"security_parameter_index": "cccc0001", "bytes": 5, "packets": 1},
                      "outbound": {"security_parameter_index": "dddd0001", "bytes": 6, "packets": 1}}
        }),
    ]
}

/// The uuids of `four_records` named by their letters.
pub fn uuids(letters: &str) -> Vec<String> {
    letters
        .chars()
        .map(|letter| uuid(&letter.to_string()))
        .collect()
}
