//! Builds `/api/` responses: content negotiation, ONTAP error bodies and the fault responses.

use std::convert::Infallible;
use std::fmt::Write as _;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream;
use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use super::generate::uuid_from;
use super::ontap_error::OntapError;
use super::paths;
use super::render;

pub const HAL_JSON: &str = "application/hal+json";
pub const JSON: &str = "application/json";
const BASIC_CHALLENGE: &str = "Basic realm=\"ONTAP\"";
/// A body cut off in the middle of the first record.
const MALFORMED_BODY: &str = "{\"records\": [{\"uuid\": \"";
/// How an endless body starts; records follow for ever.
const ENDLESS_BODY_HEAD: &str = "{\"records\":[";
/// Records per chunk of an endless body (about 20 KiB).
const ENDLESS_RECORDS_PER_CHUNK: u64 = 100;

/// The representation the client asked for with `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/hal+json` (ONTAP's default): every `_links` kept.
    Hal,
    /// `application/json` only: `_links` dropped except the top-level `next`.
    Json,
}

impl Format {
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
            .to_ascii_lowercase();
        if accept.contains(JSON) && !accept.contains(HAL_JSON) {
            Self::Json
        } else {
            Self::Hal
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Hal => HAL_JSON,
            Self::Json => JSON,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// Marks a response whose connection must be closed without sending anything.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// A JSON body in the negotiated format.
#[must_use]
pub fn json(status: StatusCode, mut body: Value, format: Format) -> Response {
    if format == Format::Json {
        render::strip_links(&mut body);
    }
    with_content_type(status, body.to_string(), format.content_type())
}

/// An ONTAP error body; 401s also carry a Basic challenge.
#[must_use]
pub fn error(error: &OntapError, format: Format) -> Response {
    let mut response = json(error.status, error.body(), format);
    if error.status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
    }
    response
}

/// A 200 whose body is not valid JSON.
#[must_use]
pub fn malformed_json() -> Response {
    with_content_type(StatusCode::OK, MALFORMED_BODY.to_owned(), HAL_JSON)
}

/// A 200 whose chunked body is `{"records":[` followed by records for ever.
///
/// Chunks are made one at a time as hyper asks for them, so nothing piles up in memory; when the
/// client goes away hyper drops the body, and with it `guard`.
#[must_use]
pub fn endless_body<G: Send + 'static>(format: Format, guard: G) -> Response {
    let head = stream::once(async {
        Ok::<_, Infallible>(Bytes::from_static(ENDLESS_BODY_HEAD.as_bytes()))
    });
    let records = stream::unfold((0_u64, guard), |(chunk, guard)| async move {
        let bytes = Bytes::from(endless_chunk(chunk));
        Some((Ok::<_, Infallible>(bytes), (chunk.wrapping_add(1), guard)))
    });
    let mut response = Response::new(Body::from_stream(head.chain(records)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// Chunk `chunk` of an endless body: valid-looking records, each but the very first after a comma.
fn endless_chunk(chunk: u64) -> String {
    let mut text = String::with_capacity(24 * 1024);
    for index in chunk * ENDLESS_RECORDS_PER_CHUNK..(chunk + 1) * ENDLESS_RECORDS_PER_CHUNK {
        let uuid = uuid_from("endless", index);
        let separator = if index == 0 { "" } else { "," };
        let _ = write!(
            text,
            "{separator}{{\"uuid\":\"{uuid}\",\"type\":\"ike\",\"node\":{{\"name\":\"cluster1-01\"}},\
             \"ike\":{{\"state\":\"established\"}},\"_links\":{{\"self\":{{\"href\":\"{}\"}}}}}}",
            paths::instance(paths::SECURITY_ASSOCIATIONS, &uuid)
        );
    }
    text
}

/// A response the server turns into a closed connection.
#[must_use]
pub fn drop_connection() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

fn with_content_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).expect("valid"));
        Format::from_headers(&headers)
    }

    #[test]
    fn hal_is_the_default_and_wins_over_plain_json() {
        assert_eq!(Format::from_headers(&HeaderMap::new()), Format::Hal);
        assert_eq!(accept("*/*"), Format::Hal);
        assert_eq!(accept("application/hal+json"), Format::Hal);
        assert_eq!(
            accept("application/hal+json, application/json"),
            Format::Hal
        );
        assert_eq!(accept("application/json"), Format::Json);
        assert_eq!(accept("Application/JSON;q=0.9"), Format::Json);
    }

    #[test]
    fn endless_chunks_continue_a_records_array() {
        let mut text = ENDLESS_BODY_HEAD.to_owned();
        text.push_str(&endless_chunk(0));
        text.push_str(&endless_chunk(1));
        text.push_str("]}");
        let body: Value =
            serde_json::from_str(&text).expect("the prefix is valid JSON once closed");
        let records = body["records"].as_array().expect("records");
        assert_eq!(records.len(), 200);
        assert_ne!(records[0]["uuid"], records[199]["uuid"]);
    }
}
