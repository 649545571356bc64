//! Export: the batch processor (bounded queue, counted drops), the console exporter and the OTLP
//! exporters. Encoding and transport are the SDK's and `opentelemetry-otlp`'s; what crosstrace
//! adds is the queue, the counting and the error reporting around them.

mod batch;
mod console;
#[cfg(feature = "native")]
mod otlp;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::{is_jaeger_thrift_path, Backend, OtlpProtocol, TracingConfig};
use crate::error::{Error, Result};

pub use batch::{BatchProcessor, ShutdownReport};
pub use console::{render_tree, ConsoleExporter, TreeStyle};

/// An object-safe view of the SDK's [`SpanExporter`], so one processor serves every backend.
pub trait Export: Send + Sync + fmt::Debug {
    /// Exports one batch.
    fn export_batch(
        &self,
        batch: Vec<SpanData>,
    ) -> Pin<Box<dyn Future<Output = OTelSdkResult> + Send + '_>>;
    /// Shuts the exporter down.
    fn shutdown_exporter(&self) -> OTelSdkResult;
}

impl<E: SpanExporter> Export for E {
    fn export_batch(
        &self,
        batch: Vec<SpanData>,
    ) -> Pin<Box<dyn Future<Output = OTelSdkResult> + Send + '_>> {
        Box::pin(self.export(batch))
    }
    fn shutdown_exporter(&self) -> OTelSdkResult {
        self.shutdown()
    }
}

/// Builds an exporter inside the export thread (tonic channels need the runtime there).
pub type ExporterFactory = Box<dyn FnOnce() -> Result<Box<dyn Export>> + Send>;

/// The exporter for a config. Problems that lose no span but will make export fail (OTLP aimed
/// at Jaeger's Thrift path) are pushed to `warnings`.
pub(crate) fn build_exporter(
    config: &TracingConfig,
    resource: &Resource,
    warnings: &mut Vec<String>,
) -> Result<ExporterFactory> {
    let resolved = config.resolved_endpoint();
    match config.backend {
        Backend::Console => {
            let mut e = ConsoleExporter::stderr();
            e.set_resource(resource);
            Ok(Box::new(move || Ok(Box::new(e) as Box<dyn Export>)))
        }
        Backend::None => Ok(Box::new(|| Ok(Box::new(NoneExporter) as Box<dyn Export>))),
        Backend::Otlp | Backend::Jaeger => {
            let r = resolved.expect("exporting backends resolve an endpoint");
            let Some(protocol) = r.otlp_protocol else {
                return Err(Error::ExporterSetup {
                    backend: config.backend.to_string(),
                    message: format!(
                        "{} is Jaeger's Thrift-over-HTTP collector endpoint; Thrift export is \
                         not implemented yet (issue 3). Point OTEL_EXPORTER_ENDPOINT at Jaeger's \
                         OTLP receiver instead: http://HOST:4317 (gRPC) or \
                         http://HOST:4318/v1/traces (HTTP)",
                        r.url
                    ),
                });
            };
            if config.backend == Backend::Otlp && is_jaeger_thrift_path(&r.url) {
                warnings.push(format!(
                    "OTEL_BACKEND=otlp but the endpoint {} is Jaeger's Thrift collector path \
                     (/api/traces, port 14268), which does not accept OTLP: export will fail. \
                     Use Jaeger's OTLP receiver (port 4317 for gRPC, 4318/v1/traces for HTTP) or \
                     OTEL_BACKEND=jaeger",
                    r.url
                ));
            }
            otlp_factory(config, resource, r.url, protocol)
        }
        Backend::Zipkin => Err(Error::ExporterSetup {
            backend: "zipkin".into(),
            message: "the Zipkin exporter is not implemented yet (issue 3)".into(),
        }),
    }
}

#[cfg(feature = "native")]
fn otlp_factory(
    config: &TracingConfig,
    resource: &Resource,
    url: String,
    protocol: OtlpProtocol,
) -> Result<ExporterFactory> {
    otlp::factory(config, resource, url, protocol)
}

#[cfg(not(feature = "native"))]
fn otlp_factory(
    config: &TracingConfig,
    _resource: &Resource,
    _url: String,
    _protocol: OtlpProtocol,
) -> Result<ExporterFactory> {
    Err(Error::ExporterSetup {
        backend: config.backend.to_string(),
        message: "this build has no OTLP transport (the `native` feature is off)".into(),
    })
}

/// Discards spans, counting them as exported (the `none` backend).
#[derive(Debug)]
struct NoneExporter;

impl SpanExporter for NoneExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}
