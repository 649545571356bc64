//! OTLP over gRPC (tonic) and HTTP (protobuf or JSON) through `opentelemetry-otlp`. The core owns
//! the Tokio runtime these need: the exporter is built and driven on the export thread.

use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;

use super::{Export, ExporterFactory};
use crate::config::{Compression, OtlpProtocol, TracingConfig};
use crate::error::{Error, Result};

pub(super) fn factory(
    config: &TracingConfig,
    resource: &Resource,
    url: String,
    protocol: OtlpProtocol,
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
        let mut exporter = match protocol {
            OtlpProtocol::Grpc => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (k, v) in &headers {
                    let key =
                        tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                            .map_err(|e| setup(&e))?;
                    let value = v.parse().map_err(|e| setup(&e))?;
                    metadata.insert(key, value);
                }
                let mut b = SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(url.clone())
                    .with_timeout(timeout)
                    .with_metadata(metadata);
                if gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build().map_err(|e| setup(&e))?
            }
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                let mut b = SpanExporter::builder()
                    .with_http()
                    .with_endpoint(url.clone())
                    .with_protocol(if protocol == OtlpProtocol::HttpJson {
                        Protocol::HttpJson
                    } else {
                        Protocol::HttpBinary
                    })
                    .with_timeout(timeout)
                    .with_headers(headers.clone().into_iter().collect());
                if gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                b.build().map_err(|e| setup(&e))?
            }
        };
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        Ok(Box::new(exporter) as Box<dyn Export>)
    }))
}
