//! The measured work, run in a child process so that its peak resident set is its own: the floor
//! (plain reqwest and `serde_json::Value`), the product (`OntapClient` and the health rules), and
//! the decoders alone on bytes fetched beforehand.

use std::time::{Duration, Instant};

use ontap_ipsec_operator::crd::ConditionStatus;
use ontap_ipsec_operator::ontap::client::{
    PAGE_SIZE, SECURITY_ASSOCIATION_FIELDS, SECURITY_ASSOCIATIONS_PATH,
};
use ontap_ipsec_operator::ontap::health;
use ontap_ipsec_operator::ontap::tls::client_tls_config;
use ontap_ipsec_operator::ontap::{
    ClientConfig, Credentials, OntapClient, Secret, SecurityAssociation, Selector, TlsOptions,
};
use serde::{Deserialize, Serialize};

use crate::support::proc_stats::{self, Process};

/// What ONTAP's own clients ask for, as the product does.
const HAL_JSON: &str = "application/hal+json";

/// Which work a child process measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Fetch every page with a plain client and parse each into `serde_json::Value`.
    Floor,
    /// `OntapClient::security_associations` and `health::ready` on every record.
    Product,
    /// Parse pages fetched beforehand into `serde_json::Value`.
    DecodeValue,
    /// Decode pages fetched beforehand into the typed models, as the client does, and judge
    /// their health.
    DecodeTyped,
    /// The same, tracking the JSON path of every value (`serde_path_to_error`) as the client did
    /// before it tracked it only on a failure.
    DecodeTypedWithPath,
}

/// What a child reports on its one line of standard output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub variant: Variant,
    /// Each timed repetition, the warm-up left out.
    pub times: Vec<Duration>,
    /// Records seen by the last repetition.
    pub records: usize,
    /// Pages read by the last repetition.
    pub pages: usize,
    /// Response bytes of one listing (floor and decoders only; the product does not expose them).
    pub bytes: usize,
    /// Records the health rules judged ready (product and typed decoders only).
    pub ready: usize,
    /// Resident set once the runtime and the HTTPS client were ready, before any listing.
    pub start_rss: u64,
    /// Peak resident set over the whole child.
    pub peak_rss: u64,
}

/// Where the child finds the simulator.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: String,
    pub ca_pem: Vec<u8>,
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error("ontap client: {0}")]
    Ontap(#[from] ontap_ipsec_operator::ontap::OntapError),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("bad url: {0}")]
    Url(#[from] url::ParseError),
    #[error("page decode at {path}: {message}")]
    Decode { path: String, message: String },
}

/// Runs `variant` once to warm up and `repetitions` more times, timing each.
pub async fn measure(
    variant: Variant,
    target: &Target,
    repetitions: usize,
) -> Result<Measurement, VariantError> {
    let config = client_config(target)?;
    let plain = plain_client(&config)?;
    let product = OntapClient::new(config.clone())?;
    let first = first_page_url(&config)?;
    let prefetched = match variant {
        Variant::DecodeValue | Variant::DecodeTyped | Variant::DecodeTypedWithPath => {
            fetch_bytes(&plain, &first).await?
        }
        Variant::Floor | Variant::Product => Vec::new(),
    };
    let start_rss = proc_stats::rss(Process::Current).unwrap_or_default();
    let mut times = Vec::with_capacity(repetitions);
    let mut last = Seen::default();
    for repetition in 0..=repetitions {
        let started = Instant::now();
        last = match variant {
            Variant::Floor => floor(&plain, &first).await?,
            Variant::Product => product_listing(&product).await?,
            Variant::DecodeValue => decode_value(&prefetched)?,
            Variant::DecodeTyped => decode_typed(&prefetched, false)?,
            Variant::DecodeTypedWithPath => decode_typed(&prefetched, true)?,
        };
        if repetition > 0 {
            times.push(started.elapsed());
        }
    }
    Ok(Measurement {
        variant,
        times,
        records: last.records,
        pages: last.pages,
        bytes: last.bytes,
        ready: last.ready,
        start_rss,
        peak_rss: proc_stats::peak_rss(Process::Current).unwrap_or_default(),
    })
}

/// What one repetition saw, to check every variant read the same listing.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    records: usize,
    pages: usize,
    bytes: usize,
    ready: usize,
}

fn client_config(target: &Target) -> Result<ClientConfig, VariantError> {
    let mut config = ClientConfig::new(
        &target.endpoint,
        Credentials::Basic {
            username: ontap_sim::DEFAULT_USERNAME.to_owned(),
            password: Secret::new(ontap_sim::DEFAULT_PASSWORD),
        },
    )?;
    config.tls = TlsOptions {
        ca_bundle_pem: Some(target.ca_pem.clone()),
        ..TlsOptions::default()
    };
    Ok(config)
}

/// A reqwest client with the same TLS setup and timeouts as `OntapClient`, and nothing else.
fn plain_client(config: &ClientConfig) -> Result<reqwest::Client, VariantError> {
    let tls = client_tls_config(&config.tls, &config.credentials)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .build()?)
}

/// The first page as the product asks for it: the same `fields` and `max_records`.
fn first_page_url(config: &ClientConfig) -> Result<url::Url, VariantError> {
    let mut url = config.endpoint.join(SECURITY_ASSOCIATIONS_PATH)?;
    url.query_pairs_mut()
        .append_pair("fields", SECURITY_ASSOCIATION_FIELDS)
        .append_pair("max_records", &PAGE_SIZE.to_string());
    Ok(url)
}

async fn get(client: &reqwest::Client, url: &url::Url) -> Result<bytes::Bytes, VariantError> {
    Ok(client
        .get(url.clone())
        .basic_auth(
            ontap_sim::DEFAULT_USERNAME,
            Some(ontap_sim::DEFAULT_PASSWORD),
        )
        .header(reqwest::header::ACCEPT, HAL_JSON)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?)
}

/// The next page's URL from a parsed page, if it has a next link.
fn next_url(
    current: &url::Url,
    page: &serde_json::Value,
) -> Result<Option<url::Url>, VariantError> {
    match page["_links"]["next"]["href"].as_str() {
        Some(href) => Ok(Some(current.join(href)?)),
        None => Ok(None),
    }
}

/// The floor: every page fetched and parsed into a `Value`, all pages kept until the end, as a
/// listing is.
async fn floor(client: &reqwest::Client, first: &url::Url) -> Result<Seen, VariantError> {
    let mut pages = Vec::new();
    let mut bytes = 0;
    let mut url = first.clone();
    loop {
        let body = get(client, &url).await?;
        bytes += body.len();
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        let next = next_url(&url, &page)?;
        pages.push(page);
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    let records = pages
        .iter()
        .map(|page| page["records"].as_array().map_or(0, Vec::len))
        .sum();
    Ok(Seen {
        records,
        pages: pages.len(),
        bytes,
        ready: 0,
    })
}

/// The product: the operator's client and health rules.
async fn product_listing(client: &OntapClient) -> Result<Seen, VariantError> {
    let listing = client.security_associations(&Selector::default()).await?;
    let ready = listing
        .records
        .iter()
        .filter(|record| health::ready(record).status == ConditionStatus::True)
        .count();
    Ok(Seen {
        records: listing.records.len(),
        pages: listing.pages as usize,
        bytes: 0,
        ready,
    })
}

/// Every page's bytes, for the decode-only variants.
async fn fetch_bytes(
    client: &reqwest::Client,
    first: &url::Url,
) -> Result<Vec<bytes::Bytes>, VariantError> {
    let mut pages = Vec::new();
    let mut url = first.clone();
    loop {
        let body = get(client, &url).await?;
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        let next = next_url(&url, &page)?;
        pages.push(body);
        match next {
            Some(next) => url = next,
            None => return Ok(pages),
        }
    }
}

fn decode_value(pages: &[bytes::Bytes]) -> Result<Seen, VariantError> {
    let mut seen = Seen {
        pages: pages.len(),
        ..Seen::default()
    };
    let mut values = Vec::with_capacity(pages.len());
    for body in pages {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        seen.records += value["records"].as_array().map_or(0, Vec::len);
        seen.bytes += body.len();
        values.push(value);
    }
    Ok(seen)
}

/// One collection page with the public model.
#[derive(Debug, Deserialize)]
struct TypedPage {
    #[serde(default)]
    records: Vec<SecurityAssociation>,
}

/// Decodes every page into the typed models; `with_path` tracks the JSON path of each value.
fn decode_typed(pages: &[bytes::Bytes], with_path: bool) -> Result<Seen, VariantError> {
    let mut seen = Seen {
        pages: pages.len(),
        ..Seen::default()
    };
    let mut records = Vec::new();
    for body in pages {
        let page: TypedPage = if with_path {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                VariantError::Decode {
                    path: error.path().to_string(),
                    message: error.inner().to_string(),
                }
            })?
        } else {
            serde_json::from_slice(body)?
        };
        seen.bytes += body.len();
        records.extend(page.records);
    }
    seen.records = records.len();
    seen.ready = records
        .iter()
        .filter(|record| health::ready(record).status == ConditionStatus::True)
        .count();
    Ok(seen)
}
