//! Contexts and propagation: the immutable `Context` (parent, baggage, correlation), `inject`
//! and `extract` with headers in every shape JS code has them.

use crosstrace::Correlation;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{invalid, js_error, tracing};

/// An immutable propagation context: parent span, baggage, correlation.
#[wasm_bindgen]
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub(crate) inner: crosstrace::Context,
}

#[wasm_bindgen]
impl Context {
    /// An empty context (no parent: spans under it start new traces).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Context {
        Context::default()
    }

    /// The correlation id, if any.
    #[wasm_bindgen(js_name = correlationId)]
    pub fn correlation_id(&self) -> Option<String> {
        self.inner.correlation().map(|c| c.id().to_owned())
    }

    /// The parent trace id (32 hex digits), if any.
    #[wasm_bindgen(js_name = traceId)]
    pub fn trace_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.trace_id().to_string())
    }

    /// The parent span id (16 hex digits), if any.
    #[wasm_bindgen(js_name = spanId)]
    pub fn span_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.span_id().to_string())
    }

    /// Whether the parent span is sampled (its trace flags); false without a parent.
    pub fn sampled(&self) -> bool {
        self.inner.span_context().is_some_and(|s| s.is_sampled())
    }

    /// The shared vectors' JSON shape of this context.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        let shape = crosstrace::binding::interop::context_shape(&self.inner);
        js_sys::JSON::stringify(&crate::to_js(&shape.to_value()))
            .map(String::from)
            .unwrap_or_default()
    }

    /// A context from the shared vectors' JSON shape.
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(json: &str) -> Result<Context, JsValue> {
        let v = js_sys::JSON::parse(json).map_err(|_| invalid("json", json, "a JSON object"))?;
        if !v.is_object() || Array::is_array(&v) {
            return Err(invalid("json", json, "a JSON object"));
        }
        let input = crosstrace::binding::interop::ContextInput::from_value(&crate::field_value(&v))
            .ok_or_else(|| {
                invalid(
                    "json",
                    json,
                    "the vectors' context shape (ids, flags and tracestate as strings, sampled \
                     and debug as booleans, baggage and correlation fields as objects of strings)",
                )
            })?;
        crosstrace::binding::interop::context_from_input(input)
            .map(|inner| Context { inner })
            .map_err(|e| js_error(&e))
    }

    /// A copy carrying a correlation context: `id` (validated; a UUID v4 when undefined),
    /// `userId`, `operation` and further string `fields` (an object of strings, or its JSON).
    #[wasm_bindgen(js_name = withCorrelation)]
    pub fn with_correlation(
        &self,
        id: Option<String>,
        user_id: Option<String>,
        operation: Option<String>,
        fields: &JsValue,
    ) -> Result<Context, JsValue> {
        let mut out = Vec::new();
        // An object of strings, or its JSON text (what this method took before).
        let parsed;
        let fields = match fields.as_string() {
            Some(text) => {
                parsed = js_sys::JSON::parse(&text)
                    .map_err(|_| invalid("fields", &text, "an object of strings"))?;
                &parsed
            }
            None => fields,
        };
        if !fields.is_undefined() && !fields.is_null() {
            let bad = || {
                invalid(
                    "fields",
                    &String::from(js_sys::JSON::stringify(fields).unwrap_or_else(|_| "?".into())),
                    "an object of strings",
                )
            };
            if !fields.is_object() || Array::is_array(fields) {
                return Err(bad());
            }
            for entry in crate::entries(fields)?.iter() {
                let pair: Array = entry.unchecked_into();
                match (pair.get(0).as_string(), pair.get(1).as_string()) {
                    (Some(k), Some(v)) => out.push((k, v)),
                    _ => return Err(bad()),
                }
            }
        }
        let c = Correlation::new(id, user_id, operation, out).map_err(|e| js_error(&e))?;
        Ok(Context {
            inner: self.inner.with_correlation(c),
        })
    }
}

/// Every header the configured propagators may write (the OpenTelemetry API propagator's
/// `fields()`): the browser build's W3C ones, or with b3 and jaeger in the full build.
#[wasm_bindgen(js_name = propagationFields)]
pub fn propagation_fields() -> Array {
    tracing()
        .propagators()
        .fields()
        .into_iter()
        .map(JsValue::from_str)
        .collect()
}

/// The propagation headers of `cx`, as a plain object (lowercase names).
#[wasm_bindgen]
pub fn inject(cx: &Context) -> Object {
    let mut headers: Vec<(String, String)> = Vec::new();
    tracing().inject(&cx.inner, &mut headers);
    let obj = Object::new();
    for (k, v) in headers {
        let _ = Reflect::set(&obj, &JsValue::from_str(&k), &JsValue::from_str(&v));
    }
    obj
}

/// A context from headers in any shape JS code has them (see [`header_lines`]). Never fails:
/// bad headers give an empty context.
#[wasm_bindgen]
pub fn extract(headers: &JsValue) -> Context {
    Context {
        inner: tracing().extract(&header_lines(headers)),
    }
}

/// Header lines, in order, from: an array of `[name, value]` pairs (a name may repeat); Node's
/// flat `rawHeaders` array `[name, value, name, value, ...]`, or an object that has one (an
/// `IncomingMessage`); a plain object whose values are strings or arrays of strings (Node's
/// `req.headers`). What is not a string is skipped.
fn header_lines(headers: &JsValue) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<(String, String)>, name: JsValue, value: JsValue| {
        let Some(name) = name.as_string() else { return };
        if let Some(v) = value.as_string() {
            out.push((name, v));
        } else if Array::is_array(&value) {
            for v in Array::from(&value).iter().filter_map(|v| v.as_string()) {
                out.push((name.clone(), v));
            }
        }
    };
    let flat = |out: &mut Vec<(String, String)>, raw: &Array| {
        for i in (0..raw.length().saturating_sub(1)).step_by(2) {
            push(out, raw.get(i), raw.get(i + 1));
        }
    };
    if Array::is_array(headers) {
        let items = Array::from(headers);
        if items.iter().all(|i| i.is_string()) {
            flat(&mut out, &items);
        } else {
            for item in items.iter().filter(Array::is_array) {
                let pair = Array::from(&item);
                push(&mut out, pair.get(0), pair.get(1));
            }
        }
    } else if headers.is_object() {
        let raw = Reflect::get(headers, &"rawHeaders".into()).unwrap_or(JsValue::UNDEFINED);
        if Array::is_array(&raw) {
            flat(&mut out, &Array::from(&raw));
        } else {
            for entry in Object::entries(headers.unchecked_ref()).iter() {
                let pair: Array = entry.unchecked_into();
                push(&mut out, pair.get(0), pair.get(1));
            }
        }
    }
    out
}
