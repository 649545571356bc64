//! Configuration: a config object from JS (camelCase fields or `OTEL_*` strings), `init`, the
//! resource's runtime facts, and the settings in force.

use crosstrace::{Error as CoreError, Tracing, TracingConfig};
use js_sys::Reflect;
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;

use crate::{export, js_error, tracing, State, STATE};

fn camel_to_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a config from the JSON of a JS object: either `OTEL_*` strings (as edge runtimes bind
/// their environment) or `TracingConfig` fields in camelCase.
fn config_from_json(text: &str) -> Result<TracingConfig, CoreError> {
    let v: Json = serde_json::from_str(text).map_err(|_| CoreError::InvalidArgument {
        argument: "config",
        value: text.chars().take(200).collect(),
        expected: "a plain object",
    })?;
    let Json::Object(map) = v else {
        return Err(CoreError::InvalidArgument {
            argument: "config",
            value: text.chars().take(200).collect(),
            expected: "a plain object",
        });
    };
    let env_like = !map.is_empty()
        && map
            .keys()
            .all(|k| k.starts_with("OTEL_") || k.starts_with("CROSSTRACE_") || k == "ENVIRONMENT");
    if env_like {
        let vars: std::collections::BTreeMap<String, String> = map
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect();
        return Ok(TracingConfig::from_lookup(|k| vars.get(k).cloned())?);
    }
    let snake: serde_json::Map<String, Json> = map
        .into_iter()
        .map(|(k, v)| (camel_to_snake(&k), v))
        .collect();
    // The core names a bad field (snake_case); say it as the caller wrote it.
    crosstrace::binding::config_from_json_value(Json::Object(snake)).map_err(|mut e| {
        if e.source_name.contains('_') {
            e.source_name = snake_to_camel(&e.source_name);
        }
        CoreError::Config(e)
    })
}

fn snake_to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `telemetry.sdk.language` of the JS runtime calling: `nodejs` where Node's `process`
/// says it is Node (Deno and Bun say so too), `webjs` elsewhere (browsers, workers, edge
/// runtimes), as the semantic conventions name them.
fn sdk_language() -> &'static str {
    let node = Reflect::get(&js_sys::global(), &"process".into())
        .ok()
        .filter(JsValue::is_object)
        .and_then(|p| Reflect::get(&p, &"versions".into()).ok())
        .filter(JsValue::is_object)
        .and_then(|v| Reflect::get(&v, &"node".into()).ok())
        .is_some_and(|n| n.is_string());
    if node {
        "nodejs"
    } else {
        "webjs"
    }
}

/// Sets `host.name` for the resource of later `init`s: the Node entry point passes
/// `os.hostname()` (wasm cannot ask the system; browsers have no host to name).
#[wasm_bindgen(js_name = setHostName)]
pub fn set_host_name(name: &str) {
    crosstrace::binding::resource::set_host_name(name);
}

/// The resource spans are exported with, as a JSON object of its attributes (for tests and
/// for checking a deployment's setup).
#[wasm_bindgen(js_name = resourceJson)]
pub fn resource_json() -> String {
    let t = tracing();
    let attrs: serde_json::Map<String, Json> = t
        .resource()
        .iter()
        .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
        .collect();
    Json::Object(attrs).to_string()
}

/// Configures tracing from the JSON of a config object; replaces any earlier setup.
#[wasm_bindgen(js_name = init)]
pub fn init(config_json: &str) -> Result<(), JsValue> {
    let config = config_from_json(config_json).map_err(|e| js_error(&e))?;
    let target = export::target_of(&config).map_err(|e| js_error(&e))?;
    crosstrace::binding::resource::set_sdk_language(sdk_language());
    let tracing = Tracing::new(config).map_err(|e| js_error(&e))?;
    STATE.with(|s| *s.borrow_mut() = Some(State { tracing, target }));
    Ok(())
}

/// The settings in force, as JSON (snake_case field names).
#[wasm_bindgen(js_name = configJson)]
pub fn config_json() -> String {
    serde_json::to_string(tracing().config()).unwrap_or_default()
}

/// The configured batch size (the wrapper flushes when this many spans wait).
#[wasm_bindgen(js_name = batchSize)]
pub fn batch_size() -> u32 {
    tracing().config().export_max_batch_size as u32
}

/// The configured schedule delay in ms (the wrapper's flush timer).
#[wasm_bindgen(js_name = scheduleDelayMillis)]
pub fn schedule_delay_millis() -> u32 {
    tracing().config().schedule_delay_millis as u32
}
