//! Evaluates a Flux Kustomization's `healthCheckExprs` the way kustomize-controller does (Flux
//! RFC 0009): an object whose `status.observedGeneration` differs from `metadata.generation` is in
//! progress; otherwise `inProgress`, `failed` and `current` are tried in that order, each with the
//! object's top-level fields (`apiVersion`, `kind`, `metadata`, `spec`, `status`) as variables, and
//! the first that is true decides; none true means in progress. An expression that cannot be
//! evaluated (for example one that reads `status` of an object that has none) is an error, which
//! Flux retries until the Kustomization's timeout.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// kstatus results a health check expression can lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Failed,
    Current,
}

/// Why an object's status could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FluxCelError {
    #[error("failed to parse the CEL expression '{expression}': {message}")]
    Parse { expression: String, message: String },
    #[error("failed to evaluate the CEL expression '{expression}': {message}")]
    Evaluate { expression: String, message: String },
    #[error("failed to evaluate CEL expression as boolean: '{0}'")]
    NotBoolean(String),
    #[error("the object is not a JSON object")]
    NotAnObject,
}

/// One entry of `spec.healthCheckExprs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckExpressions {
    pub api_version: String,
    pub kind: String,
    pub current: String,
    #[serde(default)]
    pub failed: Option<String>,
    #[serde(default)]
    pub in_progress: Option<String>,
}

/// The `healthCheckExprs` of the Kustomization in `path`.
pub fn kustomization_expressions(path: &Path) -> Vec<HealthCheckExpressions> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let kustomization: Value = serde_norway::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()));
    serde_json::from_value(kustomization["spec"]["healthCheckExprs"].clone())
        .unwrap_or_else(|error| panic!("{}: healthCheckExprs: {error}", path.display()))
}

/// The entry of `expressions` for `kind`.
pub fn for_kind<'a>(
    expressions: &'a [HealthCheckExpressions],
    kind: &str,
) -> &'a HealthCheckExpressions {
    expressions
        .iter()
        .find(|entry| entry.kind == kind)
        .unwrap_or_else(|| panic!("no healthCheckExprs entry for {kind}"))
}

/// The kstatus of `object` under `expressions`.
pub fn evaluate(
    expressions: &HealthCheckExpressions,
    object: &Value,
) -> Result<KStatus, FluxCelError> {
    let Value::Object(fields) = object else {
        return Err(FluxCelError::NotAnObject);
    };
    if let Some(observed) = object["status"]["observedGeneration"].as_i64()
        && let Some(generation) = object["metadata"]["generation"].as_i64()
        && observed != generation
    {
        return Ok(KStatus::InProgress);
    }
    let mut context = cel::Context::default();
    for (name, value) in fields {
        let value = cel::to_value(value).map_err(|error| FluxCelError::Evaluate {
            expression: name.clone(),
            message: error.to_string(),
        })?;
        context.add_variable_from_value(name.clone(), value);
    }
    let ordered = [
        (expressions.in_progress.as_deref(), KStatus::InProgress),
        (expressions.failed.as_deref(), KStatus::Failed),
        (Some(expressions.current.as_str()), KStatus::Current),
    ];
    for (expression, status) in ordered {
        let Some(expression) = expression.filter(|text| !text.trim().is_empty()) else {
            continue;
        };
        if evaluate_boolean(expression, &context)? {
            return Ok(status);
        }
    }
    Ok(KStatus::InProgress)
}

fn evaluate_boolean(
    expression: &str,
    context: &cel::Context<'_, '_>,
) -> Result<bool, FluxCelError> {
    let program = cel::Program::compile(expression).map_err(|error| FluxCelError::Parse {
        expression: expression.to_owned(),
        message: error.to_string(),
    })?;
    match program.execute(context) {
        Ok(cel::Value::Bool(result)) => Ok(result),
        Ok(_) => Err(FluxCelError::NotBoolean(expression.to_owned())),
        Err(error) => Err(FluxCelError::Evaluate {
            expression: expression.to_owned(),
            message: error.to_string(),
        }),
    }
}
