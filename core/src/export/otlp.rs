//! OTLP/gRPC through `opentelemetry-otlp`'s tonic exporter, with its retries (UNAVAILABLE, and
//! RESOURCE_EXHAUSTED with RetryInfo) and TLS with the system's roots for `https://`. The
//! exporter is built on the export thread, inside the Tokio runtime tonic needs.

use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;

use super::{Export, ExporterFactory, Sdk};
use crate::config::{Compression, TracingConfig};
use crate::error::{Error, Result};

pub(super) fn grpc_factory(
    config: &TracingConfig,
    resource: &Resource,
    url: String,
) -> Result<ExporterFactory> {
    let timeout = config.export_timeout();
    let headers = config.headers.clone();
    let gzip = config.compression == Compression::Gzip;
    let resource = resource.clone();
    let backend = config.backend.to_string();
    Ok(Box::new(move || {
        let setup = |e: &dyn std::fmt::Display| Error::ExporterSetup {
            backend: backend.clone(),
            message: format!("{e} (endpoint {url})"),
        };
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (k, v) in &headers {
            let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| setup(&e))?;
            let value = v.parse().map_err(|e| setup(&e))?;
            metadata.insert(key, value);
        }
        let mut b = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(url.clone())
            .with_timeout(timeout)
            .with_metadata(metadata);
        if url.starts_with("https://") {
            b = b.with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
        }
        if gzip {
            b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        let mut exporter = b.build().map_err(|e| setup(&e))?;
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        Ok(Box::new(Sdk(exporter)) as Box<dyn Export>)
    }))
}
