//! Runs Argo CD resource customizations (health checks, action discovery, actions) in a Lua 5.1
//! VM set up the way Argo CD sets up its own.
//!
//! Argo CD runs these scripts in gopher-lua (Lua 5.1) with only the base, package and table
//! libraries and an `os` reduced to `time` and `date`; the object is the global `obj`, decoded from
//! JSON; the script's returned table is encoded back to JSON with gopher-json's rules (an empty
//! table is `[]`, a table whose first key is a number must be a dense array, one whose first key is
//! a string must have only string keys, a table may appear only once), then decoded into a health
//! status, a list of actions, or the modified object. Each step below does the same, so a script
//! that passes here behaves the same in Argo CD, and one that uses a library Argo CD withholds
//! (such as `string`) fails here too.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Argo CD cancels a script after one second.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the VM checks the deadline, in instructions.
const HOOK_EVERY: u32 = 10_000;
/// The global that holds the object, as in Argo CD.
const OBJECT_GLOBAL: &str = "obj";
/// Argo CD's answer when a script returns a status that is not one of [`HEALTH_STATUSES`].
pub const INVALID_HEALTH_STATUS: &str = "Lua returned an invalid health status";
/// The health status codes Argo CD accepts from a script.
pub const HEALTH_STATUSES: [&str; 6] = [
    "Unknown",
    "Progressing",
    "Suspended",
    "Healthy",
    "Degraded",
    "Missing",
];

/// Why a script could not produce a result; Argo CD reports each as an error on the resource.
#[derive(Debug, thiserror::Error)]
pub enum LuaRunError {
    #[error("lua failed: {0}")]
    Lua(#[from] mlua::Error),
    #[error("expect table output from Lua script, not {0}")]
    NotATable(String),
    #[error("cannot encode lua value as json: {0}")]
    Encode(String),
    #[error("lua output does not decode as {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("lua output was not a valid json object or array")]
    NotAnObject,
}

/// Argo CD's `HealthStatus`: what a health script returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct HealthStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Argo CD's `ResourceAction`: one entry of what a discovery script returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAction {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A VM with Argo CD's libraries and `obj` set to `object`.
fn vm(object: &Value) -> Result<Lua, LuaRunError> {
    // The base library is always open; OS is opened only to take `time` and `date` from it.
    let lua = Lua::new_with(
        StdLib::PACKAGE | StdLib::TABLE | StdLib::OS,
        LuaOptions::default(),
    )?;
    let globals = lua.globals();
    let full_os: Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "date"] {
        safe_os.set(name, full_os.get::<mlua::Function>(name)?)?;
    }
    globals.set("os", safe_os.clone())?;
    // `require("os")` must give the reduced table too, as Argo CD's preloaded module does.
    let package: Table = globals.get("package")?;
    let loaded: Table = package.get("loaded")?;
    loaded.set("os", safe_os)?;
    globals.set(OBJECT_GLOBAL, json_to_lua(&lua, object)?)?;
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if Instant::now() > deadline {
                Err(mlua::Error::runtime(
                    "script ran longer than Argo CD allows",
                ))
            } else {
                Ok(VmState::Continue)
            }
        },
    )?;
    Ok(lua)
}

/// Runs `script` against `object` and returns the script's value encoded as JSON.
fn run(script: &str, object: &Value) -> Result<Value, LuaRunError> {
    let lua = vm(object)?;
    let returned: mlua::Value = lua.load(script).set_name("script").eval()?;
    match returned {
        mlua::Value::Table(table) => lua_to_json(&mlua::Value::Table(table), &mut HashSet::new()),
        other => Err(LuaRunError::NotATable(lua_type_name(&other).to_owned())),
    }
}

/// What Argo CD shows as the resource's health, as `ExecuteHealthLua` computes it.
pub fn health(script: &str, object: &Value) -> Result<HealthStatus, LuaRunError> {
    let returned = run(script, object)?;
    let status: HealthStatus =
        serde_json::from_value(returned).map_err(|source| LuaRunError::Decode {
            what: "a health status",
            source,
        })?;
    if !HEALTH_STATUSES.contains(&status.status.as_str()) {
        return Ok(HealthStatus {
            status: "Unknown".into(),
            message: INVALID_HEALTH_STATUS.into(),
        });
    }
    Ok(status)
}

/// The actions Argo CD offers for the resource, as `ExecuteResourceActionDiscovery` computes them,
/// sorted by name.
pub fn discover_actions(script: &str, object: &Value) -> Result<Vec<ResourceAction>, LuaRunError> {
    let returned = run(script, object)?;
    let Value::Object(map) = returned else {
        // An empty table encodes as `[]`: no actions.
        return Ok(Vec::new());
    };
    let mut actions = Vec::new();
    for (name, value) in map {
        let mut action = ResourceAction {
            name: name.clone(),
            disabled: false,
            icon_class: None,
            display_name: None,
        };
        if let Value::Object(_) = value {
            action = serde_json::from_value(value).map_err(|source| LuaRunError::Decode {
                what: "a resource action",
                source,
            })?;
            action.name = name;
        }
        actions.push(action);
    }
    actions.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(actions)
}

/// The object an action script returns, cleaned as `ExecuteResourceAction` cleans it (empty
/// tables that were objects in `original` become objects again).
pub fn run_action(script: &str, original: &Value) -> Result<Value, LuaRunError> {
    let returned = run(script, original)?;
    let (Value::Object(new), Value::Object(old)) = (returned, original) else {
        return Err(LuaRunError::NotAnObject);
    };
    Ok(Value::Object(clean_returned_object(new, old)))
}

/// Undoes gopher-json's encoding of empty tables as `[]` where the original held an object.
fn clean_returned_object(
    mut new: Map<String, Value>,
    old: &Map<String, Value>,
) -> Map<String, Value> {
    for (key, old_value) in old {
        let Some(new_value) = new.remove(key) else {
            continue;
        };
        let cleaned = match (new_value, old_value) {
            (Value::Object(new_map), Value::Object(old_map)) => {
                Value::Object(clean_returned_object(new_map, old_map))
            }
            (Value::Array(items), Value::Object(old_map)) if items.is_empty() => {
                Value::Object(old_map.clone())
            }
            (Value::Array(items), Value::Array(old_items)) => {
                Value::Array(clean_returned_array(items, old_items))
            }
            (other, _) => other,
        };
        new.insert(key.clone(), cleaned);
    }
    new
}

fn clean_returned_array(items: Vec<Value>, old: &[Value]) -> Vec<Value> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match (item, old.get(index)) {
            (Value::Object(new_map), Some(Value::Object(old_map))) => {
                Value::Object(clean_returned_object(new_map, old_map))
            }
            (Value::Array(new_items), Some(Value::Array(old_items))) => {
                Value::Array(clean_returned_array(new_items, old_items))
            }
            (other, _) => other,
        })
        .collect()
}

/// The JSON merge patch (RFC 7386) from `original` to `modified`, which Argo CD sends to the API
/// server after an action.
pub fn merge_patch(original: &Value, modified: &Value) -> Value {
    match (original, modified) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                match old.get(key) {
                    Some(old_value) if old_value == new_value => {}
                    Some(old_value) => {
                        patch.insert(key.clone(), merge_patch(old_value, new_value));
                    }
                    None => {
                        patch.insert(key.clone(), new_value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => modified.clone(),
    }
}

/// gopher-lua's decoding of an object: JSON `null` is `nil`, numbers are Lua numbers.
fn json_to_lua(lua: &Lua, value: &Value) -> Result<mlua::Value, LuaRunError> {
    Ok(match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(flag) => mlua::Value::Boolean(*flag),
        Value::Number(number) => number.as_i64().map_or_else(
            || mlua::Value::Number(number.as_f64().unwrap_or(f64::NAN)),
            mlua::Value::Integer,
        ),
        Value::String(text) => mlua::Value::String(lua.create_string(text)?),
        Value::Array(items) => {
            let table = lua.create_table()?;
            for (index, item) in items.iter().enumerate() {
                table.raw_set(index + 1, json_to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(map) => {
            let table = lua.create_table()?;
            for (key, item) in map {
                table.raw_set(key.as_str(), json_to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// gopher-json's encoding of a Lua value.
fn lua_to_json(value: &mlua::Value, visited: &mut HashSet<usize>) -> Result<Value, LuaRunError> {
    match value {
        mlua::Value::Nil => Ok(Value::Null),
        mlua::Value::Boolean(flag) => Ok(Value::Bool(*flag)),
        mlua::Value::Integer(number) => Ok(Value::from(*number)),
        mlua::Value::Number(number) => number_to_json(*number),
        mlua::Value::String(text) => Ok(Value::String(
            text.to_str()
                .map_err(|error| LuaRunError::Encode(error.to_string()))?
                .to_owned(),
        )),
        mlua::Value::Table(table) => table_to_json(table, visited),
        other => Err(LuaRunError::Encode(format!(
            "cannot encode {} to JSON",
            lua_type_name(other)
        ))),
    }
}

fn number_to_json(number: f64) -> Result<Value, LuaRunError> {
    if !number.is_finite() {
        return Err(LuaRunError::Encode(format!(
            "json: unsupported value: {number}"
        )));
    }
    // Go's encoder writes integral floats without a fraction, as integers read back.
    #[allow(clippy::cast_possible_truncation)]
    let integral = number.fract() == 0.0 && number.abs() < 9.0e15;
    if integral {
        #[allow(clippy::cast_possible_truncation)]
        return Ok(Value::from(number as i64));
    }
    serde_json::Number::from_f64(number)
        .map(Value::Number)
        .ok_or_else(|| LuaRunError::Encode(format!("json: unsupported value: {number}")))
}

fn table_to_json(table: &Table, visited: &mut HashSet<usize>) -> Result<Value, LuaRunError> {
    // gopher-json marks a table as visited and never unmarks it: any table seen twice is refused.
    if !visited.insert(table.to_pointer() as usize) {
        return Err(LuaRunError::Encode(
            "cannot encode recursively nested tables to JSON".into(),
        ));
    }
    let pairs: Vec<(mlua::Value, mlua::Value)> = table
        .pairs::<mlua::Value, mlua::Value>()
        .collect::<Result<_, _>>()?;
    let Some((first_key, _)) = pairs.first() else {
        return Ok(Value::Array(Vec::new()));
    };
    match first_key {
        mlua::Value::Integer(_) | mlua::Value::Number(_) => {
            let mut items = Vec::with_capacity(pairs.len());
            for (expected, (key, item)) in (1_i64..).zip(&pairs) {
                let index = match key {
                    mlua::Value::Integer(index) => Some(*index),
                    #[allow(clippy::cast_possible_truncation)]
                    mlua::Value::Number(index) if index.fract() == 0.0 => Some(*index as i64),
                    mlua::Value::Number(_) => None,
                    _ => {
                        return Err(LuaRunError::Encode(
                            "cannot encode mixed or invalid key types".into(),
                        ));
                    }
                };
                if index != Some(expected) {
                    return Err(LuaRunError::Encode("cannot encode sparse array".into()));
                }
                items.push(lua_to_json(item, visited)?);
            }
            Ok(Value::Array(items))
        }
        mlua::Value::String(_) => {
            let mut map = Map::new();
            for (key, item) in &pairs {
                let mlua::Value::String(key) = key else {
                    return Err(LuaRunError::Encode(
                        "cannot encode mixed or invalid key types".into(),
                    ));
                };
                let key = key
                    .to_str()
                    .map_err(|error| LuaRunError::Encode(error.to_string()))?
                    .to_owned();
                map.insert(key, lua_to_json(item, visited)?);
            }
            Ok(Value::Object(map))
        }
        _ => Err(LuaRunError::Encode(
            "cannot encode mixed or invalid key types".into(),
        )),
    }
}

fn lua_type_name(value: &mlua::Value) -> &'static str {
    match value {
        mlua::Value::Nil => "nil",
        mlua::Value::Boolean(_) => "boolean",
        mlua::Value::Integer(_) | mlua::Value::Number(_) => "number",
        mlua::Value::String(_) => "string",
        mlua::Value::Table(_) => "table",
        mlua::Value::Function(_) => "function",
        mlua::Value::Thread(_) => "thread",
        _ => "userdata",
    }
}
