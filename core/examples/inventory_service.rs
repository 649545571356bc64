//! The retail pipeline's inventory/reporting service: axum + tower-http, traced through
//! `tracing` and crosstrace's layer (`crosstrace::layer`). The ETL job calls it; its server
//! span comes from tower-http's `TraceLayer` and continues the caller's trace, baggage and
//! correlation id, which `make_span_with` extracts from the request headers with crosstrace's
//! propagators; handlers are `#[instrument]`ed.
//!
//! - `POST /reserve` `{"sku": "...", "qty": n}` → reserves stock, `{"sku", "reserved", "left"}`
//! - `GET /report` → stock levels
//! - `POST /shutdown` → flushes spans, answers, exits (how the demo stops it)
//!
//! `INVENTORY_PORT` (default 0: any free port) and the `OTEL_*` variables configure it; it prints
//! `listening on http://127.0.0.1:PORT` once ready.
//!
//! `cargo run -p crosstrace --example inventory_service`

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use crosstrace::{Carrier, SpanExt, Status, Tracing};
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// Request headers as a crosstrace carrier (read only; repeated lines kept).
#[derive(Debug)]
pub struct Headers<'a>(pub &'a HeaderMap);

impl Carrier for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
    fn set(&mut self, _key: &str, _value: String) {}
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

type Stock = Arc<Mutex<BTreeMap<String, i64>>>;

#[derive(Clone)]
struct App {
    tracing: Tracing,
    stock: Stock,
    stop: Arc<tokio::sync::Notify>,
}

/// The server span of a request: named `METHOD /route` for known routes (only those name
/// spans and metric series; anything else is just the method), a child of the caller's span.
/// A span with no `tracing` parent continues crosstrace's current context, so the context
/// extracted from the headers is attached around its creation.
fn server_span(t: &Tracing, req: &Request<Body>) -> tracing::Span {
    // The caller's trace, baggage and correlation id (traceparent, b3, uber-trace-id,
    // baggage, X-Correlation-ID: whatever OTEL_PROPAGATORS lists).
    let _caller = t.extract(&Headers(req.headers())).attach();
    let method = req.method().as_str();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        parent: None,
        "request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method,
        url.path = req.uri().path(),
        http.route = Empty,
        http.response.status_code = Empty,
    );
    if let Some(r) = route {
        span.record("http.route", r);
    }
    span
}

/// Why a reservation failed.
#[derive(Debug)]
struct Insufficient {
    left: i64,
}

impl std::fmt::Display for Insufficient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "insufficient stock ({} left)", self.left)
    }
}

impl std::error::Error for Insufficient {}

/// Takes `qty` of `sku` from the stock: `inventory.reserve`, a child of the request's span
/// (an `Err` is recorded on it as an exception, and its status set to error).
#[tracing::instrument(
    name = "inventory.reserve",
    skip_all,
    err,
    fields(inventory.sku = sku, inventory.qty = qty, inventory.left = Empty, otel.status_code = Empty)
)]
fn reserve_stock(stock: &Stock, sku: &str, qty: i64) -> Result<i64, Insufficient> {
    let mut levels = stock.lock().unwrap_or_else(|e| e.into_inner());
    let left = levels.entry(sku.to_owned()).or_insert(1_000);
    if *left < qty {
        return Err(Insufficient { left: *left });
    }
    *left -= qty;
    let span = tracing::Span::current();
    span.record("inventory.left", *left);
    span.record("otel.status_code", "ok");
    Ok(*left)
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn reserve(State(app): State<App>, body: Bytes) -> Response<Body> {
    let server = tracing::Span::current();
    let parsed: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            server.record_error(&e);
            return json(
                StatusCode::BAD_REQUEST,
                format!("{{\"error\":\"body: {e}\"}}"),
            );
        }
    };
    let (Some(sku), Some(qty)) = (parsed["sku"].as_str(), parsed["qty"].as_i64()) else {
        server.set_status(Status::error(
            "expected {\"sku\": string, \"qty\": integer}",
        ));
        return json(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"expected sku and qty\"}".into(),
        );
    };
    match reserve_stock(&app.stock, sku, qty) {
        Ok(left) => json(
            StatusCode::OK,
            serde_json::json!({"sku": sku, "reserved": qty, "left": left}).to_string(),
        ),
        Err(e) => {
            server.set_status(Status::error("HTTP 409"));
            json(
                StatusCode::CONFLICT,
                serde_json::json!({"sku": sku, "reserved": 0, "left": e.left}).to_string(),
            )
        }
    }
}

async fn report(State(app): State<App>) -> Response<Body> {
    let levels = app.stock.lock().unwrap_or_else(|e| e.into_inner()).clone();
    json(
        StatusCode::OK,
        serde_json::to_string(&levels).unwrap_or_default(),
    )
}

/// Flushes every span (before answering: the demo stops the process once answered), then
/// stops the server.
async fn shutdown(State(app): State<App>) -> Response<Body> {
    let t = app.tracing.clone();
    let report = tokio::task::spawn_blocking(move || t.shutdown(Duration::from_secs(10))).await;
    if let Ok(Ok(r)) = report {
        if r.unsent > 0 {
            eprintln!("inventory_service: {} spans could not be sent", r.unsent);
        }
    }
    app.stop.notify_one();
    json(StatusCode::OK, "{\"stopping\":true}".into())
}

/// The service: its routes, traced by tower-http's `TraceLayer` with crosstrace's
/// propagators; `POST /shutdown` (untraced) notifies `stop` once spans are flushed.
pub fn app(tracing: Tracing, stop: Arc<tokio::sync::Notify>) -> Router {
    let t = tracing.clone();
    let traced = TraceLayer::new_for_http()
        .make_span_with(move |req: &Request<Body>| server_span(&t, req))
        .on_request(())
        .on_response(
            |res: &Response<Body>, _latency: Duration, span: &tracing::Span| {
                span.record("http.response.status_code", res.status().as_u16());
            },
        );
    Router::new()
        .route("/reserve", post(reserve))
        .route("/report", get(report))
        .fallback(|| async { json(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}".into()) })
        .layer(traced)
        .route("/shutdown", post(shutdown))
        .with_state(App {
            tracing,
            stock: Stock::default(),
            stop,
        })
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("inventory_service: {msg}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let config = crosstrace::TracingConfig::from_env().unwrap_or_else(|e| fail(e));
    let t = crosstrace::init(config).unwrap_or_else(|e| fail(e));
    // `tracing` spans and events (tower-http's, axum's, the handlers') become crosstrace spans.
    let subscriber = tracing_subscriber::registry().with(t.layer());
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        fail(e);
    }
    let port: u16 = std::env::var("INVENTORY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => fail(format!("cannot listen on 127.0.0.1:{port}: {e}")),
    };
    let addr = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening on http://127.0.0.1:{addr}");
    let _ = std::io::stdout().flush();
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let served = axum::serve(listener, app(t, stop))
        .with_graceful_shutdown(async move { stopped.notified().await })
        .await;
    if let Err(e) = served {
        fail(e);
    }
}
