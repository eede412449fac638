//! The control API under `/_sim/`: read and change records, inject and clear faults, read stats.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::fault::{Fault, FaultError};
use super::record_set::RecordSet;
use super::router::AppState;
use super::state::StateError;

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("request body is not valid json: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("expected a json array of security association records")]
    NotAnArray,
    #[error("invalid fault: {0}")]
    InvalidFaultShape(#[source] serde_json::Error),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::State(StateError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Self::State(StateError::DuplicateUuid { .. }) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        (
            status,
            Json(json!({ "error": { "message": self.to_string() } })),
        )
            .into_response()
    }
}

fn parse(body: &Bytes) -> Result<Value, ControlError> {
    serde_json::from_slice(body).map_err(ControlError::InvalidJson)
}

/// `GET /_sim/<set>`: every record, counters as of now.
pub fn list_records(set: RecordSet, app: &AppState) -> Json<Vec<Value>> {
    Json(app.state.record_set(set).records())
}

/// `PUT /_sim/<set>`: replace the whole set with a JSON array.
pub fn replace_records(
    set: RecordSet,
    app: &AppState,
    body: &Bytes,
) -> Result<Json<Value>, ControlError> {
    let Value::Array(records) = parse(body)? else {
        return Err(ControlError::NotAnArray);
    };
    let count = records.len();
    app.state.record_set(set).replace_records(records)?;
    Ok(Json(json!({ "num_records": count })))
}

/// `POST /_sim/<set>`: add one record (or replace the one with its uuid).
pub fn insert_record(
    set: RecordSet,
    app: &AppState,
    body: &Bytes,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let record = parse(body)?;
    app.state.record_set(set).insert_record(record.clone())?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// `GET /_sim/<set>/{uuid}`
pub fn get_record(
    set: RecordSet,
    app: &AppState,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ControlError> {
    app.state
        .record_set(set)
        .record(&uuid)
        .map(Json)
        .ok_or(ControlError::State(StateError::NotFound { uuid }))
}

/// `PATCH /_sim/<set>/{uuid}`: JSON merge patch (RFC 7386).
pub fn patch_record(
    set: RecordSet,
    app: &AppState,
    Path(uuid): Path<String>,
    body: &Bytes,
) -> Result<Json<Value>, ControlError> {
    let patch = parse(body)?;
    Ok(Json(app.state.record_set(set).patch_record(&uuid, &patch)?))
}

/// `DELETE /_sim/<set>/{uuid}`
pub fn remove_record(
    set: RecordSet,
    app: &AppState,
    Path(uuid): Path<String>,
) -> Result<StatusCode, ControlError> {
    app.state.record_set(set).remove_record(&uuid)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_sim/<set>/{uuid}/rekey`: new uuid, new SPIs, counters from zero.
pub fn rekey_record(
    set: RecordSet,
    app: &AppState,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ControlError> {
    Ok(Json(app.state.record_set(set).rekey_record(&uuid)?))
}

/// `GET /_sim/faults`: the active faults with their remaining `skip` and `count`.
pub async fn list_faults(State(app): State<AppState>) -> Json<Vec<Fault>> {
    Json(app.state.faults())
}

/// `POST /_sim/faults`: one fault object or an array of them; all or nothing.
pub async fn add_faults(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<Fault>>), ControlError> {
    let faults = match parse(&body)? {
        Value::Array(items) => items,
        single => vec![single],
    }
    .into_iter()
    .map(|item| serde_json::from_value::<Fault>(item).map_err(ControlError::InvalidFaultShape))
    .collect::<Result<Vec<_>, _>>()?;
    for fault in &faults {
        fault.validate()?;
    }
    for fault in faults {
        app.state.set_fault(fault)?;
    }
    Ok((StatusCode::CREATED, Json(app.state.faults())))
}

/// `DELETE /_sim/faults`
pub async fn clear_faults(State(app): State<AppState>) -> StatusCode {
    app.state.clear_faults();
    StatusCode::NO_CONTENT
}

/// `GET /_sim/stats`: `/api/` requests served, records held, stalls and endless bodies open.
pub async fn stats(State(app): State<AppState>) -> Json<Value> {
    let cluster_network = app.state.cluster_network();
    Json(json!({
        "requests": app.state.request_count(),
        "records": app.state.security_associations().len(),
        "hanging": app.state.hanging_responses(),
        "cluster_network_requests": cluster_network.request_count(),
        "cluster_network_records": cluster_network.len(),
    }))
}
