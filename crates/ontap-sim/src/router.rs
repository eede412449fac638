//! The axum router: `/api/` behind Basic auth and faults, `/_sim/` behind Basic auth only.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use url::form_urlencoded;

use super::api;
use super::auth::Credentials;
use super::catalog::FieldCatalog;
use super::config::SimulatorConfig;
use super::control;
use super::fault::{Outcome, PageShaping, RequestKind};
use super::generate::uuid_from;
use super::ontap_error::OntapError;
use super::paths;
use super::query::START_UUID;
use super::response::{self, Format};
use super::state::SimulatorState;
use super::version::OntapVersion;

/// What every handler needs: the mutable state plus the fixed facts of this instance.
#[derive(Debug, Clone)]
pub struct AppState {
    pub state: SimulatorState,
    pub served: Arc<Served>,
}

/// The fixed facts of one simulator instance.
#[derive(Debug)]
pub struct Served {
    pub version: OntapVersion,
    pub cluster_name: String,
    pub cluster_uuid: String,
    pub credentials: Credentials,
    pub security_association_fields: FieldCatalog,
    pub node_fields: FieldCatalog,
    pub cluster_fields: FieldCatalog,
}

/// How faults shaped this collection page, handed from the gate to the handler.
#[derive(Debug, Clone)]
pub struct Shaping(pub Option<PageShaping>);

/// The simulator's whole HTTP surface for `config`, serving (and changing) `state`.
pub fn router(config: &SimulatorConfig, state: SimulatorState) -> Router {
    let served = Served {
        version: config.ontap_version.clone(),
        cluster_name: config.cluster_name.clone(),
        cluster_uuid: uuid_from(&config.cluster_name, 0),
        credentials: Credentials::new(&config.username, &config.password),
        security_association_fields: FieldCatalog::security_associations(&config.ontap_version),
        node_fields: FieldCatalog::nodes(),
        cluster_fields: FieldCatalog::cluster(),
    };
    let app = AppState {
        state,
        served: Arc::new(served),
    };
    let sa_instance = format!("{}/{{uuid}}", paths::SECURITY_ASSOCIATIONS);
    let control_instance = format!("{}/{{uuid}}", paths::CONTROL_SECURITY_ASSOCIATIONS);
    Router::new()
        .route(
            paths::SECURITY_ASSOCIATIONS,
            get(api::security_associations),
        )
        .route(&sa_instance, get(api::security_association))
        .route(&format!("{sa_instance}/{{*rest}}"), get(api::extra_segment))
        .route(paths::CLUSTER, get(api::cluster))
        .route(paths::NODES, get(api::nodes))
        .route(&format!("{}/{{uuid}}", paths::NODES), get(api::node))
        .route(
            paths::CONTROL_SECURITY_ASSOCIATIONS,
            get(control::list_records)
                .put(control::replace_records)
                .post(control::insert_record),
        )
        .route(
            &control_instance,
            get(control::get_record)
                .patch(control::patch_record)
                .delete(control::remove_record),
        )
        .route(
            &format!("{control_instance}/rekey"),
            post(control::rekey_record),
        )
        .route(
            paths::CONTROL_FAULTS,
            get(control::list_faults)
                .post(control::add_faults)
                .delete(control::clear_faults),
        )
        .route(paths::CONTROL_STATS, get(control::stats))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

/// Every request: count `/api/` ones, check credentials, then apply faults to `/api/` only.
async fn gate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with(paths::API_PREFIX);
    if is_api {
        app.state.count_request();
    }
    let format = Format::from_headers(request.headers());
    if !app.served.credentials.accepts(request.headers()) {
        return response::error(&OntapError::user_not_authorized(), format);
    }
    if !is_api {
        return next.run(request).await;
    }
    let decision = app.state.decide_faults(classify(&request));
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    match decision.outcome {
        Some(Outcome::Error(error)) => response::error(&error, format),
        Some(Outcome::MalformedJson) => response::malformed_json(),
        Some(Outcome::DropConnection) => response::drop_connection(),
        Some(Outcome::EndlessBody) => response::endless_body(format, app.state.hang()),
        Some(Outcome::Stall) => {
            // Hyper notices the client closing a busy connection and drops this future.
            let _hanging = app.state.hang();
            std::future::pending::<Response>().await
        }
        None => {
            request.extensions_mut().insert(Shaping(decision.shaping));
            next.run(request).await
        }
    }
}

fn classify(request: &Request) -> RequestKind {
    let path = request.uri().path();
    if path == paths::SECURITY_ASSOCIATIONS {
        let continues =
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .any(|(key, _)| key == START_UUID);
        RequestKind::SecurityAssociationCollection { continues }
    } else if path
        .strip_prefix(paths::SECURITY_ASSOCIATIONS)
        .is_some_and(|rest| rest.starts_with('/'))
    {
        RequestKind::SecurityAssociationInstance
    } else {
        RequestKind::Other
    }
}
