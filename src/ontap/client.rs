//! `OntapClient`: one pooled HTTPS client per endpoint that reads cluster identity and pages
//! through security associations the way ONTAP expects.

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use url::Url;
use zeroize::Zeroizing;

use super::config::{ClientConfig, Credentials};
use super::error::OntapError;
use super::model::{ClusterIdentity, CollectionPage, ErrorBody, SecurityAssociation};
use super::selector::Selector;
use super::tls::client_tls_config;

/// The SA collection.
pub const SECURITY_ASSOCIATIONS_PATH: &str = "/api/security/ipsec/security-associations";
/// Cluster name, uuid and version.
pub const CLUSTER_PATH: &str = "/api/cluster";
/// Only what the operator shows, so ONTAP does less work than for `*` or `**`.
pub const SECURITY_ASSOCIATION_FIELDS: &str = "uuid,type,node,svm,scope,policy_name,local_address,\
remote_address,cipher_suite,lifetime,ike,ipsec";
const CLUSTER_FIELDS: &str = "name,uuid,version";
/// Page size NetApp's own pollers use: big enough for few round trips, small enough that
/// ONTAP answers well inside its `return_timeout`.
pub const PAGE_SIZE: u32 = 500;
/// A listing longer than this many pages is treated as a paging defect, not data: ten times
/// the full pages of the largest default listing, room for many short pages under load.
const MAX_PAGES: u32 = 1_000;
/// Longest piece of ONTAP's own text (an error message or code) kept in an error.
const MAX_ONTAP_TEXT: usize = 512;
/// How clients identify themselves to ONTAP (shown in its audit log).
const CLIENT_APP_HEADER: &str = "X-Dot-Client-App";
const CLIENT_APP: &str = concat!("ontap-ipsec-operator/", env!("CARGO_PKG_VERSION"));
/// ONTAP's own content type; it also accepts `application/json`, which drops most links.
const HAL_JSON: &str = "application/hal+json";

/// Called once per HTTP exchange with the status code, or `None` when there was no response.
pub type ResponseObserver = Arc<dyn Fn(Option<u16>) + Send + Sync>;

/// A record of an ONTAP collection: ONTAP names every record by a uuid.
pub trait CollectionRecord: DeserializeOwned {
    fn uuid(&self) -> &str;
}

impl CollectionRecord for SecurityAssociation {
    fn uuid(&self) -> &str {
        &self.uuid
    }
}

/// All records of one listing, in ONTAP's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T = SecurityAssociation> {
    pub records: Vec<T>,
    /// Pages read, empty ones included.
    pub pages: u32,
}

/// A client for one ONTAP cluster.
#[derive(Clone)]
pub struct OntapClient {
    http: reqwest::Client,
    config: ClientConfig,
    observer: Option<ResponseObserver>,
}

impl fmt::Debug for OntapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OntapClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OntapClient {
    pub fn new(config: ClientConfig) -> Result<Self, OntapError> {
        let tls = client_tls_config(&config.tls, &config.credentials)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(HAL_JSON));
        headers.insert(CLIENT_APP_HEADER, HeaderValue::from_static(CLIENT_APP));
        if let Credentials::Basic { username, password } = &config.credentials {
            let mut value = basic_authorization(username, password.expose())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // ONTAP closes idle connections after about 5 s; drop ours first.
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| OntapError::Config(format!("HTTP client: {error}")))?;
        Ok(Self {
            http,
            config,
            observer: None,
        })
    }

    /// Reports every response status to `observer` (for metrics).
    #[must_use]
    pub fn with_observer(mut self, observer: ResponseObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The configuration this client was built from.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `GET /api/cluster`: name, uuid and version.
    pub async fn cluster(&self) -> Result<ClusterIdentity, OntapError> {
        let mut url = self.url(CLUSTER_PATH)?;
        url.query_pairs_mut().append_pair("fields", CLUSTER_FIELDS);
        let body = self.get(&url).await?;
        decode(&url, &body)
    }

    /// Every SA of the front-end (data) network matching `selector`: [`OntapClient::list`] of
    /// [`SECURITY_ASSOCIATIONS_PATH`].
    pub async fn security_associations(&self, selector: &Selector) -> Result<Listing, OntapError> {
        self.list(
            SECURITY_ASSOCIATIONS_PATH,
            SECURITY_ASSOCIATION_FIELDS,
            &selector.query_filters(),
        )
        .await
    }

    /// Every record of the collection at `path` matching `filters`, with `fields`, following
    /// ONTAP's next links through short and empty pages. Any failure on any page fails the whole
    /// listing: a partial list is never returned. At most `limits.max_security_associations`
    /// records, [`MAX_PAGES`] pages and one record per uuid.
    pub async fn list<T: CollectionRecord>(
        &self,
        path: &str,
        fields: &str,
        filters: &[(&str, String)],
    ) -> Result<Listing<T>, OntapError> {
        let mut url = self.url(path)?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("fields", fields);
            query.append_pair("max_records", &PAGE_SIZE.to_string());
            for (field, value) in filters {
                query.append_pair(field, value);
            }
        }
        let mut records: Vec<T> = Vec::new();
        let mut paging = PagingGuard::default();
        let limit = self.config.limits.max_security_associations;
        loop {
            let body = self.get(&url).await?;
            let page: CollectionPage<T> = decode(&url, &body)?;
            drop(body);
            check_page(&url, &page)?;
            let count = page.records.len();
            if records.len() + count > limit {
                return Err(OntapError::TooManySecurityAssociations { limit });
            }
            records.extend(page.records);
            let next = page
                .links
                .and_then(|links| links.next)
                .map(|link| link.href);
            match paging.after_page(count, next.as_deref()) {
                PageStep::Follow => {
                    let href = next.unwrap_or_default();
                    url = self.next_url(&url, &href)?;
                }
                PageStep::Done => break,
                PageStep::Loop => {
                    return Err(OntapError::PagingLoop {
                        href: next.unwrap_or_default(),
                    });
                }
                PageStep::Truncated => {
                    return Err(OntapError::Decode {
                        url: url.to_string(),
                        path: "_links.next".into(),
                        message: "an empty last page after a page cut short: the listing is \
                                  incomplete (a known defect of older ONTAP builds)"
                            .into(),
                    });
                }
            }
        }
        let pages = paging.pages;
        // Records can move between pages while ONTAP changes under us; keep one per uuid.
        let mut unique = HashSet::with_capacity(records.len());
        records.retain(|record| unique.insert(record.uuid().to_owned()));
        Ok(Listing { records, pages })
    }

    fn url(&self, path: &str) -> Result<Url, OntapError> {
        self.config
            .endpoint
            .join(path)
            .map_err(|error| OntapError::Config(format!("endpoint: {error}")))
    }

    /// ONTAP's next link is a path plus query to use verbatim on the same scheme and host.
    fn next_url(&self, current: &Url, href: &str) -> Result<Url, OntapError> {
        if !href.starts_with("/api/") {
            return Err(OntapError::Decode {
                url: current.to_string(),
                path: "_links.next.href".into(),
                message: format!("next link {href:?} is not an /api/ path"),
            });
        }
        let origin = self.config.endpoint.origin().ascii_serialization();
        Url::parse(&format!("{origin}{href}")).map_err(|error| OntapError::Decode {
            url: current.to_string(),
            path: "_links.next.href".into(),
            message: format!("next link {href:?}: {error}"),
        })
    }

    /// One GET with a single retry when a pooled connection turns out to be closed.
    async fn get(&self, url: &Url) -> Result<Bytes, OntapError> {
        match self.get_once(url).await {
            Err(Attempt::StaleConnection(_)) => {
                tracing::debug!(%url, "pooled connection was closed by ONTAP; retrying once");
                self.get_once(url).await.map_err(Attempt::into_error)
            }
            other => other.map_err(Attempt::into_error),
        }
    }

    async fn get_once(&self, url: &Url) -> Result<Bytes, Attempt> {
        let response = match self.http.get(url.clone()).send().await {
            Ok(response) => response,
            Err(error) => {
                self.observe(None);
                return Err(self.classify(url, &error));
            }
        };
        let status = response.status();
        self.observe(Some(status.as_u16()));
        let body = self.read_body(url, response).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(Attempt::Failed(api_error(url, status.as_u16(), &body)))
        }
    }

    /// Reads a body up to the configured limit: the declared length is checked first, then
    /// what actually arrives, since a body may declare nothing and never end.
    async fn read_body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Bytes, Attempt> {
        let limit = self.config.limits.max_response_bytes;
        let too_large = || {
            Attempt::Failed(OntapError::ResponseTooLarge {
                url: url.to_string(),
                limit,
            })
        };
        let declared = response.content_length().unwrap_or(0);
        if usize::try_from(declared).map_or(true, |declared| declared > limit) {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.classify(url, &error))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn observe(&self, status: Option<u16>) {
        if let Some(observer) = &self.observer {
            observer(status);
        }
    }

    fn classify(&self, url: &Url, error: &reqwest::Error) -> Attempt {
        let url_text = url.to_string();
        if error.is_timeout() {
            return Attempt::Failed(OntapError::Timeout {
                url: url_text,
                timeout: self.config.timeout,
            });
        }
        if let Some(tls_error) = find_tls_error(error) {
            return Attempt::Failed(OntapError::Tls {
                url: url_text,
                message: tls_error,
            });
        }
        let transport = OntapError::Transport {
            url: url_text,
            message: error_chain(error),
        };
        if is_stale_connection(error) {
            Attempt::StaleConnection(transport)
        } else {
            Attempt::Failed(transport)
        }
    }
}

/// Refuses a page that ONTAP itself marks as partial, or that holds more than was asked for.
fn check_page<T>(url: &Url, page: &CollectionPage<T>) -> Result<(), OntapError> {
    let records = page.records.len();
    if let Some(error) = &page.error {
        return Err(OntapError::IncompleteListing {
            url: url.to_string(),
            code: bounded(error.code.as_deref().unwrap_or_default()),
            message: bounded(error.message.as_deref().unwrap_or("no message")),
        });
    }
    if let Some(declared) = page.num_records
        && u64::try_from(records) != Ok(declared)
    {
        return Err(OntapError::IncompleteListing {
            url: url.to_string(),
            code: String::new(),
            message: format!("num_records is {declared} but the page holds {records} records"),
        });
    }
    if records > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX) {
        return Err(OntapError::OversizedPage {
            url: url.to_string(),
            records,
            requested: PAGE_SIZE,
        });
    }
    Ok(())
}

/// ONTAP's text cut to a length fit for a condition or an event.
fn bounded(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_ONTAP_TEXT).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// Decides, page by page, whether a listing goes on, is complete, or cannot be trusted.
///
/// ONTAP may answer a page with fewer records than asked, or none, when its `return_timeout`
/// runs out; the next link then repeats the position, and following it is right. A next link
/// that repeats after records were received would loop forever.
#[derive(Debug, Default)]
struct PagingGuard {
    pages: u32,
    seen_after_progress: HashSet<String>,
    empty_in_a_row: u32,
    previous_cut_short: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum PageStep {
    Follow,
    Done,
    Loop,
    Truncated,
}

/// Empty pages in a row that are still taken for a busy ONTAP rather than a broken one.
const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 20;

impl PagingGuard {
    fn after_page(&mut self, records: usize, next: Option<&str>) -> PageStep {
        self.pages += 1;
        let page_size = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        let cut_short_before = self.previous_cut_short;
        self.previous_cut_short = next.is_some() && records < page_size;
        let Some(href) = next else {
            // Only a page after a full one may legitimately be empty and last.
            return if records == 0 && self.pages > 1 && cut_short_before {
                PageStep::Truncated
            } else {
                PageStep::Done
            };
        };
        if self.pages >= MAX_PAGES {
            return PageStep::Loop;
        }
        if records == 0 {
            self.empty_in_a_row += 1;
            return if self.empty_in_a_row > MAX_EMPTY_PAGES_IN_A_ROW {
                PageStep::Loop
            } else {
                PageStep::Follow
            };
        }
        self.empty_in_a_row = 0;
        if self.seen_after_progress.insert(href.to_owned()) {
            PageStep::Follow
        } else {
            PageStep::Loop
        }
    }
}

/// The outcome of one try: a stale pooled connection deserves one more.
enum Attempt {
    StaleConnection(OntapError),
    Failed(OntapError),
}

impl Attempt {
    fn into_error(self) -> OntapError {
        match self {
            Self::StaleConnection(error) | Self::Failed(error) => error,
        }
    }
}

fn basic_authorization(username: &str, password: &str) -> Result<HeaderValue, OntapError> {
    use base64::Engine as _;
    // Every copy of the password made here is zeroed when dropped; the header value itself is
    // marked sensitive by the caller.
    let pair = Zeroizing::new(format!("{username}:{password}"));
    let token = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
    let header = Zeroizing::new(format!("Basic {}", token.as_str()));
    HeaderValue::from_str(&header)
        .map_err(|_| OntapError::Config("username or password holds invalid characters".into()))
}

/// Decodes `body` at full speed, and only when that fails again with the path tracked, so that
/// the error can say where the answer went wrong: tracking it on every page made decoding a third
/// slower (`make bench-ontap`).
fn decode<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, OntapError> {
    serde_json::from_slice(body).or_else(|_| decode_with_path(url, body))
}

fn decode_with_path<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, OntapError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        OntapError::Decode {
            url: url.to_string(),
            path: error.path().to_string(),
            message: error.inner().to_string(),
        }
    })?;
    deserializer.end().map_err(|error| OntapError::Decode {
        url: url.to_string(),
        path: ".".into(),
        message: error.to_string(),
    })?;
    Ok(value)
}

/// Maps a non-success answer to a typed error, using ONTAP's error body when it has one.
fn api_error(url: &Url, status: u16, body: &[u8]) -> OntapError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|body| body.error)
        .unwrap_or_default();
    let message = detail.message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.chars().take(200).collect();
        if snippet.trim().is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            snippet
        }
    });
    let message = bounded(&message);
    let code = bounded(&detail.code.unwrap_or_default());
    let url = url.to_string();
    match status {
        401 => OntapError::Unauthorized { url, message },
        403 => OntapError::Forbidden { url, message },
        404 => OntapError::NotFound { url, code, message },
        _ => OntapError::Api {
            url,
            status,
            code,
            message,
            target: bounded(&detail.target.unwrap_or_default()),
        },
    }
}

/// The rustls error behind a failed handshake, if that is what failed.
fn find_tls_error(error: &reqwest::Error) -> Option<String> {
    causes(error)
        .into_iter()
        .find_map(|cause| cause.downcast_ref::<rustls::Error>())
        .map(ToString::to_string)
}

/// True when a reused connection was closed under us: the request never reached ONTAP
/// or its answer never came, and a GET is safe to send once more.
fn is_stale_connection(error: &reqwest::Error) -> bool {
    causes(error).into_iter().any(|cause| {
        cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(|error| error.is_incomplete_message() || error.is_canceled())
            || cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                )
            })
    })
}

/// Every cause of `error`, looking inside `io::Error`s too: their `source()` skips the error
/// they wrap, which is where the TLS stack puts its own.
fn causes(error: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut causes = Vec::new();
    let mut next = error.source();
    while let Some(current) = next {
        causes.push(current);
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    causes
}

/// `error: cause: cause` on one line, for messages people read.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(current) = source {
        let part = current.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://cluster1/api/x").expect("valid url")
    }

    #[test]
    fn empty_and_short_pages_with_next_links_are_followed() {
        let mut guard = PagingGuard::default();
        assert_eq!(
            guard.after_page(500, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(
            guard.after_page(0, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(
            guard.after_page(0, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(
            guard.after_page(7, Some("/api/x?start.uuid=c")),
            PageStep::Follow
        );
        assert_eq!(guard.after_page(3, None), PageStep::Done);
        assert_eq!(guard.pages, 5);
    }

    #[test]
    fn a_next_link_repeated_after_progress_is_a_loop() {
        let mut guard = PagingGuard::default();
        assert_eq!(
            guard.after_page(10, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(
            guard.after_page(10, Some("/api/x?start.uuid=b")),
            PageStep::Loop
        );
    }

    #[test]
    fn endless_empty_pages_are_a_loop() {
        let mut guard = PagingGuard::default();
        let steps: Vec<PageStep> = (0..=MAX_EMPTY_PAGES_IN_A_ROW)
            .map(|_| guard.after_page(0, Some("/api/x?start.uuid=a")))
            .collect();
        assert_eq!(steps.last(), Some(&PageStep::Loop));
        assert!(
            steps[..steps.len() - 1]
                .iter()
                .all(|s| *s == PageStep::Follow)
        );
    }

    #[test]
    fn an_empty_last_page_after_a_short_one_is_an_incomplete_listing() {
        let mut cut = PagingGuard::default();
        assert_eq!(
            cut.after_page(120, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(cut.after_page(0, None), PageStep::Truncated);
        let mut full = PagingGuard::default();
        assert_eq!(
            full.after_page(500, Some("/api/x?start.uuid=b")),
            PageStep::Follow
        );
        assert_eq!(
            full.after_page(0, None),
            PageStep::Done,
            "an exact multiple of the page size"
        );
        assert_eq!(
            PagingGuard::default().after_page(0, None),
            PageStep::Done,
            "no SAs at all"
        );
    }

    #[test]
    fn ontap_error_bodies_map_to_typed_errors() {
        let body = br#"{"error":{"message":"not authorized for that command","code":"6","target":"uuid"}}"#;
        assert!(matches!(
            api_error(&url(), 403, body),
            OntapError::Forbidden { .. }
        ));
        assert!(matches!(
            api_error(&url(), 401, b""),
            OntapError::Unauthorized { .. }
        ));
        let missing = br#"{"error":{"message":"entry doesn't exist","code":"4","target":"uuid"}}"#;
        match api_error(&url(), 404, missing) {
            OntapError::NotFound { code, .. } => assert_eq!(code, "4"),
            other => panic!("unexpected {other:?}"),
        }
        let unexpected =
            br#"{"error":{"message":"Unexpected argument \"x\".","code":262179,"target":"x"}}"#;
        match api_error(&url(), 400, unexpected) {
            OntapError::Api {
                status,
                code,
                target,
                ..
            } => assert_eq!(
                (status, code.as_str(), target.as_str()),
                (400, "262179", "x")
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_non_json_error_body_is_quoted_in_the_message() {
        let error = api_error(&url(), 502, b"<html>Bad Gateway</html>");
        assert!(error.to_string().contains("Bad Gateway"), "{error}");
        assert!(error.is_transient());
    }

    #[test]
    fn decode_errors_name_the_json_path() {
        let body = br#"{"records":[{"uuid":"a"},{"uuid":"b","lifetime":"forever"}]}"#;
        let error = decode::<CollectionPage<SecurityAssociation>>(&url(), body)
            .expect_err("lifetime is not a number");
        match error {
            OntapError::Decode { path, .. } => assert_eq!(path, "records[1].lifetime"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_json_is_a_decode_error() {
        let error = decode::<CollectionPage<SecurityAssociation>>(&url(), br#"{"records":[{"uu"#)
            .expect_err("truncated");
        assert!(matches!(error, OntapError::Decode { .. }));
    }
}
