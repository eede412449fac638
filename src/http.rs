//! The operator's own HTTP endpoints: `/metrics` (OpenMetrics, or the text format 0.0.4 to
//! scrapers that ask only for it) on `--metrics-addr`, and
//! `/healthz` and `/readyz` on `--health-addr` (plain HTTP, for the kubelet).
//!
//! With [`MetricsAuth::Kubernetes`] `/metrics` is served over HTTPS and only to callers whose
//! bearer token the API server authenticates (`TokenReview`) and authorizes for `get` on the
//! non-resource URL `/metrics` (`SubjectAccessReview`), as controller-runtime's secure metrics
//! serving does.

pub mod auth;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::metrics::exposition::Format;
use auth::{Authorizer, Decision};

/// Connections that do not finish their TLS handshake in this time are closed.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that do not send a complete request head in this time are closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open HTTPS connections at most; further ones wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// The `WWW-Authenticate` challenge of a 401.
const BEARER_CHALLENGE: &str = "Bearer realm=\"ontap-ipsec-operator\"";

/// Who may read `/metrics` (`--metrics-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MetricsAuth {
    /// Plain HTTP; anyone who can reach the port reads the metrics.
    #[default]
    None,
    /// HTTPS; a bearer token the API server authenticates and authorizes for `get` on `/metrics`.
    Kubernetes,
}

/// Whether the process should receive work, and if not, why.
#[derive(Debug)]
pub struct Readiness(Mutex<Result<(), String>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Mutex::new(Err("starting".into())))
    }
}

impl Readiness {
    pub fn set_ready(&self) {
        *self.lock() = Ok(());
    }

    /// Not ready, with a reason served by `/readyz`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *self.lock() = Err(reason.into());
    }

    /// `Ok` when ready, else the reason.
    pub fn state(&self) -> Result<(), String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Result<(), String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct MetricsState {
    registry: Arc<Registry>,
    authorizer: Option<Arc<Authorizer>>,
}

/// The router serving `/metrics`, behind `authorizer` when there is one.
pub fn metrics_router(registry: Arc<Registry>, authorizer: Option<Arc<Authorizer>>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState {
            registry,
            authorizer,
        })
}

/// The router serving `/healthz` and `/readyz`.
pub fn health_router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// Binds `addr` and serves `/healthz` and `/readyz` over plain HTTP in the background (on the
/// current Tokio runtime).
///
/// # Errors
///
/// When `addr` cannot be bound.
pub fn serve_health(addr: SocketAddr, readiness: Arc<Readiness>) -> std::io::Result<SocketAddr> {
    serve_plain(addr, health_router(readiness), "health")
}

/// How `/metrics` is served.
#[derive(Debug)]
pub enum MetricsServing {
    /// Plain HTTP, no authentication.
    Plain,
    /// HTTPS with this certificate source, and every request reviewed by `authorizer`.
    Secure {
        certificate: tls::CertificateSource,
        authorizer: Arc<Authorizer>,
    },
}

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Binds `addr` and serves `/metrics` in the background, as `serving` says.
pub async fn serve_metrics(
    addr: SocketAddr,
    registry: Arc<Registry>,
    serving: MetricsServing,
) -> Result<SocketAddr, ServeError> {
    let bind_error = |source| ServeError::Bind { addr, source };
    match serving {
        MetricsServing::Plain => {
            serve_plain(addr, metrics_router(registry, None), "metrics").map_err(bind_error)
        }
        MetricsServing::Secure {
            certificate,
            authorizer,
        } => {
            let config = tls::server_config(certificate).await?;
            let listener = crate::net::bind(addr).map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            let app = metrics_router(registry, Some(authorizer));
            tokio::spawn(serve_tls(listener, TlsAcceptor::from(config), app));
            Ok(bound)
        }
    }
}

fn serve_plain(addr: SocketAddr, app: Router, what: &'static str) -> std::io::Result<SocketAddr> {
    let listener = crate::net::bind(addr)?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "{what} server stopped");
        }
    });
    Ok(bound)
}

async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    serve_tls_connection(stream, acceptor, app).await;
                    drop(permit);
                });
            }
            Err(error) => {
                tracing::warn!(%error, "accepting a metrics connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

async fn serve_tls_connection(stream: TcpStream, acceptor: TlsAcceptor, app: Router) {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%error, "metrics tls handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("metrics tls handshake timed out");
            return;
        }
    };
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        app.clone().oneshot(request)
    });
    if let Err(error) = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "metrics connection ended with an error");
    }
}

async fn metrics(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(authorizer) = &state.authorizer {
        let Some(token) = auth::bearer_token(&headers) else {
            return unauthorized();
        };
        match authorizer.review(token).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Unauthenticated) => return unauthorized(),
            Ok(Decision::Forbidden) => {
                return (
                    StatusCode::FORBIDDEN,
                    "forbidden: get on /metrics is not allowed\n",
                )
                    .into_response();
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot review a /metrics request");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot check the credentials with the API server\n",
                )
                    .into_response();
            }
        }
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = Format::negotiate(accept);
    match crate::metrics::encode_as(&state.registry, format) {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, format.content_type())],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, BEARER_CHALLENGE)],
        "unauthorized: a valid bearer token is required\n",
    )
        .into_response()
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    match readiness.state() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}
