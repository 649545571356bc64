//! Export: the batch processor (bounded queue, counted drops), the exporters, and the outcome
//! model every exporter reports through, so health can say what happened to each span.
//!
//! Encoding (crosstrace's [`SpanRecord`](crate::SpanRecord)s into OTLP protobuf, and through the
//! SDK's `SpanData` and `opentelemetry-proto` into OTLP/JSON and gRPC messages; Jaeger Thrift,
//! Zipkin JSON) is kept apart from transport so the wasm binding can send the same bytes with `fetch`.
//! `wire` is the policy both transports follow, with no I/O: the wire format for a backend,
//! the encoded batch, and what an answer's status and body mean (accepted, partly rejected,
//! too large, transient, dropped). Natively, OTLP/gRPC goes through tonic (`grpc`) and the rest
//! through one HTTP transport (`http`); both share the OTLP retry loop (`retry`).

mod batch;
mod console;
#[cfg(feature = "native")]
mod grpc;
#[cfg(feature = "native")]
mod http;
#[cfg(feature = "jaeger-thrift")]
mod jaeger_thrift;
mod otlp_pb;
mod otlp_proto;
#[cfg(feature = "native")]
mod retry;
pub(crate) mod wire;
#[cfg(feature = "zipkin")]
mod zipkin;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanExporter;
use opentelemetry_sdk::Resource;

use crate::config::{is_jaeger_thrift_path, Backend, TracingConfig};
use crate::error::Result;
use crate::record::Batch;

#[cfg(unix)]
pub(crate) use batch::ForkHold;
pub use batch::{BatchProcessor, ShutdownReport};

thread_local! {
    /// Set on crosstrace's export threads.
    static EXPORT_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as an export thread (for the rest of its life).
#[cfg(feature = "native")]
pub(crate) fn mark_export_thread() {
    let _ = EXPORT_THREAD.try_with(|c| c.set(true));
}

/// Whether the calling thread is one of crosstrace's export threads. The exporters' libraries
/// (h2, tower, hyper) emit `tracing` spans there; the `tracing` layer and the OpenTelemetry
/// API's tracers record nothing on it, or every export would be traced and exported in turn,
/// without end.
pub(crate) fn on_export_thread() -> bool {
    EXPORT_THREAD
        .try_with(std::cell::Cell::get)
        .unwrap_or(false)
}
pub use console::{render_tree, ConsoleExporter, TreeStyle};
use wire::Wire;

/// Spans that could not be delivered, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// How many spans.
    pub spans: u64,
    /// A short stable kind (`connection`, `timeout`, `http_400`, `partial_success`, ...).
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// What exporting one batch achieved: every span is either exported or in one failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Spans the backend accepted.
    pub exported: u64,
    /// Spans it did not, by reason.
    pub failures: Vec<Failure>,
}

impl Outcome {
    /// All `n` spans exported.
    pub fn exported(n: u64) -> Outcome {
        Outcome {
            exported: n,
            failures: Vec::new(),
        }
    }

    /// All `n` spans failed.
    pub fn failed(n: u64, kind: impl Into<String>, message: impl Into<String>) -> Outcome {
        Outcome {
            exported: 0,
            failures: vec![Failure {
                spans: n,
                kind: kind.into(),
                message: message.into(),
            }],
        }
    }

    /// Adds another outcome (of a split batch).
    pub fn merge(&mut self, other: Outcome) {
        self.exported += other.exported;
        self.failures.extend(other.failures);
    }
}

/// The future an [`Export`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An exporter as the batch processor drives it: it takes the spans' records as they were
/// queued (see [`Tracing::with_export`](crate::Tracing::with_export)).
pub trait Export: Send + Sync + fmt::Debug {
    /// Exports one batch and says what became of every span.
    fn export_batch(&self, batch: Batch) -> BoxFuture<'_, Outcome>;
    /// Shuts the exporter down.
    fn shutdown_exporter(&self) -> OTelSdkResult {
        Ok(())
    }
}

impl<E: Export + ?Sized> Export for std::sync::Arc<E> {
    fn export_batch(&self, batch: Batch) -> BoxFuture<'_, Outcome> {
        (**self).export_batch(batch)
    }
    fn shutdown_exporter(&self) -> OTelSdkResult {
        (**self).shutdown_exporter()
    }
}

/// Any OpenTelemetry SDK `SpanExporter`, driven by the batch processor (each record made the
/// SDK's `SpanData` first): `Ok` means every span was exported, `Err` that none was.
#[derive(Debug)]
pub struct Sdk<E>(pub E);

impl<E: SpanExporter> Export for Sdk<E> {
    fn export_batch(&self, batch: Batch) -> BoxFuture<'_, Outcome> {
        sdk_export(&self.0, batch)
    }
    fn shutdown_exporter(&self) -> OTelSdkResult {
        self.0.shutdown()
    }
}

/// An SDK exporter given to [`crate::Tracing::with_exporter`]: one instance, shared by the
/// export threads of a process and of its forked children (it cannot be built again).
#[derive(Debug)]
pub(crate) struct SharedSdk<E>(pub(crate) std::sync::Arc<E>);

impl<E: SpanExporter> Export for SharedSdk<E> {
    fn export_batch(&self, batch: Batch) -> BoxFuture<'_, Outcome> {
        sdk_export(&*self.0, batch)
    }
    fn shutdown_exporter(&self) -> OTelSdkResult {
        self.0.shutdown()
    }
}

fn sdk_export<E: SpanExporter>(exporter: &E, batch: Batch) -> BoxFuture<'_, Outcome> {
    let n = batch.len() as u64;
    Box::pin(async move {
        match exporter.export(crate::record::to_span_data(batch)).await {
            Ok(()) => Outcome::exported(n),
            Err(e) => {
                let (kind, message) = classify(&e);
                Outcome::failed(n, kind, message)
            }
        }
    })
}

/// A short stable kind for an SDK export error, for health and "log the first of each kind".
fn classify(err: &OTelSdkError) -> (&'static str, String) {
    let msg = err.to_string();
    let lower = msg.to_ascii_lowercase();
    let kind = match err {
        OTelSdkError::Timeout(_) => "timeout",
        OTelSdkError::AlreadyShutdown => "already_shutdown",
        _ if lower.contains("connect")
            || lower.contains("refused")
            || lower.contains("network error") =>
        {
            "connection"
        }
        _ if lower.contains("timed out") || lower.contains("deadline") => "timeout",
        _ if lower.contains("404") || lower.contains("not found") => "http_404",
        _ if lower.contains("unavailable") || lower.contains("503") => "unavailable",
        _ => "export",
    };
    (kind, msg)
}

/// Builds an exporter inside the export thread (tonic channels need the runtime there); called
/// again in a forked child, whose export thread and connections are its own (and whose
/// resource has its own `service.instance.id`).
pub type ExporterFactory = std::sync::Arc<dyn Fn() -> Result<Box<dyn Export>> + Send + Sync>;

/// The exporter for a config ([`wire::route`] picks where and how it sends). Problems that lose
/// no span but will make export fail (OTLP aimed at Jaeger's Thrift path) are pushed to
/// `warnings`.
pub(crate) fn build_exporter(
    config: &TracingConfig,
    resource: &Resource,
    warnings: &mut Vec<String>,
) -> Result<ExporterFactory> {
    let route = wire::route(config).map_err(|e| crate::error::Error::ExporterSetup {
        backend: config.backend.to_string(),
        message: e.to_string(),
    })?;
    match route {
        wire::Route::Console => Ok(console_factory(resource)),
        wire::Route::Discard => Ok(std::sync::Arc::new(|| {
            Ok(Box::new(NoneExporter) as Box<dyn Export>)
        })),
        wire::Route::Send { url, wire } => {
            if config.backend == Backend::Otlp && is_jaeger_thrift_path(&url) {
                warnings.push(format!(
                    "OTEL_BACKEND=otlp but the endpoint {} is Jaeger's Thrift collector path \
                     (/api/traces, port 14268), which does not accept OTLP: export will fail. \
                     Use Jaeger's OTLP receiver (port 4317 for gRPC, 4318/v1/traces for HTTP) or \
                     OTEL_BACKEND=jaeger",
                    crate::redact::Policy::builtin().url(&url)
                ));
            }
            native_factory(config, resource, url, wire)
        }
    }
}

#[cfg(feature = "native")]
fn native_factory(
    config: &TracingConfig,
    resource: &Resource,
    url: String,
    wire: Wire,
) -> Result<ExporterFactory> {
    let (config, resource) = (config.clone(), resource.clone());
    if wire == Wire::OtlpGrpc {
        return Ok(std::sync::Arc::new(move || {
            let resource = crate::resource::in_this_process(&resource);
            Ok(
                Box::new(grpc::GrpcExporter::new(&config, &resource, url.clone())?)
                    as Box<dyn Export>,
            )
        }));
    }
    Ok(std::sync::Arc::new(move || {
        Ok(Box::new(http::HttpExporter::new(
            &config,
            &crate::resource::in_this_process(&resource),
            url.clone(),
            wire,
        )?) as Box<dyn Export>)
    }))
}

/// The console exporter, made in the export thread.
#[cfg(feature = "native")]
fn console_factory(resource: &Resource) -> ExporterFactory {
    let resource = resource.clone();
    std::sync::Arc::new(move || {
        let mut e = ConsoleExporter::stderr();
        e.set_resource(&crate::resource::in_this_process(&resource));
        Ok(Box::new(Sdk(e)) as Box<dyn Export>)
    })
}

/// Without the `native` feature, as [`native_factory`]: the host prints the span trees itself
/// (the wasm binding, with [`render_tree`] and `console.log`). Not compiling the SDK-exporter
/// path there keeps 6 KiB out of the browser build.
#[cfg(not(feature = "native"))]
fn console_factory(_resource: &Resource) -> ExporterFactory {
    std::sync::Arc::new(|| Ok(Box::new(NoneExporter) as Box<dyn Export>))
}

/// Without the `native` feature there is no export thread and no network transport: the host
/// (the wasm binding) drains the queue with `Tracing::take_batch` and sends the encoded batches
/// itself (with `fetch`), so the exporter is never driven.
#[cfg(not(feature = "native"))]
fn native_factory(
    _config: &TracingConfig,
    _resource: &Resource,
    _url: String,
    _wire: Wire,
) -> Result<ExporterFactory> {
    Ok(std::sync::Arc::new(|| {
        Ok(Box::new(NoneExporter) as Box<dyn Export>)
    }))
}

/// Discards spans, counting them as exported (the `none` backend).
#[derive(Debug)]
struct NoneExporter;

impl Export for NoneExporter {
    fn export_batch(&self, batch: Batch) -> BoxFuture<'_, Outcome> {
        let n = batch.len() as u64;
        Box::pin(async move { Outcome::exported(n) })
    }
}

impl Backend {
    /// Whether this backend sends spans anywhere.
    pub fn exports(self) -> bool {
        !matches!(self, Backend::None)
    }
}
