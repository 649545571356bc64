//! OTLP/gRPC with tonic on the core's runtime: TLS with the system's roots for `https://`,
//! metadata headers, gzip, and the OTLP retry rules — CANCELLED, DEADLINE_EXCEEDED, ABORTED,
//! OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are retried, RESOURCE_EXHAUSTED only when the server
//! sends RetryInfo (whose delay is honoured); partial success is counted.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_sdk::Resource;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Code;
use tonic_types::StatusExt;

use super::otlp_proto::Request;
use super::retry::{self, Attempt};
use super::{BoxFuture, Export, Failure, Outcome};
use crate::config::{Compression, TracingConfig};
use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct GrpcExporter {
    /// Replaced by a client on a new channel when an attempt times out: a backend that hangs
    /// holds its connection, and a retry on it would hang too.
    client: std::sync::Mutex<TraceServiceClient<Channel>>,
    endpoint: Endpoint,
    gzip: bool,
    metadata: MetadataMap,
    /// The endpoint as messages show it (redacted).
    shown: String,
    deadline: Duration,
    attempt_timeout: Duration,
    resource: Resource,
}

/// A client on a new, lazily connecting channel.
fn client_on(endpoint: &Endpoint, gzip: bool) -> TraceServiceClient<Channel> {
    let client = TraceServiceClient::new(endpoint.connect_lazy());
    if gzip {
        client
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
    } else {
        client
    }
}

impl GrpcExporter {
    /// Builds the (lazily connecting) channel; call inside the export runtime.
    pub(crate) fn new(config: &TracingConfig, resource: &Resource, url: String) -> Result<Self> {
        let shown = crate::redact::Policy::builtin().url(&url).into_owned();
        let setup = |m: String| Error::ExporterSetup {
            backend: config.backend.to_string(),
            message: format!("{m} (endpoint {shown})"),
        };
        // A URL's userinfo is not an HTTP/2 authority: it becomes Basic authentication (as
        // the HTTP transport's client does), unless the headers already authenticate.
        let basic = crate::redact::basic_authorization(&url);
        let url = crate::redact::split_userinfo(&url).map_or(url, |(bare, _, _)| bare);
        let mut metadata = MetadataMap::new();
        if let Some(b) = basic.filter(|_| {
            !config
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"))
        }) {
            let value = MetadataValue::try_from(b)
                .map_err(|e| setup(format!("the endpoint's credentials: {e}")))?;
            metadata.insert("authorization", value);
        }
        for (k, v) in &config.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| setup(format!("header name {k:?}: {e}")))?;
            let value = MetadataValue::try_from(v.as_str())
                .map_err(|e| setup(format!("header {k} value: {e}")))?;
            metadata.insert(key, value);
        }
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| setup(e.to_string()))?
            .connect_timeout(Duration::from_secs(5));
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| setup(e.to_string()))?;
        }
        let gzip = config.compression == Compression::Gzip;
        Ok(GrpcExporter {
            client: std::sync::Mutex::new(client_on(&endpoint, gzip)),
            endpoint,
            gzip,
            metadata,
            shown,
            deadline: config.export_timeout(),
            attempt_timeout: config.export_attempt_timeout(),
            resource: resource.clone(),
        })
    }

    async fn send(&self, batch: crate::record::Batch) -> Outcome {
        let n = batch.len() as u64;
        let request = Request::new(batch, &self.resource).into_proto();
        let result = retry::run(
            &self.shown,
            self.deadline,
            self.attempt_timeout,
            |timeout| {
                let mut client = self
                    .client
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut req = tonic::Request::new(request.clone());
                *req.metadata_mut() = self.metadata.clone();
                req.set_timeout(timeout);
                async move {
                    match client.export(req).await {
                        Ok(resp) => Attempt::Done(Ok(resp.into_inner().partial_success)),
                        Err(status) => {
                            // tonic reports a refused or dropped connection as UNAVAILABLE with a
                            // transport message; call it what it is, as the HTTP transport does.
                            let transport = status.code() == Code::Unavailable
                                && ["connect", "transport", "broken pipe", "reset"]
                                    .iter()
                                    .any(|w| status.message().to_ascii_lowercase().contains(w));
                            // The deadline passing (tonic's own timeout is CANCELLED "Timeout
                            // expired") is a timeout, as on the HTTP transport.
                            let timed_out = status.code() == Code::DeadlineExceeded
                                || (status.code() == Code::Cancelled
                                    && status.message().to_ascii_lowercase().contains("timeout"));
                            if timed_out {
                                *self.client.lock().unwrap_or_else(|e| e.into_inner()) =
                                    client_on(&self.endpoint, self.gzip);
                            }
                            let kind = if transport {
                                "connection".to_owned()
                            } else if timed_out {
                                "timeout".to_owned()
                            } else {
                                format!("grpc_{:?}", status.code()).to_ascii_lowercase()
                            };
                            let message = format!(
                                "{} answered {:?}: {}",
                                self.shown,
                                status.code(),
                                status.message()
                            );
                            let retry_info = status.get_details_retry_info();
                            match status.code() {
                                Code::Cancelled
                                | Code::DeadlineExceeded
                                | Code::Aborted
                                | Code::OutOfRange
                                | Code::Unavailable
                                | Code::DataLoss => Attempt::Retry {
                                    kind,
                                    message,
                                    after: retry_info.and_then(|r| r.retry_delay),
                                },
                                Code::ResourceExhausted if retry_info.is_some() => Attempt::Retry {
                                    kind,
                                    message,
                                    after: retry_info.and_then(|r| r.retry_delay),
                                },
                                _ => Attempt::Done(Err((kind, format!("{message} (not retried)")))),
                            }
                        }
                    }
                }
            },
        )
        .await;
        match result.and_then(|r| r) {
            Ok(None) => Outcome::exported(n),
            Ok(Some(p)) if p.rejected_spans > 0 => {
                let rejected = (p.rejected_spans as u64).min(n);
                Outcome {
                    exported: n - rejected,
                    failures: vec![Failure {
                        spans: rejected,
                        kind: "partial_success".into(),
                        message: format!(
                            "{} rejected {rejected} of {n} spans: {}",
                            self.shown, p.error_message
                        ),
                    }],
                }
            }
            // A warning with nothing rejected: recorded, no span lost.
            Ok(Some(p)) if !p.error_message.is_empty() => Outcome {
                exported: n,
                failures: vec![Failure {
                    spans: 0,
                    kind: "partial_success_warning".into(),
                    message: format!(
                        "{} accepted all {n} spans with a warning: {}",
                        self.shown, p.error_message
                    ),
                }],
            },
            Ok(Some(_)) => Outcome::exported(n),
            Err((kind, message)) => Outcome::failed(n, kind, message),
        }
    }
}

impl Export for GrpcExporter {
    fn export_batch(&self, batch: crate::record::Batch) -> BoxFuture<'_, Outcome> {
        Box::pin(self.send(batch))
    }
}
