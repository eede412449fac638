//! Handlers of the simulated ONTAP endpoints under `/api/`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{StatusCode, Uri};
use serde_json::{Value, json};

use super::collection::{self, CollectionRequest};
use super::fault::PageShaping;
use super::fields::FieldSelection;
use super::ontap_error::OntapError;
use super::paths;
use super::query::{parse_collection, parse_instance};
use super::record_set::RecordSet;
use super::render;
use super::response::{self, Format};
use super::router::{AppState, Shaping};

/// `GET <collection>` of a record set, e.g. `/api/security/ipsec/security-associations`.
pub fn collection(
    set: RecordSet,
    app: &AppState,
    format: Format,
    uri: &Uri,
    shaping: Option<Extension<Shaping>>,
) -> Response {
    let served = &app.served;
    if !set.exists_on(&served.version) {
        return response::error(&OntapError::api_not_found(), format);
    }
    let query = match parse_collection(uri.query(), served.fields_of(set)) {
        Ok(query) => query,
        Err(error) => return response::error(&error, format),
    };
    let shaping = shaping.and_then(|Extension(Shaping(shaping))| shaping);
    let body = app.state.record_set(set).read(|store, read| {
        let request = CollectionRequest {
            path: set.api_path(),
            self_href: self_href(uri),
            query: &query,
            shaping: shaping.map(|shaping| match shaping {
                PageShaping::MissingNode(mut missing) => {
                    if missing.node.is_none() {
                        missing.node = store.last_node_name();
                    }
                    PageShaping::MissingNode(missing)
                }
                other => other,
            }),
        };
        collection::body(&request, |start| {
            store
                .starting_at(start, read)
                .map(|record| render::security_association(record, set, &served.version))
        })
    });
    response::json(StatusCode::OK, body, format)
}

/// `GET <collection>/{uuid}` of a record set: the bare record.
pub fn instance(
    set: RecordSet,
    app: &AppState,
    format: Format,
    uri: &Uri,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let served = &app.served;
    if !set.exists_on(&served.version) {
        return response::error(&OntapError::api_not_found(), format);
    }
    let Ok(Path(uuid)) = path else {
        return response::error(&OntapError::invalid_uuid(uri.path()), format);
    };
    let fields = match parse_instance(uri.query(), served.fields_of(set)) {
        Ok(FieldSelection::KeysOnly) => FieldSelection::All,
        Ok(fields) => fields,
        Err(error) => return response::error(&error, format),
    };
    let record = app
        .state
        .record_set(set)
        .read(|store, read| store.get(&uuid, read));
    match record {
        Some(record) => {
            let record = render::security_association(record, set, &served.version);
            response::json(StatusCode::OK, fields.project(record), format)
        }
        None if !is_uuid(&uuid) => response::error(&OntapError::invalid_uuid(&uuid), format),
        None => response::error(&OntapError::entry_not_found(), format),
    }
}

/// `GET <collection>/{uuid}/...`: ONTAP has nothing below an SA.
pub fn extra_segment(set: RecordSet, app: &AppState, format: Format, uri: &Uri) -> Response {
    if !set.exists_on(&app.served.version) {
        return response::error(&OntapError::api_not_found(), format);
    }
    // The raw segment, so undecodable bytes cannot turn this into a different error.
    let segment = uri
        .path()
        .strip_prefix(set.api_path())
        .and_then(|rest| rest.split('/').nth(2))
        .unwrap_or_default();
    response::error(&OntapError::unexpected_path_segment(segment), format)
}

/// `GET /api/cluster`: name, uuid and version.
pub async fn cluster(State(app): State<AppState>, format: Format, uri: Uri) -> Response {
    let served = &app.served;
    let fields = match parse_instance(uri.query(), &served.cluster_fields) {
        Ok(FieldSelection::KeysOnly) => FieldSelection::All,
        Ok(fields) => fields,
        Err(error) => return response::error(&error, format),
    };
    let version = &served.version;
    let cluster = json!({
        "name": served.cluster_name,
        "uuid": served.cluster_uuid,
        "version": {
            "full": version.full(),
            "generation": version.generation,
            "major": version.major,
            "minor": version.minor,
        },
        "_links": { "self": { "href": paths::CLUSTER } },
    });
    response::json(StatusCode::OK, fields.project(cluster), format)
}

/// `GET /api/cluster/nodes`: the nodes named by the SA records, all `up`.
pub async fn nodes(State(app): State<AppState>, format: Format, uri: Uri) -> Response {
    let query = match parse_collection(uri.query(), &app.served.node_fields) {
        Ok(query) => query,
        Err(error) => return response::error(&error, format),
    };
    let nodes = derive_nodes(&app);
    let request = CollectionRequest {
        path: paths::NODES,
        self_href: self_href(&uri),
        query: &query,
        shaping: None,
    };
    let body = collection::body(&request, |start| {
        let start = start.map(str::to_owned);
        nodes
            .iter()
            .filter(move |node| {
                start
                    .as_deref()
                    .is_none_or(|start| node["uuid"].as_str() >= Some(start))
            })
            .cloned()
    });
    response::json(StatusCode::OK, body, format)
}

/// `GET /api/cluster/nodes/{uuid}`
pub async fn node(
    State(app): State<AppState>,
    format: Format,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(uuid)) = path else {
        return response::error(&OntapError::invalid_uuid(uri.path()), format);
    };
    let fields = match parse_instance(uri.query(), &app.served.node_fields) {
        Ok(FieldSelection::KeysOnly) => FieldSelection::All,
        Ok(fields) => fields,
        Err(error) => return response::error(&error, format),
    };
    match derive_nodes(&app)
        .into_iter()
        .find(|node| node["uuid"].as_str() == Some(uuid.as_str()))
    {
        Some(node) => response::json(StatusCode::OK, fields.project(node), format),
        None if !is_uuid(&uuid) => response::error(&OntapError::invalid_uuid(&uuid), format),
        None => response::error(&OntapError::entry_not_found(), format),
    }
}

/// Any other path.
pub async fn not_found(format: Format) -> Response {
    response::error(&OntapError::api_not_found(), format)
}

/// A method the read-only endpoints do not serve.
pub async fn method_not_allowed(format: Format) -> Response {
    response::error(&OntapError::method_not_allowed(), format)
}

fn self_href(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |path| path.as_str().to_owned())
}

/// Nodes (uuid → name) named by any record of either set, in uuid order.
fn derive_nodes(app: &AppState) -> Vec<Value> {
    let mut nodes = BTreeMap::new();
    for set in RecordSet::ALL {
        app.state.record_set(set).peek(|store| {
            nodes.extend(store.raw().filter_map(|record| {
                let node = record.get("node")?;
                Some((
                    node.get("uuid")?.as_str()?.to_owned(),
                    node.get("name")?.as_str()?.to_owned(),
                ))
            }));
        });
    }
    nodes
        .into_iter()
        .map(|(uuid, name)| render::node(&name, &uuid))
        .collect()
}

/// ONTAP keys are hyphenated 8-4-4-4-12 hex UUIDs.
fn is_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape_is_strict() {
        assert!(is_uuid("1cd8a442-86d1-11e0-ae1c-123478563412"));
        assert!(!is_uuid("1cd8a44286d111e0ae1c123478563412"));
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("1cd8a442-86d1-11e0-ae1c-12347856341g"));
    }
}
