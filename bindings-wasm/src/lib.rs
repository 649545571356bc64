//! The wasm side of the `crosstrace` npm package. The JS wrapper (`js/index.js`) gives the
//! camelCase API and keeps the current context of synchronous code; everything else — spans,
//! sampling, limits, correlation, propagation, queueing, encoding, health — is the core's.
//!
//! No threads and no DOM: spans queue in the core's bounded queue, and `flush` (called by the
//! wrapper on a timer, at batch size, on `flush()` and when the page is hidden) drains it and
//! sends each batch with `fetch`.
//!
//! One module per concern: `config` (config objects, `init`, the resource), `spans` (the handle
//! slab, attributes, the span calls), `context` (contexts, `inject`/`extract`), `export` (where
//! spans go, `flush`, `shutdown`), `health` (the report, queue depth, metrics). This file keeps
//! what they share and the list of exports.

use std::cell::RefCell;

use crosstrace::FieldValue;
use crosstrace::{Error as CoreError, Tracing};
use js_sys::Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

mod config;
mod context;
mod export;
mod health;
mod spans;

pub use config::{
    batch_size, config_in_force, init, resource_object, schedule_delay_millis, set_host_name,
};
pub use context::{extract, inject, propagation_fields, Context};
pub use export::{flush, shutdown};
pub use health::{health, metrics_text, queue_depth};
pub use spans::{
    span_add_event, span_context, span_end, span_end_at, span_ids, span_is_recording,
    span_is_sampled, span_record_exception, span_set_attribute, span_set_status, start_span,
};

/// A JS `Error` whose `name` is the stable name of the error kind (`CrosstraceConfigError`, ...).
fn js_error(e: &CoreError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(e.kind().js_name());
    err.into()
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `Object.entries`, whose exception (a getter of the caller's object that throws) comes
    /// back as an error instead of unwinding through this module.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    fn entries(obj: &JsValue) -> Result<js_sys::Array, JsValue>;
    /// JS's `Number(value)` (a BigInt as the nearest number).
    #[wasm_bindgen(js_name = Number)]
    fn js_number(value: &JsValue) -> f64;
}

/// A JS value as the core reads config objects and contexts from it (no serde: its
/// deserializers and serde-wasm-bindgen's were 4.6 KB of the browser build's download).
fn field_value(v: &JsValue) -> FieldValue {
    value_within(v, 0)
}

/// Lists and objects deeper than this are of a kind no field takes: read no further (the
/// shapes read are at most three deep, and a hostile nesting must not run the stack out).
const MAX_DEPTH: u32 = 8;

/// The most entries read from an iterable (a Map, a Headers): a config's maps hold a few, and an
/// endless iterator must end.
const MAX_PAIRS: usize = 1024;

fn value_within(v: &JsValue, depth: u32) -> FieldValue {
    if let Some(b) = v.as_bool() {
        FieldValue::Bool(b)
    } else if let Some(n) = v.as_f64() {
        FieldValue::Number(n)
    } else if v.is_bigint() {
        // JS's Number(): exact up to 2^53, where every bound of a count lies; beyond, out of
        // bounds either way.
        FieldValue::Number(js_number(v))
    } else if let Some(s) = v.as_string() {
        FieldValue::Str(s)
    } else if v.is_null() {
        FieldValue::Null
    } else if depth >= MAX_DEPTH {
        FieldValue::Other
    } else if Array::is_array(v) {
        FieldValue::List(
            Array::from(v)
                .iter()
                .map(|v| value_within(&v, depth + 1))
                .collect(),
        )
    } else if v.is_object() && !v.is_function() {
        // A Map or a Headers: its [key, value] pairs; a plain object: its own entries (a getter
        // that throws: refused, not read as empty).
        let pairs: Vec<JsValue> = match js_sys::try_iter(v) {
            Ok(Some(iter)) => {
                let mut pairs = Vec::new();
                for pair in iter {
                    match pair {
                        Ok(pair) if pairs.len() < MAX_PAIRS => pairs.push(pair),
                        _ => return FieldValue::Other,
                    }
                }
                pairs
            }
            Ok(None) => match entries(v) {
                Ok(entries) => entries.iter().collect(),
                Err(_) => return FieldValue::Other,
            },
            Err(_) => return FieldValue::Other,
        };
        let mut map = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let key = Array::is_array(&pair)
                .then(|| Array::from(&pair))
                .filter(|p| p.length() == 2)
                .and_then(|p| p.get(0).as_string().map(|k| (k, p.get(1))));
            match key {
                Some((k, value)) => map.push((k, value_within(&value, depth + 1))),
                None => return FieldValue::Other,
            }
        }
        FieldValue::Map(map)
    } else {
        FieldValue::Other
    }
}

/// A core value as the plain JS value `JSON.parse` would give (objects for maps, `null` for
/// `None`; whole numbers as numbers).
fn to_js(value: &FieldValue) -> JsValue {
    match value {
        FieldValue::Null | FieldValue::Other => JsValue::NULL,
        FieldValue::Bool(b) => JsValue::from_bool(*b),
        FieldValue::Number(n) => JsValue::from_f64(*n),
        FieldValue::Whole(n) => JsValue::from_f64(*n as f64),
        FieldValue::Str(s) => JsValue::from_str(s),
        FieldValue::List(items) => items.iter().map(to_js).collect::<Array>().into(),
        FieldValue::Map(entries) => {
            let o = js_sys::Object::new();
            for (k, v) in entries {
                let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &to_js(v));
            }
            o.into()
        }
    }
}

fn invalid(argument: &'static str, value: &str, expected: &'static str) -> JsValue {
    js_error(&CoreError::InvalidArgument {
        argument,
        value: value.chars().take(200).collect(),
        expected,
    })
}

#[derive(Clone)]
struct State {
    tracing: Tracing,
    target: export::Target,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    /// Setups a later `init` replaced while they still held spans (queued, or started and not
    /// yet ended): `flush` exports those as their setup said, and forgets each setup once it
    /// holds none. (A native instance's export thread does the same on its own.)
    static RETIRED: RefCell<Vec<State>> = const { RefCell::new(Vec::new()) };
    /// Spans of forgotten setups that could not be exported (for `flush`'s answer).
    static RETIRED_FAILED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The spans a setup with these counts still holds: queued, or recording and not yet ended.
fn held(c: &crosstrace::health::SpanCounts) -> u64 {
    c.queue_depth
        + c.spans_started
            .saturating_sub(c.spans_sampled_out + c.spans_ended)
}

/// Whether `t` still holds spans.
fn holds_spans(t: &Tracing) -> bool {
    held(&t.health().counts) > 0
}

/// Replaced setups kept at most: one whose span never ends is kept until this many more
/// are replaced.
const MAX_RETIRED: usize = 8;

/// Keeps `old`, replaced by a new setup, for `flush` while it holds spans. Past
/// [`MAX_RETIRED`], the oldest is let go of, and what it still held is named in the current
/// setup's health warnings.
fn retire(old: State) {
    if !holds_spans(&old.tracing) {
        return;
    }
    let dropped = RETIRED.with(|r| {
        let mut r = r.borrow_mut();
        r.push(old);
        (r.len() > MAX_RETIRED).then(|| r.remove(0))
    });
    if let Some(gone) = dropped {
        let c = gone.tracing.health().counts;
        tracing().add_warning(
            "init replaced more than 8 setups that still held spans: the oldest was let go of, \
             and the spans it held (queued, or not yet ended) will not be exported",
        );
        RETIRED_FAILED.with(|f| f.set(f.get() + held(&c) + c.spans_export_failed));
    }
}

/// The setups replaced that still hold spans.
fn retired() -> Vec<State> {
    RETIRED.with(|r| r.borrow().clone())
}

/// Forgets the replaced setups that hold no more spans, keeping count of their failures.
fn forget_emptied() {
    RETIRED.with(|r| {
        r.borrow_mut().retain(|s| {
            let c = s.tracing.health().counts;
            let keep = held(&c) > 0;
            if !keep {
                RETIRED_FAILED.with(|f| f.set(f.get() + c.spans_export_failed));
            }
            keep
        })
    });
}

/// Spans that could not be exported, by this setup and by the ones it replaced: what `flush`
/// compares before and after.
#[wasm_bindgen(js_name = spansExportFailed)]
pub fn spans_export_failed() -> f64 {
    let retired: u64 = RETIRED.with(|r| {
        r.borrow()
            .iter()
            .map(|s| s.tracing.health().counts.spans_export_failed)
            .sum()
    });
    (tracing().health().counts.spans_export_failed + retired + RETIRED_FAILED.with(|f| f.get()))
        as f64
}

fn tracing() -> Tracing {
    STATE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|s| s.tracing.clone())
            .unwrap_or_else(Tracing::disabled)
    })
}
