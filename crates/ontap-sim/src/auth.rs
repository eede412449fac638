//! HTTP Basic authentication, checked on every request like ONTAP does (no sessions).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;

const BASIC_SCHEME: &str = "basic";

/// The one user the simulator knows.
#[derive(Clone)]
pub struct Credentials {
    /// `username:password` as the decoded Basic token must read.
    expected: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    #[must_use]
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            expected: format!("{username}:{password}").into_bytes(),
        }
    }

    /// True when the request carries `Authorization: Basic <base64(username:password)>`.
    #[must_use]
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case(BASIC_SCHEME)
            && STANDARD
                .decode(token.trim())
                .is_ok_and(|decoded| decoded == self.expected)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(value).expect("valid header"),
        );
        headers
    }

    #[test]
    fn right_credentials_are_accepted_in_any_scheme_case() {
        let credentials = Credentials::new("admin", "netapp1!");
        let token = STANDARD.encode("admin:netapp1!");
        assert!(credentials.accepts(&headers(&format!("Basic {token}"))));
        assert!(credentials.accepts(&headers(&format!("basic {token}"))));
    }

    #[test]
    fn wrong_missing_or_garbled_credentials_are_refused() {
        let credentials = Credentials::new("admin", "netapp1!");
        assert!(!credentials.accepts(&HeaderMap::new()));
        assert!(!credentials.accepts(&headers(&format!(
            "Basic {}",
            STANDARD.encode("admin:wrong")
        ))));
        assert!(!credentials.accepts(&headers("Basic !!!")));
        assert!(!credentials.accepts(&headers(&format!(
            "Bearer {}",
            STANDARD.encode("admin:netapp1!")
        ))));
    }
}
