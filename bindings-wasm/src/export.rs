//! Export: where finished spans go (the core's [`wire::route`]), and `flush`, which drains the
//! core's queue and sends each batch with `fetch`. The bytes, and what the answer means, are the
//! core's ([`wire::Encoder`], [`wire::Verdict`]); a batch is sent once: not retried, and split
//! only to fit the browser's limit on a `keepalive` request.

use crosstrace::binding::wire::{self, Encoder, Payload, Route, Unsupported, Verdict, Wire};
use crosstrace::binding::TracingBinding;
use crosstrace::export::{render_tree, Outcome, TreeStyle};
use crosstrace::{Error as CoreError, TracingConfig};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::{js_error, tracing, STATE};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(s: &str);
    #[wasm_bindgen(js_name = fetch)]
    fn fetch(url: &str, init: &JsValue) -> js_sys::Promise;
}

thread_local! {
    /// The function exports call instead of the global `fetch`, when core.js gives one
    /// (`crosstrace/otel` wraps `fetch` so that instrumentations do not trace the export).
    static FETCH: std::cell::RefCell<Option<js_sys::Function>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or, with `undefined`, clears) the function exports call as `fetch(url, init)`.
#[wasm_bindgen(js_name = setFetch)]
pub fn set_fetch(f: Option<js_sys::Function>) {
    FETCH.with(|c| *c.borrow_mut() = f);
}

/// `fetch(url, init)`, through the function core.js set if any.
fn start_fetch(url: &str, init: &JsValue) -> Result<js_sys::Promise, JsValue> {
    match FETCH.with(|c| c.borrow().clone()) {
        Some(f) => f
            .call2(&JsValue::UNDEFINED, &JsValue::from_str(url), init)?
            .dyn_into::<js_sys::Promise>()
            .map_err(|_| JsValue::from_str("the export's fetch did not return a promise")),
        None => Ok(fetch(url, init)),
    }
}

/// How finished spans leave.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Console,
    Discard,
    Http {
        url: String,
        wire: Wire,
        headers: Vec<(String, String)>,
    },
}

/// Why this build of the package cannot send to a wire (the browser build has OTLP/HTTP with
/// protobuf bodies only; the Node build adds Zipkin and Jaeger Thrift).
fn unsupported(e: Unsupported) -> &'static str {
    match e {
        Unsupported::OtlpJson => {
            "this build of the package has no OTLP/JSON encoder: use http/protobuf"
        }
        Unsupported::JaegerThrift => {
            "the browser build of the package has no Jaeger Thrift encoder: point the jaeger \
             backend at Jaeger's OTLP/HTTP endpoint (port 4318, /v1/traces); the package's \
             Node entry has the encoder"
        }
        Unsupported::Zipkin => {
            "the browser build of the package has no Zipkin encoder: use the otlp backend \
             (OTLP/HTTP, port 4318, /v1/traces); the package's Node entry has the encoder"
        }
    }
}

/// The target of `config`: the core's route, for `fetch`, which cannot speak gRPC and refuses
/// URLs with credentials.
pub(crate) fn target_of(config: &TracingConfig) -> Result<Target, CoreError> {
    let setup = |message: String| CoreError::ExporterSetup {
        backend: config.backend.to_string(),
        message,
    };
    let route = wire::route(config).map_err(|e| setup(unsupported(e).into()))?;
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

/// The largest body sent with `keepalive`. Browsers refuse (as a network error) a keepalive
/// request whose body, added to the page's other keepalive requests in flight, passes 64 KiB;
/// exports go one at a time, and 8 KiB is left for the page's own beacons.
const KEEPALIVE_BYTES: usize = 56 * 1024;

/// Sends `payload`. With `keepalive`, a body over [`KEEPALIVE_BYTES`] is split into requests
/// that fit, rather than refused whole by the browser; a single span over it goes as an
/// ordinary request (which still arrives when the page lives on).
async fn send_fitting(
    url: &str,
    headers: &[(String, String)],
    payload: Payload,
    keepalive: bool,
) -> Outcome {
    let mut outcome = Outcome::exported(0);
    let mut todo = vec![payload];
    while let Some(payload) = todo.pop() {
        let body = payload.encode();
        let fits = body.len() <= KEEPALIVE_BYTES;
        if keepalive && !fits && payload.span_count() > 1 {
            // Two or more spans: `split` gives both halves.
            if let Some((first, second)) = payload.split() {
                todo.push(second);
                todo.push(first);
            }
            continue;
        }
        outcome.merge(send(url, headers, &payload, body, keepalive && fits).await);
    }
    outcome
}

async fn send(
    url: &str,
    headers: &[(String, String)],
    payload: &Payload,
    body: Vec<u8>,
    keepalive: bool,
) -> Outcome {
    let n = payload.span_count() as u64;
    let init = request_init(body, payload.content_type(), headers, keepalive);
    let response = match async { JsFuture::from(start_fetch(url, &init)?).await }.await {
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
    // Not retried, nor split on a 413: every verdict is final here.
    payload.verdict(status, &body, url).outcome(n)
}

/// Exports everything queued, batch by batch; `keepalive` lets the requests outlive a page
/// that is being hidden or closed. What setups replaced by a later `init` still hold goes
/// first, as each said.
#[wasm_bindgen]
pub async fn flush(keepalive: bool) -> Result<(), JsValue> {
    let mut setups = crate::retired();
    let replaced = setups.len();
    setups.extend(STATE.with(|s| s.borrow().clone()));
    for (i, s) in setups.iter().enumerate() {
        drain(&s.tracing, &s.target, keepalive).await;
        if i + 1 == replaced {
            crate::forget_emptied();
        }
    }
    Ok(())
}

/// Exports what `tracing` has queued now to `target`.
async fn drain(tracing: &crosstrace::Tracing, target: &Target, keepalive: bool) {
    let encoder = match target {
        Target::Http { wire, .. } => Some(Encoder::new(*wire, tracing.resource())),
        Target::Console | Target::Discard => None,
    };
    // What is queued now, as OpenTelemetry's forceFlush: spans that end while this flush is
    // exporting wait for the next one. Draining until empty would never end where the export
    // itself makes spans (an instrumented server in the same program answering it).
    let mut left = tracing.queue_depth();
    while left > 0 {
        let batch = tracing.take_batch();
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        left = left.saturating_sub(n as u64);
        let outcome = match (target, &encoder) {
            (Target::Http { url, headers, .. }, Some(encoder)) => {
                send_fitting(url, headers, encoder.payload(batch), keepalive).await
            }
            (Target::Console, _) => {
                let spans: Vec<_> = batch.into_iter().map(|r| r.into_span_data()).collect();
                console_log(render_tree(&spans, TreeStyle::Timed).trim_end());
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
    // A few rounds: spans that ended during one export go out with the next.
    for _ in 0..3 {
        flush(true).await?;
        if tracing().queue_depth() == 0 {
            break;
        }
    }
    let t = tracing();
    match t.shutdown(std::time::Duration::from_secs(0)) {
        Ok(_) | Err(CoreError::AlreadyShutdown) => Ok(()),
        Err(e) => Err(js_error(&e)),
    }
}
