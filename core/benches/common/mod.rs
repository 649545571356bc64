//! What `benches/spans.rs` and `examples/span_probe.rs` share: the exporters, the pipelines on
//! each side and the span each scenario makes, so the probe profiles exactly what the bench
//! times.
#![allow(dead_code)] // each includer uses a part
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter,
};

/// Big enough that neither side drops a span (the SDK's processor needs it).
pub const QUEUE: usize = 1 << 18;

/// An exporter that drops everything, counting spans.
#[derive(Debug, Clone, Default)]
pub struct Discard(pub Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// crosstrace's own exporter interface: the spans' records as queued, no `SpanData` made.
impl crosstrace::export::Export for Discard {
    fn export_batch(
        &self,
        batch: crosstrace::Batch,
    ) -> crosstrace::export::BoxFuture<'_, crosstrace::export::Outcome> {
        let n = batch.len() as u64;
        self.0.fetch_add(n, Ordering::Relaxed);
        Box::pin(async move { crosstrace::export::Outcome::exported(n) })
    }
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the whole process (the export threads count).
pub fn cpu_time() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread.
pub fn thread_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// 3 attributes with one-letter keys (a string, an integer, a boolean): the neutral workload,
/// where a key costs least to copy and to check.
pub fn attrs_short() -> [KeyValue; 3] {
    [
        KeyValue::new("s", "berlin-01"),
        KeyValue::new("i", 12345_i64),
        KeyValue::new("b", true),
    ]
}

/// One span with `attrs`, started and ended: what every scenario's span is.
#[inline]
pub fn ct_span_with(
    t: &crosstrace::Tracing,
    name: &'static str,
    attrs: impl IntoIterator<Item = KeyValue>,
) {
    let mut s = t.span(name).attributes(attrs).start();
    s.end();
}

/// The same span through the SDK.
#[inline]
pub fn sdk_span_with(
    tracer: &SdkTracer,
    name: &'static str,
    attrs: impl IntoIterator<Item = KeyValue>,
) {
    let mut s = tracer
        .span_builder(name)
        .with_attributes(attrs)
        .start(tracer);
    s.end();
}

/// One span with the one-letter attributes.
pub fn ct_span_short(t: &crosstrace::Tracing, name: &'static str) {
    ct_span_with(t, name, attrs_short());
}

/// The same span through the SDK.
pub fn sdk_span_short(tracer: &SdkTracer, name: &'static str) {
    sdk_span_with(tracer, name, attrs_short());
}

pub fn attrs() -> [KeyValue; 3] {
    [
        KeyValue::new("order.id", 12345_i64),
        KeyValue::new("store", "berlin-01"),
        KeyValue::new("express", true),
    ]
}

/// 20 attributes, as a span of an instrumented HTTP handler or database call carries: keys of
/// 4 to 30 bytes, strings, integers, booleans and a float, a fresh set per span.
pub fn attrs20() -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("url.path", "/api/orders"),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("server.address", "orders.internal"),
        KeyValue::new("server.port", 8443_i64),
        KeyValue::new("http.response.status_code", 201_i64),
        KeyValue::new("http.route", "/api/orders"),
        KeyValue::new("user_agent.original", "retail-storefront/2.4"),
        KeyValue::new("client.address", "10.1.2.3"),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("order.id", 12345_i64),
        KeyValue::new("order.total", 129.95_f64),
        KeyValue::new("order.items", 4_i64),
        KeyValue::new("store", "berlin-01"),
        KeyValue::new("express", true),
        KeyValue::new("customer.tier", "gold"),
        KeyValue::new("payment.method", "card"),
        KeyValue::new("db.system.name", "postgresql"),
        KeyValue::new("db.collection.name", "orders"),
        KeyValue::new("etl.stage", "silver"),
    ]
}

/// One span with 20 attributes.
pub fn ct_span20(t: &crosstrace::Tracing, name: &'static str) {
    ct_span_with(t, name, attrs20());
}

/// The same span through the SDK.
pub fn sdk_span20(tracer: &SdkTracer, name: &'static str) {
    sdk_span_with(tracer, name, attrs20());
}

/// crosstrace into a [`Discard`], span metrics on or off.
pub fn crosstrace_metrics(
    sampler: crosstrace::SamplerKind,
    metrics_enabled: bool,
) -> (crosstrace::Tracing, Discard) {
    let d = Discard::default();
    let t = crosstrace::Tracing::with_export(
        crosstrace::TracingConfig {
            sampler,
            metrics_enabled,
            max_queue_size: QUEUE,
            export_max_batch_size: 512,
            ..crosstrace::TracingConfig::default()
        },
        d.clone(),
    )
    .unwrap();
    (t, d)
}

/// The SDK's batch processor into `exporter`, sized as crosstrace's.
fn sdk_batch<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
) -> BatchSpanProcessor {
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build()
}

/// The SDK with its batch processor into a [`Discard`].
pub fn sdk_with(sampler: Sampler) -> (SdkTracerProvider, Discard) {
    let d = Discard::default();
    let p = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(sdk_batch(d.clone()))
        .build();
    (p, d)
}

/// One span with 3 attributes, started and ended.
pub fn ct_span(t: &crosstrace::Tracing, name: &'static str) {
    ct_span_with(t, name, attrs());
}

/// crosstrace exporting OTLP/HTTP protobuf to `url`.
pub fn crosstrace_otlp(url: &str) -> crosstrace::Tracing {
    crosstrace::Tracing::new(crosstrace::TracingConfig {
        backend: crosstrace::Backend::Otlp,
        endpoint: Some(url.to_owned()),
        otlp_protocol: Some(crosstrace::OtlpProtocol::HttpProtobuf),
        max_queue_size: QUEUE,
        export_max_batch_size: 512,
        ..crosstrace::TracingConfig::default()
    })
    .unwrap()
}

/// The SDK's batch processor with `opentelemetry-otlp`'s HTTP protobuf exporter to `url` (the
/// same reqwest as crosstrace's, so the same TLS stack).
pub fn sdk_otlp(url: &str) -> SdkTracerProvider {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let client = std::thread::spawn(reqwest::blocking::Client::new)
        .join()
        .unwrap();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .unwrap();
    SdkTracerProvider::builder()
        .with_span_processor(sdk_batch(exporter))
        .build()
}

/// The same span through the SDK.
pub fn sdk_span(tracer: &SdkTracer, name: &'static str) {
    sdk_span_with(tracer, name, attrs());
}

/// A parent and a child.
pub fn ct_nested(t: &crosstrace::Tracing) {
    let parent = t.start("parent");
    let cx = parent.context();
    let mut child = t.span("child").parent_context(&cx).start();
    child.end();
    drop(parent);
}

/// The same pair through the SDK.
pub fn sdk_nested(tracer: &SdkTracer) {
    let parent = tracer.start("parent");
    let cx = opentelemetry::Context::current_with_span(parent);
    let mut child = tracer.start_with_context("child", &cx);
    child.end();
    cx.span().end();
}

/// A local OTLP/HTTP endpoint that accepts every request (keep-alive) and counts bodies.
pub fn otlp_sink() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/v1/traces",
        listener.local_addr().unwrap().port()
    );
    let requests = Arc::new(AtomicU64::new(0));
    let r = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let r = r.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut reader = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    r.fetch_add(1, Ordering::Relaxed);
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                    );
                }
            });
        }
    });
    (url, requests)
}
