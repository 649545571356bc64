//! The wasm side of the `crosstrace` npm package. The JS wrapper (`js/index.js`) gives the
//! camelCase API and keeps the current context of synchronous code; everything else — spans,
//! sampling, limits, correlation, propagation, queueing, encoding, health — is the core's.
//!
//! No threads and no DOM: spans queue in the core's bounded queue, and `flush` (called by the
//! wrapper on a timer, at batch size, on `flush()` and when the page is hidden) drains it and
//! sends each batch with `fetch`.

use std::cell::RefCell;

use crosstrace::export::wire::{self, Encoder, Payload, Route, Unsupported, Verdict, Wire};
use crosstrace::export::{render_tree, Outcome, TreeStyle};
use crosstrace::{Correlation, Error as CoreError, KeyValue, Tracing, TracingConfig};
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(s: &str);
    #[wasm_bindgen(js_name = fetch)]
    fn fetch(url: &str, init: &JsValue) -> js_sys::Promise;
}

/// A JS `Error` whose `name` is the stable name of the error kind (`CrosstraceConfigError`, ...).
fn js_error(e: &CoreError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(e.kind().js_name());
    err.into()
}

fn invalid(argument: &'static str, value: &str, expected: &'static str) -> JsValue {
    js_error(&CoreError::InvalidArgument {
        argument,
        value: value.chars().take(200).collect(),
        expected,
    })
}

/// How finished spans leave.
#[derive(Debug, Clone)]
enum Target {
    Console,
    Discard,
    Http {
        url: String,
        wire: Wire,
        headers: Vec<(String, String)>,
    },
}

/// The target of `config`: the core's route, for `fetch`, which cannot speak gRPC and refuses
/// URLs with credentials.
fn target_of(config: &TracingConfig) -> Result<Target, CoreError> {
    let setup = |message: String| CoreError::ExporterSetup {
        backend: config.backend.to_string(),
        message,
    };
    let route = wire::route(config).map_err(|e| match e {
        Unsupported::OtlpJson => setup(
            "this build of the package has no OTLP/JSON encoder (built without the `json` \
             feature): use http/protobuf"
                .into(),
        ),
    })?;
    let (mut url, wire) = match route {
        Route::Console => return Ok(Target::Console),
        Route::Discard => return Ok(Target::Discard),
        Route::Send { url, wire } => (url, wire),
    };
    let mut headers: Vec<(String, String)> = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // `fetch` refuses a URL with credentials: they go as Basic authentication (unless the
    // headers already authenticate), and the URL without them.
    if let Some(basic) = crosstrace::redact::basic_authorization(&url) {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            headers.push(("authorization".into(), basic));
        }
    }
    if let Some((bare, _, _)) = crosstrace::redact::split_userinfo(&url) {
        url = bare;
    }
    if wire == Wire::OtlpGrpc {
        return Err(setup(format!(
            "{url} is an OTLP/gRPC endpoint; browsers and edge runtimes cannot speak gRPC: use \
             OTLP/HTTP (port 4318, /v1/traces)"
        )));
    }
    Ok(Target::Http { url, wire, headers })
}

struct State {
    tracing: Tracing,
    target: Target,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn tracing() -> Tracing {
    STATE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|s| s.tracing.clone())
            .unwrap_or_else(Tracing::disabled)
    })
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
    TracingConfig::from_json_value(Json::Object(snake)).map_err(|mut e| {
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
    crosstrace::resource::set_host_name(name);
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
    let target = target_of(&config).map_err(|e| js_error(&e))?;
    crosstrace::resource::set_sdk_language(sdk_language());
    let tracing = Tracing::new(config).map_err(|e| js_error(&e))?;
    STATE.with(|s| *s.borrow_mut() = Some(State { tracing, target }));
    Ok(())
}

/// The settings in force, as JSON (snake_case field names).
#[wasm_bindgen(js_name = configJson)]
pub fn config_json() -> String {
    serde_json::to_string(tracing().config()).unwrap_or_default()
}

/// An immutable propagation context: parent span, baggage, correlation.
#[wasm_bindgen]
#[derive(Debug, Clone, Default)]
pub struct Context {
    inner: crosstrace::Context,
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

    /// The shared vectors' JSON shape of this context.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        crosstrace::interop::context_to_json(&self.inner).to_string()
    }

    /// A context from the shared vectors' JSON shape.
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(json: &str) -> Result<Context, JsValue> {
        let v: Json =
            serde_json::from_str(json).map_err(|_| invalid("json", json, "a JSON object"))?;
        crosstrace::interop::context_from_json(&v)
            .map(|inner| Context { inner })
            .map_err(|e| js_error(&e))
    }

    /// A copy carrying a correlation context: `id` (validated; a UUID v4 when undefined),
    /// `userId`, `operation` and further string `fields`.
    #[wasm_bindgen(js_name = withCorrelation)]
    pub fn with_correlation(
        &self,
        id: Option<String>,
        user_id: Option<String>,
        operation: Option<String>,
        fields_json: Option<String>,
    ) -> Result<Context, JsValue> {
        let mut fields = Vec::new();
        if let Some(f) = fields_json {
            let v: Json = serde_json::from_str(&f)
                .map_err(|_| invalid("fields", &f, "an object of strings"))?;
            for (k, v) in v.as_object().into_iter().flatten() {
                let s = v
                    .as_str()
                    .ok_or_else(|| invalid("fields", &f, "an object of strings"))?;
                fields.push((k.clone(), s.to_owned()));
            }
        }
        let c = Correlation::new(id, user_id, operation, fields).map_err(|e| js_error(&e))?;
        Ok(Context {
            inner: self.inner.with_correlation(c),
        })
    }
}

/// Live spans, addressed from JS by integer handles: `index | generation << 20`. Handing JS a
/// wasm-bindgen object per span would register each with a FinalizationRegistry, and the
/// garbage collector's work on those cells dominated the cost of a span. A span leaves the table
/// when it ends; a stale handle (an ended span's) is refused. Past [`MAX_LIVE`] open spans, new
/// ones are not recorded (a program that never ends its spans cannot grow memory forever).
struct Slab {
    slots: Vec<(u32, Option<crosstrace::Span>)>,
    free: Vec<u32>,
}

const MAX_LIVE: usize = 1 << 20;
const INDEX_BITS: u32 = 20;

thread_local! {
    static SPANS: RefCell<Slab> = const { RefCell::new(Slab { slots: Vec::new(), free: Vec::new() }) };
}

fn insert_span(span: crosstrace::Span) -> u32 {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let index = match s.free.pop() {
            Some(i) => i,
            None if s.slots.len() < MAX_LIVE => {
                s.slots.push((0, None));
                (s.slots.len() - 1) as u32
            }
            None => return u32::MAX, // no room: the span is dropped (ended) right away
        };
        let slot = &mut s.slots[index as usize];
        slot.0 = (slot.0 + 1) & 0xfff;
        slot.1 = Some(span);
        index | (slot.0 << INDEX_BITS)
    })
}

/// Runs `f` on a live span; `None` for an ended or unknown handle.
fn with_span<R>(handle: u32, f: impl FnOnce(&mut crosstrace::Span) -> R) -> Option<R> {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let (generation, span) = s
            .slots
            .get_mut((handle & ((1 << INDEX_BITS) - 1)) as usize)?;
        if *generation != handle >> INDEX_BITS {
            return None;
        }
        span.as_mut().map(f)
    })
}

fn remove_span(handle: u32) -> Option<crosstrace::Span> {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let index = handle & ((1 << INDEX_BITS) - 1);
        let (generation, span) = s.slots.get_mut(index as usize)?;
        if *generation != handle >> INDEX_BITS {
            return None;
        }
        let span = span.take()?;
        s.free.push(index);
        Some(span)
    })
}

fn key_value(key: &str, value: &JsValue) -> Option<KeyValue> {
    let k = crosstrace::intern::key(key);
    if let Some(s) = value.as_string() {
        Some(KeyValue::new(k, s))
    } else if let Some(b) = value.as_bool() {
        Some(KeyValue::new(k, b))
    } else if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            Some(KeyValue::new(k, n as i64))
        } else {
            Some(KeyValue::new(k, n))
        }
    } else if value.is_bigint() {
        i64::try_from(value.clone())
            .ok()
            .map(|i| KeyValue::new(k, i))
    } else {
        None
    }
}

/// Attributes from the JSON text `encodeAttributes` makes of a plain object, parsed straight
/// into key-values in the object's order: keys borrowed from the text (no copy unless escaped)
/// and interned, no intermediate JSON tree.
fn json_attributes(text: &str) -> Result<Vec<KeyValue>, JsValue> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    use std::borrow::Cow;

    struct Key<'de>(Cow<'de, str>);
    impl<'de> serde::Deserialize<'de> for Key<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a key")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(s)))
                }
                fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(s.to_owned())))
                }
            }
            d.deserialize_str(V)
        }
    }

    struct Val(crosstrace::Value);
    impl<'de> serde::Deserialize<'de> for Val {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Val;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string, number or boolean")
                }
                fn visit_str<E>(self, s: &str) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::from(s.to_owned())))
                }
                fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::Bool(b)))
                }
                fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::I64(i)))
                }
                fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
                    Ok(Val(i64::try_from(u).map_or(
                        crosstrace::Value::F64(u as f64),
                        crosstrace::Value::I64,
                    )))
                }
                fn visit_f64<E>(self, f: f64) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::F64(f)))
                }
            }
            d.deserialize_any(V)
        }
    }

    struct Attrs(Vec<KeyValue>);
    impl<'de> Visitor<'de> for &mut Attrs {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
                let Val(v) = m.next_value::<Val>()?;
                self.0.push(KeyValue::new(crosstrace::intern::key(&k), v));
            }
            Ok(())
        }
    }

    let mut out = Attrs(Vec::with_capacity(4));
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(&mut out)
        .and_then(|()| de.end())
        .map_err(|_| {
            invalid(
                "attributes",
                text,
                "an object of string, number, boolean or bigint values",
            )
        })?;
    Ok(out.0)
}

fn attributes(obj: &JsValue) -> Result<Vec<KeyValue>, JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(Vec::new());
    }
    if let Some(text) = obj.as_string() {
        return json_attributes(&text);
    }
    if !obj.is_object() {
        return Err(invalid(
            "attributes",
            &format!("{obj:?}"),
            "an object of string, number, boolean or bigint values",
        ));
    }
    let mut out = Vec::new();
    for entry in Object::entries(obj.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let value = pair.get(1);
        let kv = key_value(&key, &value).ok_or_else(|| {
            invalid(
                "attribute value",
                &key,
                "a string, number, boolean or bigint",
            )
        })?;
        out.push(kv);
    }
    Ok(out)
}

/// Sets an attribute (string, number, boolean or bigint) on a live span.
#[wasm_bindgen(js_name = spanSetAttribute)]
pub fn span_set_attribute(span: u32, key: &str, value: &JsValue) -> Result<(), JsValue> {
    let kv = key_value(key, value).ok_or_else(|| {
        invalid(
            "attribute value",
            key,
            "a string, number, boolean or bigint",
        )
    })?;
    with_span(span, |s| s.set_attribute(kv));
    Ok(())
}

/// Adds an event with attributes (an object, or its JSON).
#[wasm_bindgen(js_name = spanAddEvent)]
pub fn span_add_event(span: u32, name: &str, attrs: &JsValue) -> Result<(), JsValue> {
    let a = attributes(attrs)?;
    with_span(span, |s| s.add_event(crosstrace::intern::name(name), a));
    Ok(())
}

/// Records an exception: an `exception` event and error status.
#[wasm_bindgen(js_name = spanRecordException)]
pub fn span_record_exception(span: u32, type_name: &str, message: &str, stack: Option<String>) {
    with_span(span, |s| {
        s.record_exception(type_name, message, stack.as_deref())
    });
}

/// Sets the status: `"ok"`, `"error"` (with a description) or `"unset"`.
#[wasm_bindgen(js_name = spanSetStatus)]
pub fn span_set_status(span: u32, code: &str, description: Option<String>) -> Result<(), JsValue> {
    let status = crosstrace::span::parse_status(code, description)
        .ok_or_else(|| invalid("status", code, "\"ok\", \"error\" or \"unset\""))?;
    with_span(span, |s| s.set_status(status));
    Ok(())
}

/// Ends a span and releases its handle; ending again does nothing.
#[wasm_bindgen(js_name = spanEnd)]
pub fn span_end(span: u32) {
    if let Some(mut s) = remove_span(span) {
        s.end();
    }
}

fn epoch_millis(ms: f64) -> Result<std::time::SystemTime, JsValue> {
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(invalid(
            "time",
            &ms.to_string(),
            "milliseconds since the Unix epoch (a finite, non-negative number or a Date)",
        ));
    }
    // Whole milliseconds exactly (as `Date` gives them), the fraction to the nanosecond: an f64
    // of seconds since 1970 would lose tens of nanoseconds.
    let whole = ms.trunc();
    Ok(std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(whole as u64)
        + std::time::Duration::from_nanos(((ms - whole) * 1e6).round() as u64))
}

/// Ends a span at `end_ms` (ms since the Unix epoch, as `Date.now()`) and releases its handle.
#[wasm_bindgen(js_name = spanEndAt)]
pub fn span_end_at(span: u32, end_ms: f64) -> Result<(), JsValue> {
    let at = epoch_millis(end_ms)?;
    if let Some(mut s) = remove_span(span) {
        s.end_at(at);
    }
    Ok(())
}

/// The span-derived metrics in the Prometheus text format (empty when metrics are off).
#[wasm_bindgen(js_name = metricsText)]
pub fn metrics_text() -> String {
    tracing().metrics_text()
}

/// Whether the span records (sampled, or measured for the span metrics; not ended).
#[wasm_bindgen(js_name = spanIsRecording)]
pub fn span_is_recording(span: u32) -> bool {
    with_span(span, |s| s.is_recording()).unwrap_or(false)
}

/// Whether the sampler kept the span's trace (its trace flags; false for an ended span).
#[wasm_bindgen(js_name = spanIsSampled)]
pub fn span_is_sampled(span: u32) -> bool {
    with_span(span, |s| s.span_context().is_sampled()).unwrap_or(false)
}

/// The trace and span ids, `"<32 hex>-<16 hex>"` (empty for an ended span).
#[wasm_bindgen(js_name = spanIds)]
pub fn span_ids(span: u32) -> String {
    with_span(span, |s| {
        format!("{}-{}", s.trace_id_hex(), s.span_id_hex())
    })
    .unwrap_or_default()
}

/// The context for children of a live span (an empty one for an ended span).
#[wasm_bindgen(js_name = spanContext)]
pub fn span_context(span: u32) -> Context {
    Context {
        inner: with_span(span, |s| s.context()).unwrap_or_default(),
    }
}

/// Starts a span of `kind` under `parent`.
#[wasm_bindgen(js_name = startSpan)]
pub fn start_span(
    name: &str,
    kind: u32,
    parent: &Context,
    attrs_json: Option<String>,
    attrs: &JsValue,
    start_ms: Option<f64>,
) -> Result<u32, JsValue> {
    // A number, not the kind's name: one string fewer to copy into wasm per span (index.js maps
    // the names and rejects unknown ones).
    let kind = crosstrace::span::kind_from_number(kind).ok_or_else(|| {
        invalid(
            "kind",
            &kind.to_string(),
            "internal, server, client, producer or consumer",
        )
    })?;
    // The JSON text of plain attributes comes as a string argument (copied in with the
    // arguments, not fetched back from JS); other objects come as they are.
    let attrs = match attrs_json {
        Some(text) => json_attributes(&text)?,
        None => attributes(attrs)?,
    };
    let start = start_ms.map(epoch_millis).transpose()?;
    let t = tracing();
    let mut b = t
        .span(crosstrace::intern::name(name))
        .kind(kind)
        .attributes(attrs)
        .parent_context(&parent.inner);
    if let Some(at) = start {
        b = b.start_time(at);
    }
    Ok(insert_span(b.start()))
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

/// The health report as JSON.
#[wasm_bindgen]
pub fn health() -> String {
    tracing().health().to_json()
}

/// Spans waiting for export.
#[wasm_bindgen(js_name = queueDepth)]
pub fn queue_depth() -> u32 {
    tracing().queue_depth() as u32
}

fn request_init(
    body: Vec<u8>,
    content_type: &str,
    headers: &[(String, String)],
    keepalive: bool,
) -> JsValue {
    let init = Object::new();
    let h = Object::new();
    let _ = Reflect::set(&h, &"content-type".into(), &content_type.into());
    for (k, v) in headers {
        let _ = Reflect::set(&h, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    let _ = Reflect::set(&init, &"method".into(), &"POST".into());
    let _ = Reflect::set(&init, &"headers".into(), &h);
    let _ = Reflect::set(&init, &"body".into(), &Uint8Array::from(&body[..]).into());
    if keepalive {
        let _ = Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    }
    init.into()
}

async fn send(
    url: &str,
    headers: &[(String, String)],
    payload: Payload,
    keepalive: bool,
) -> Outcome {
    let n = payload.span_count() as u64;
    let init = request_init(payload.encode(), payload.content_type(), headers, keepalive);
    let response = match JsFuture::from(fetch(url, &init)).await {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| format!("{e:?}"));
            return Verdict::no_response(url, &msg, false).outcome(n);
        }
    };
    let status = Reflect::get(&response, &"status".into())
        .ok()
        .and_then(|s| s.as_f64())
        .unwrap_or(0.0) as u16;
    let body = match Reflect::get(&response, &"arrayBuffer".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&response).ok())
    {
        Some(p) => JsFuture::from(js_sys::Promise::from(p))
            .await
            .map(|b| Uint8Array::new(&b).to_vec())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // Not retried, not split: every verdict is final here.
    payload.verdict(status, &body, url).outcome(n)
}

/// Exports everything queued, batch by batch; `keepalive` lets the requests outlive a page
/// that is being hidden or closed.
#[wasm_bindgen]
pub async fn flush(keepalive: bool) -> Result<(), JsValue> {
    let Some((tracing, target)) = STATE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|s| (s.tracing.clone(), s.target.clone()))
    }) else {
        return Ok(());
    };
    let encoder = match &target {
        Target::Http { wire, .. } => Some(Encoder::new(*wire, tracing.resource())),
        Target::Console | Target::Discard => None,
    };
    loop {
        let batch = tracing.take_batch();
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len();
        let outcome = match (&target, &encoder) {
            (Target::Http { url, headers, .. }, Some(encoder)) => {
                send(url, headers, encoder.payload(batch), keepalive).await
            }
            (Target::Console, _) => {
                console_log(render_tree(&batch, TreeStyle::Timed).trim_end());
                Outcome::exported(n as u64)
            }
            _ => Outcome::exported(n as u64),
        };
        tracing.report_export(n, outcome);
    }
}

/// Exports what is queued, then stops: later spans are no-ops.
#[wasm_bindgen]
pub async fn shutdown() -> Result<(), JsValue> {
    flush(true).await?;
    let t = tracing();
    match t.shutdown(std::time::Duration::from_secs(0)) {
        Ok(_) | Err(CoreError::AlreadyShutdown) => Ok(()),
        Err(e) => Err(js_error(&e)),
    }
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
