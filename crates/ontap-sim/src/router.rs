//! The axum router: `/api/` behind Basic auth and faults, `/_sim/` behind Basic auth only.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::Uri;
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
use super::record_set::RecordSet;
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
    pub cluster_network_fields: FieldCatalog,
    pub node_fields: FieldCatalog,
    pub cluster_fields: FieldCatalog,
}

impl Served {
    /// The fields of the collection serving `set`.
    #[must_use]
    pub fn fields_of(&self, set: RecordSet) -> &FieldCatalog {
        match set {
            RecordSet::SecurityAssociations => &self.security_association_fields,
            RecordSet::ClusterNetwork => &self.cluster_network_fields,
        }
    }
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
        cluster_network_fields: FieldCatalog::cluster_network(&config.ontap_version),
        node_fields: FieldCatalog::nodes(),
        cluster_fields: FieldCatalog::cluster(),
    };
    let app = AppState {
        state,
        served: Arc::new(served),
    };
    let mut routes = Router::new();
    for set in RecordSet::ALL {
        routes = record_set_routes(routes, set);
    }
    routes
        .route(paths::CLUSTER, get(api::cluster))
        .route(paths::NODES, get(api::nodes))
        .route(&format!("{}/{{uuid}}", paths::NODES), get(api::node))
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

/// The `/api/` endpoints and the control API of one record set.
fn record_set_routes(routes: Router<AppState>, set: RecordSet) -> Router<AppState> {
    let instance = format!("{}/{{uuid}}", set.api_path());
    let control_instance = format!("{}/{{uuid}}", set.control_path());
    routes
        .route(
            set.api_path(),
            get(
                move |State(app): State<AppState>, format: Format, uri: Uri, shaping| async move {
                    api::collection(set, &app, format, &uri, shaping)
                },
            ),
        )
        .route(
            &instance,
            get(
                move |State(app): State<AppState>, format: Format, uri: Uri, path| async move {
                    api::instance(set, &app, format, &uri, path)
                },
            ),
        )
        .route(
            &format!("{instance}/{{*rest}}"),
            get(
                move |State(app): State<AppState>, format: Format, uri: Uri| async move {
                    api::extra_segment(set, &app, format, &uri)
                },
            ),
        )
        .route(
            set.control_path(),
            get(move |State(app): State<AppState>| async move { control::list_records(set, &app) })
                .put(move |State(app): State<AppState>, body| async move {
                    control::replace_records(set, &app, &body)
                })
                .post(move |State(app): State<AppState>, body| async move {
                    control::insert_record(set, &app, &body)
                }),
        )
        .route(
            &control_instance,
            get(move |State(app): State<AppState>, uuid| async move {
                control::get_record(set, &app, uuid)
            })
            .patch(move |State(app): State<AppState>, uuid, body| async move {
                control::patch_record(set, &app, uuid, &body)
            })
            .delete(move |State(app): State<AppState>, uuid| async move {
                control::remove_record(set, &app, uuid)
            }),
        )
        .route(
            &format!("{control_instance}/rekey"),
            post(move |State(app): State<AppState>, uuid| async move {
                control::rekey_record(set, &app, uuid)
            }),
        )
}

/// Every request: count `/api/` ones, check credentials, then apply faults to `/api/` only.
async fn gate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with(paths::API_PREFIX);
    let kind = classify(&request);
    if is_api {
        app.state.count_request();
        if let Some(set) = kind.set() {
            app.state.record_set(set).count_request();
        }
    }
    let format = Format::from_headers(request.headers());
    if !app.served.credentials.accepts(request.headers()) {
        return response::error(&OntapError::user_not_authorized(), format);
    }
    if !is_api {
        return next.run(request).await;
    }
    let decision = app.state.decide_faults(kind);
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
    for set in RecordSet::ALL {
        if path == set.api_path() {
            let continues =
                form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                    .any(|(key, _)| key == START_UUID);
            return RequestKind::Collection { set, continues };
        }
        if path
            .strip_prefix(set.api_path())
            .is_some_and(|rest| rest.starts_with('/'))
        {
            return RequestKind::Instance { set };
        }
    }
    RequestKind::Other
}
