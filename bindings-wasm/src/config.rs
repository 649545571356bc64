//! Configuration: a config object from JS (camelCase fields or `OTEL_*` strings), `init`, the
//! resource's runtime facts, and the settings in force.

use crosstrace::{Error as CoreError, Tracing, TracingConfig};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{export, js_error, tracing, State, STATE};

#[wasm_bindgen]
extern "C" {
    /// JS's `String(value)`, which throws for a value whose `toString` throws or nests too deep.
    #[wasm_bindgen(catch, js_name = String)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;
}

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

/// A value as the caller wrote it, for messages and `OTEL_*` strings: a string as it is, a
/// whole number without a fraction, other numbers as Rust shows them (`1e300`, `NaN`, as the
/// core's messages do), anything else as JS's `String()`.
fn text_of(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        s
    } else if let Some(f) = v.as_f64() {
        if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
            (f as i64).to_string()
        } else {
            crosstrace::binding::number_text(f)
        }
    } else {
        js_string(v).unwrap_or_else(|_| "(a value String() cannot show)".into())
    }
}

/// Reads a config from a JS object: either `OTEL_*` strings (as edge runtimes bind their
/// environment; the full build only, feature `env`) or `TracingConfig` fields in camelCase, read
/// from the JS values themselves.
pub(crate) fn config_from_js(obj: &JsValue) -> Result<TracingConfig, CoreError> {
    if !obj.is_object() || Array::is_array(obj) {
        return Err(CoreError::InvalidArgument {
            argument: "config",
            value: text_of(obj).chars().take(200).collect(),
            expected: "a plain object",
        });
    }
    // A getter that throws is an error of the config, not an exception through this module.
    let entries: Vec<(String, JsValue)> = crate::entries(obj)
        .map_err(|e| CoreError::InvalidArgument {
            argument: "config",
            value: text_of(&e).chars().take(200).collect(),
            expected: "an object whose fields can be read",
        })?
        .iter()
        .map(|e| {
            let pair: Array = e.unchecked_into();
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
        // As JSON would: a field set to `undefined` is not set.
        .filter(|(_, v)| !v.is_undefined())
        .collect();
    // An environment (Node's `process.env`, an edge worker's `env`) holds other variables and
    // bindings beside the `OTEL_*` ones: it is told apart by holding no `TracingConfig` field
    // and at least one variable-shaped name, and only the variables crosstrace reads are read.
    let env_like = entries.iter().any(|(k, _)| variable_shaped(k))
        && !entries.iter().any(|(k, _)| is_field(k));
    if env_like {
        return from_environment(entries);
    }
    // A key that is no field is named as written (the core would name its snake_case form).
    if let Some((k, v)) = entries.iter().find(|(k, _)| !is_field(k)) {
        return Err(CoreError::Config(crosstrace::ConfigError {
            source_name: k.clone(),
            value: text_of(v),
            expected: "a TracingConfig field in camelCase (serviceName, serviceVersion, \
                       environment, backend, endpoint, samplingRate, ...) or, in the full build, \
                       OTEL_* variables"
                .into(),
        }));
    }
    // (the field it names, the name as written)
    let fields: Vec<(String, String, JsValue)> = entries
        .into_iter()
        .map(|(k, v)| (camel_to_snake(&k), k, v))
        .collect();
    let names: Vec<&str> = fields.iter().map(|(n, _, _)| n.as_str()).collect();
    TracingConfig::from_values(
        &names,
        |i| crate::field_value(&fields[i].2),
        |i| text_of(&fields[i].2),
    )
    // The core names a bad field (snake_case); say it as the caller wrote it.
    .map_err(|mut e| {
        if let Some((_, written, _)) = fields.iter().find(|(n, _, _)| *n == e.source_name) {
            e.source_name = written.clone();
        }
        CoreError::Config(e)
    })
}

/// Whether `key`, in camelCase, is a [`TracingConfig`] field.
fn is_field(key: &str) -> bool {
    let name = camel_to_snake(key);
    TracingConfig::field_names().contains(&name.as_str())
}

/// Whether `key` looks like an environment variable: upper-case letters, digits and `_`.
fn variable_shaped(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether the environment variable `key` is one crosstrace reads.
#[cfg_attr(feature = "env", allow(dead_code))]
fn read_by_crosstrace(key: &str) -> bool {
    key.starts_with("OTEL_") || key.starts_with("CROSSTRACE_") || key == "ENVIRONMENT"
}

/// `OTEL_*` strings, read as the core reads the environment.
#[cfg(feature = "env")]
fn from_environment(entries: Vec<(String, JsValue)>) -> Result<TracingConfig, CoreError> {
    let vars: Vec<(String, String)> = entries.into_iter().map(|(k, v)| (k, text_of(&v))).collect();
    Ok(TracingConfig::from_lookup(|k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })?)
}

/// The browser build reads no environment: its parser of `OTEL_*` strings was an eighth of the
/// download, and a page has no environment to read (edge runtimes get the full build).
#[cfg(not(feature = "env"))]
fn from_environment(entries: Vec<(String, JsValue)>) -> Result<TracingConfig, CoreError> {
    // An environment without crosstrace's variables asks for nothing: the defaults.
    let Some((name, _)) = entries.into_iter().find(|(k, _)| read_by_crosstrace(k)) else {
        return Ok(TracingConfig::default());
    };
    Err(CoreError::Config(crosstrace::ConfigError {
        source_name: name,
        value: "an OTEL_* setting".into(),
        expected: "TracingConfig fields in camelCase (serviceName, backend, endpoint, ...): the \
                   browser build reads no OTEL_* environment. Edge runtimes and Node get the \
                   full build, which does (the workerd, edge-light and node export conditions, \
                   or import 'crosstrace/edge')"
            .into(),
    }))
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

/// The resource spans are exported with, as an object of its attributes (for tests and for
/// checking a deployment's setup; not exported to JS).
pub fn resource_object() -> Object {
    let o = Object::new();
    for (k, v) in tracing().resource().iter() {
        let _ = Reflect::set(
            &o,
            &JsValue::from_str(k.as_str()),
            &JsValue::from_str(&v.to_string()),
        );
    }
    o
}

/// Configures tracing from a config object; replaces any earlier setup.
#[wasm_bindgen(js_name = init)]
pub fn init(config: &JsValue) -> Result<(), JsValue> {
    let config = config_from_js(config).map_err(|e| js_error(&e))?;
    let target = export::target_of(&config).map_err(|e| js_error(&e))?;
    crosstrace::binding::resource::set_sdk_language(sdk_language());
    let tracing = Tracing::new(config).map_err(|e| js_error(&e))?;
    // The spans the setup replaced still holds go out as it said (`flush`), not nowhere.
    if let Some(old) = STATE.with(|s| s.borrow_mut().replace(State { tracing, target })) {
        crate::retire(old);
    }
    Ok(())
}

/// The settings in force (for tests; not exported to JS).
pub fn config_in_force() -> TracingConfig {
    tracing().config().clone()
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
