//! The inventory service example (axum + tower-http's `TraceLayer` on crosstrace's `tracing`
//! layer), served on 127.0.0.1:0: its server span continues an incoming `traceparent`, with
//! the caller's correlation, and `inventory.reserve` is its child.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../examples/inventory_service.rs"]
#[allow(dead_code)]
mod inventory_service;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crosstrace::{SpanData, SpanKind, Status, Tracing, TracingConfig, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanExporter;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // What an exporter's libraries (h2, tower) do on the export thread: under the global
        // subscriber, but never recorded (else each export would make spans to export).
        tracing::info_span!("exporting", spans = batch.len())
            .in_scope(|| tracing::info!("sending a batch"));
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

struct Server {
    tracing: Tracing,
    spans: Collect,
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

/// One server for the binary: the `tracing` subscriber is process-wide (axum serves each
/// connection on a task of its own, on any worker thread).
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let spans = Collect::default();
        let config = TracingConfig {
            service_name: "inventory-service".into(),
            schedule_delay_millis: 60_000,
            ..TracingConfig::default()
        };
        let tracing = Tracing::with_exporter(config, spans.clone()).unwrap();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(tracing.layer()),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = inventory_service::app(tracing.clone(), Arc::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move { axum::serve(listener, app).await });
        Server {
            tracing,
            spans,
            port,
            _runtime: runtime,
        }
    })
}

/// Sends one HTTP/1.1 request and returns the status code.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// The spans of `trace_id` exported so far, after a flush.
fn spans_of(trace_id: &str) -> Vec<SpanData> {
    let s = server();
    // The server span ends as the response is sent: wait until both spans are in.
    for _ in 0..100 {
        s.tracing.force_flush(Duration::from_secs(5)).unwrap();
        let found: Vec<SpanData> = (s.spans.0.lock().unwrap().iter())
            .filter(|d| d.span_context.trace_id().to_string() == trace_id)
            .cloned()
            .collect();
        if found.len() >= 2 {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the spans of trace {trace_id} were not exported");
}

fn attr<'a>(d: &'a SpanData, key: &str) -> Option<&'a Value> {
    d.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn the_server_span_continues_an_incoming_traceparent() {
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller = "b7ad6b7169203331";
    let status = request(
        server().port,
        "POST",
        "/reserve",
        &[
            ("traceparent", &format!("00-{trace_id}-{caller}-01")),
            ("x-correlation-id", "corr-42"),
            ("baggage", "correlation.job_id=job-7"),
        ],
        r#"{"sku": "SKU-APPLE", "qty": 3}"#,
    );
    assert_eq!(status, 200);
    let spans = spans_of(trace_id);
    let server_span = spans.iter().find(|d| d.name == "POST /reserve").unwrap();
    assert_eq!(server_span.span_kind, SpanKind::Server);
    assert_eq!(server_span.parent_span_id.to_string(), caller);
    assert!(server_span.parent_span_is_remote);
    assert_eq!(
        attr(server_span, "http.route"),
        Some(&Value::from("/reserve"))
    );
    assert_eq!(
        attr(server_span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    let reserve = spans
        .iter()
        .find(|d| d.name == "inventory.reserve")
        .unwrap();
    assert_eq!(reserve.span_kind, SpanKind::Internal);
    assert_eq!(
        reserve.parent_span_id,
        server_span.span_context.span_id(),
        "inventory.reserve is the server span's child"
    );
    assert_eq!(reserve.status, Status::Ok);
    assert_eq!(attr(reserve, "inventory.left"), Some(&Value::I64(997)));
    for d in [server_span, reserve] {
        assert_eq!(attr(d, "correlation.id"), Some(&Value::from("corr-42")));
        assert_eq!(attr(d, "correlation.job_id"), Some(&Value::from("job-7")));
    }
}

#[test]
fn the_export_thread_is_not_traced() {
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let status = request(
        server().port,
        "GET",
        "/report",
        &[("traceparent", &format!("00-{trace_id}-eee19b7ec3c1b174-01"))],
        "",
    );
    assert_eq!(status, 200);
    let s = server();
    for _ in 0..3 {
        s.tracing.force_flush(Duration::from_secs(5)).unwrap();
    }
    let spans = s.spans.0.lock().unwrap();
    assert!(spans.iter().any(|d| d.name == "GET /report"));
    assert!(
        !spans.iter().any(|d| d.name == "exporting"),
        "a span made on the export thread was recorded"
    );
}

#[test]
fn a_refused_reservation_records_the_error() {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = request(
        server().port,
        "POST",
        "/reserve",
        &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
        r#"{"sku": "SKU-PEAR", "qty": 5000}"#,
    );
    assert_eq!(status, 409);
    let spans = spans_of(trace_id);
    let server_span = spans.iter().find(|d| d.name == "POST /reserve").unwrap();
    assert_eq!(server_span.status, Status::error("HTTP 409"));
    let reserve = spans
        .iter()
        .find(|d| d.name == "inventory.reserve")
        .unwrap();
    assert!(matches!(reserve.status, Status::Error { .. }));
    let exception = reserve
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert!(exception.attributes.iter().any(|kv| {
        kv.key.as_str() == "exception.message" && kv.value.as_str().contains("insufficient stock")
    }));
}
