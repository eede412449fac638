//! The operator's own HTTP endpoints: `/metrics` (OpenMetrics), `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
struct Shared {
    registry: Arc<Registry>,
    readiness: Arc<Readiness>,
}

/// The router serving the three endpoints.
pub fn router(registry: Arc<Registry>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Shared {
            registry,
            readiness,
        })
}

/// Binds `addr` and serves the endpoints in the background.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    readiness: Arc<Readiness>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(registry, readiness);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    });
    Ok(bound)
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    match crate::metrics::encode(&shared.registry) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    match shared.readiness.state() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}
