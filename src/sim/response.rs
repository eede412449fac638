//! Builds `/api/` responses: content negotiation, ONTAP error bodies and the fault responses.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use super::ontap_error::OntapError;
use super::render;

pub const HAL_JSON: &str = "application/hal+json";
pub const JSON: &str = "application/json";
const BASIC_CHALLENGE: &str = "Basic realm=\"ONTAP\"";
/// A body cut off in the middle of the first record.
const MALFORMED_BODY: &str = "{\"records\": [{\"uuid\": \"";

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
}
