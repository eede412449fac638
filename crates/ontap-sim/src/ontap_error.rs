//! ONTAP's error responses: status, string code, message and target, as real clusters send them.

use http::StatusCode;
use serde_json::{Value, json};

/// Unknown query parameter or extra path segment (attested).
pub const CODE_UNEXPECTED_ARGUMENT: &str = "262179";
/// Unknown name in `fields` (attested, with the message format below).
pub const CODE_INVALID_FIELD: &str = "262197";
/// Malformed key in an instance path (attested).
pub const CODE_INVALID_KEY: &str = "2";
/// Endpoint absent on this ONTAP version, and unknown paths (attested for the version case).
pub const CODE_API_NOT_FOUND: &str = "3";
/// Missing entry on instance GET (attested).
pub const CODE_ENTRY_NOT_FOUND: &str = "4";
/// User lacks the role for the endpoint (attested).
pub const CODE_NOT_AUTHORIZED_FOR_COMMAND: &str = "6";
/// Bad credentials. ONTAP's code for this is not public; the message is attested.
pub const CODE_USER_NOT_AUTHORIZED: &str = "6691623";
/// Invalid parameter value (`max_records=abc`). Not public; chosen for the simulator.
pub const CODE_INVALID_VALUE: &str = "262185";
/// Generic internal error used by injected faults when no code is given. Chosen.
pub const CODE_INTERNAL_ERROR: &str = "1";

pub const MESSAGE_USER_NOT_AUTHORIZED: &str = "User is not authorized.";
pub const MESSAGE_ENTRY_NOT_FOUND: &str = "entry doesn't exist";
pub const MESSAGE_NOT_AUTHORIZED_FOR_COMMAND: &str = "not authorized for that command";
pub const MESSAGE_API_NOT_FOUND: &str = "API not found";
pub const MESSAGE_INTERNAL_ERROR: &str = "Internal error.";
pub const MESSAGE_METHOD_NOT_ALLOWED: &str = "The method is not allowed for this API.";

pub const TARGET_UUID: &str = "uuid";
pub const TARGET_FIELDS: &str = "fields";

/// One ONTAP error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ontap error {code} ({status}): {message}")]
pub struct OntapError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
}

impl OntapError {
    #[must_use]
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            target: None,
        }
    }

    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// 401 for missing or wrong credentials.
    #[must_use]
    pub fn user_not_authorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            CODE_USER_NOT_AUTHORIZED,
            MESSAGE_USER_NOT_AUTHORIZED,
        )
    }

    /// 400 for a query parameter the endpoint does not know.
    #[must_use]
    pub fn unexpected_argument(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            CODE_UNEXPECTED_ARGUMENT,
            format!("Unexpected argument \"{name}\"."),
        )
    }

    /// 404 for a path segment beyond the instance key.
    #[must_use]
    pub fn unexpected_path_segment(segment: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            ..Self::unexpected_argument(segment)
        }
    }

    /// 400 for a name in `fields` (or `order_by`) that the record type does not have.
    #[must_use]
    pub fn invalid_field(value: &str, parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            CODE_INVALID_FIELD,
            format!("The value \"{value}\" is invalid for field \"{parameter}\" (<field,...>)"),
        )
        .with_target(parameter)
    }

    /// 400 for a parameter whose value cannot be used.
    #[must_use]
    pub fn invalid_value(value: &str, parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            CODE_INVALID_VALUE,
            format!("\"{value}\" is an invalid value for field \"{parameter}\""),
        )
        .with_target(parameter)
    }

    /// 404 for an instance key that is not a UUID.
    #[must_use]
    pub fn invalid_uuid(value: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            CODE_INVALID_KEY,
            format!("\"{value}\" is an invalid value for field \"{TARGET_UUID}\" (<UUID>)"),
        )
        .with_target(TARGET_UUID)
    }

    /// 404 for a well-formed key without a record.
    #[must_use]
    pub fn entry_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            CODE_ENTRY_NOT_FOUND,
            MESSAGE_ENTRY_NOT_FOUND,
        )
        .with_target(TARGET_UUID)
    }

    /// 404 for an endpoint this ONTAP version (or any) does not have.
    #[must_use]
    pub fn api_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            CODE_API_NOT_FOUND,
            MESSAGE_API_NOT_FOUND,
        )
    }

    /// 405 for a method the read-only endpoints do not serve.
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            CODE_API_NOT_FOUND,
            MESSAGE_METHOD_NOT_ALLOWED,
        )
    }

    /// The JSON body: `{"error": {"message", "code", "target"?}}`.
    #[must_use]
    pub fn body(&self) -> Value {
        let mut error = json!({ "message": self.message, "code": self.code });
        if let (Some(target), Some(object)) = (&self.target, error.as_object_mut()) {
            object.insert("target".to_owned(), Value::String(target.clone()));
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_string_code_and_target() {
        let body = OntapError::entry_not_found().body();
        assert_eq!(body["error"]["code"], "4");
        assert_eq!(body["error"]["message"], "entry doesn't exist");
        assert_eq!(body["error"]["target"], "uuid");
    }

    #[test]
    fn body_without_target_has_no_target_key() {
        let body = OntapError::user_not_authorized().body();
        assert!(body["error"].get("target").is_none());
        assert_eq!(body["error"]["message"], "User is not authorized.");
    }

    #[test]
    fn extra_path_segment_is_not_found_with_unexpected_argument_code() {
        let error = OntapError::unexpected_path_segment("extra");
        assert_eq!(error.status, StatusCode::NOT_FOUND);
        assert_eq!(error.code, "262179");
    }
}
