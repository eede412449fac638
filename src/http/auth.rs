//! Authentication and authorization of `/metrics` requests by the API server: a `TokenReview` of
//! the bearer token, then a `SubjectAccessReview` for `get` on the non-resource URL `/metrics`.
//! Decisions are cached briefly, keyed by a SHA-256 of the token, so a scrape every few seconds
//! costs the API server two requests a minute per scraper.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

/// The non-resource URL and verb a reader must be allowed.
pub const METRICS_PATH: &str = "/metrics";
pub const METRICS_VERB: &str = "get";
/// How long an allowed token stays allowed without asking the API server again.
pub const ALLOWED_TTL: Duration = Duration::from_secs(60);
/// How long a refused token (unknown, expired, or not allowed) stays refused.
pub const DENIED_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at most; beyond that expired entries go first, then the oldest.
pub const CACHE_CAPACITY: usize = 1024;
/// Each review request to the API server must answer within this time.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API server said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated and allowed `get` on `/metrics`.
    Allowed,
    /// Not a token the API server accepts (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
}

impl Decision {
    /// How logs name the decision.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "denied",
        }
    }
}

/// Why a request could not be reviewed; never cached.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the {review} failed")]
    Api {
        review: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("the {review} took longer than {REVIEW_TIMEOUT:?}")]
    Timeout { review: &'static str },
    #[error("the {review} came back without a status")]
    NoStatus { review: &'static str },
}

/// The bearer token of an `Authorization: Bearer <token>` header, if there is one.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Reviews tokens with the API server and caches the decisions.
pub struct Authorizer {
    client: Client,
    cache: Mutex<DecisionCache>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Authorizer")
            .field("cached", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(DecisionCache::new(CACHE_CAPACITY)),
        }
    }

    /// The decision for `token`: from the cache, or from a `TokenReview` and a `SubjectAccessReview`.
    pub async fn review(&self, token: &str) -> Result<Decision, ReviewError> {
        let key = token_key(token);
        if let Some(decision) = self.lock().get(&key, Instant::now()) {
            return Ok(decision);
        }
        let decision = self.ask(token).await?;
        tracing::debug!(decision = decision.as_str(), "reviewed a /metrics token");
        self.lock().insert(key, decision, Instant::now());
        Ok(decision)
    }

    async fn ask(&self, token: &str) -> Result<Decision, ReviewError> {
        // No audiences: the token must be valid for the API server's own audience, which is
        // what a ServiceAccount's projected token and `kubectl create token` give by default.
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let review = within(
            "TokenReview",
            Api::<TokenReview>::all(self.client.clone()).create(&PostParams::default(), &review),
        )
        .await?;
        let status = review.status.ok_or(ReviewError::NoStatus {
            review: "TokenReview",
        })?;
        let (Some(true), Some(user)) = (status.authenticated, status.user) else {
            return Ok(Decision::Unauthenticated);
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(METRICS_PATH.to_owned()),
                    verb: Some(METRICS_VERB.to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let access = within(
            "SubjectAccessReview",
            Api::<SubjectAccessReview>::all(self.client.clone())
                .create(&PostParams::default(), &access),
        )
        .await?;
        let status = access.status.ok_or(ReviewError::NoStatus {
            review: "SubjectAccessReview",
        })?;
        Ok(if status.allowed && status.denied != Some(true) {
            Decision::Allowed
        } else {
            Decision::Forbidden
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DecisionCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn within<T>(
    review: &'static str,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, ReviewError> {
    match tokio::time::timeout(REVIEW_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(ReviewError::Api { review, source }),
        Err(_) => Err(ReviewError::Timeout { review }),
    }
}

/// The cache key of a token: its SHA-256, so the cache never holds a usable credential.
fn token_key(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// Decisions by token hash, each until its expiry: [`ALLOWED_TTL`] for allowed tokens,
/// [`DENIED_TTL`] for refused ones; at most `capacity` entries.
#[derive(Debug)]
pub struct DecisionCache {
    capacity: usize,
    entries: HashMap<[u8; 32], (Decision, Instant)>,
}

impl DecisionCache {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
        }
    }

    /// The decision for `key` unless it has expired at `now`.
    pub fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Decision> {
        match self.entries.get(key) {
            Some(&(decision, expiry)) if now < expiry => Some(decision),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `decision` for `key` from `now`; makes room first when full.
    pub fn insert(&mut self, key: [u8; 32], decision: Decision, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expiry)| now < *expiry);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, expiry))| *expiry)
                    .map(|(key, _)| *key);
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        let ttl = match decision {
            Decision::Allowed => ALLOWED_TTL,
            Decision::Unauthenticated | Decision::Forbidden => DENIED_TTL,
        };
        self.entries.insert(key, (decision, now + ttl));
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn allowed_decisions_last_a_minute_and_refusals_ten_seconds() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(8);
        cache.insert(key(1), Decision::Allowed, start);
        cache.insert(key(2), Decision::Forbidden, start);
        cache.insert(key(3), Decision::Unauthenticated, start);
        let later = start + DENIED_TTL;
        assert_eq!(cache.get(&key(1), later), Some(Decision::Allowed));
        assert_eq!(cache.get(&key(2), later), None);
        assert_eq!(cache.get(&key(3), later), None);
        assert_eq!(cache.get(&key(1), start + ALLOWED_TTL), None);
        assert!(cache.is_empty(), "expired entries are dropped when read");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_oldest() {
        let start = Instant::now();
        let mut cache = DecisionCache::new(2);
        cache.insert(key(1), Decision::Forbidden, start);
        cache.insert(key(2), Decision::Allowed, start);
        // key 1 has expired by now: it makes room.
        let later = start + DENIED_TTL;
        cache.insert(key(3), Decision::Allowed, later);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(2), later), Some(Decision::Allowed));
        // Nothing expired: the entry closest to expiry (key 2) goes.
        cache.insert(key(4), Decision::Allowed, later);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(2), later), None);
        assert_eq!(cache.get(&key(3), later), Some(Decision::Allowed));
        assert_eq!(cache.get(&key(4), later), Some(Decision::Allowed));
    }

    #[test]
    fn tokens_are_keyed_by_their_hash() {
        assert_ne!(token_key("a"), token_key("b"));
        assert_eq!(token_key("a"), token_key("a"));
        assert!(!token_key("secret").windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn only_bearer_authorization_headers_carry_a_token() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&with("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
