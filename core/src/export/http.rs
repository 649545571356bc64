//! One HTTP transport for OTLP/HTTP, Jaeger Thrift and Zipkin: rustls with the system's roots
//! (no OpenSSL), custom headers, gzip where the protocol allows, and the OTLP retry rules —
//! 429, 502, 503, 504 and connection errors are retried with exponential backoff and jitter,
//! `Retry-After` is honoured, every batch has a total deadline (the export timeout); 413 splits
//! the batch; other statuses drop it with the reason; OTLP partial success is counted.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};

use super::otlp_proto::{self, Encoding};
use super::retry::{self, error_chain, Attempt};
use super::{jaeger_thrift, zipkin, BoxFuture, Export, Failure, Outcome};
use crate::config::{Compression, TracingConfig};
use crate::error::{Error, Result};

/// The most response body read (for partial success and error messages).
const MAX_RESPONSE: usize = 64 * 1024;

/// What goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Otlp(Encoding),
    JaegerThrift,
    Zipkin,
}

#[derive(Debug)]
enum Payload {
    Otlp(otlp_proto::Request, Encoding),
    Thrift(jaeger_thrift::Batch),
    Zipkin(zipkin::Batch),
}

impl Payload {
    fn span_count(&self) -> usize {
        match self {
            Payload::Otlp(r, _) => r.span_count(),
            Payload::Thrift(b) => b.span_count(),
            Payload::Zipkin(b) => b.span_count(),
        }
    }

    fn encode(&self) -> (Vec<u8>, &'static str) {
        match self {
            Payload::Otlp(r, e) => (r.encode(*e), e.content_type()),
            Payload::Thrift(b) => (b.encode(), jaeger_thrift::CONTENT_TYPE),
            Payload::Zipkin(b) => (b.encode(), zipkin::CONTENT_TYPE),
        }
    }

    fn split(self) -> Option<(Payload, Payload)> {
        match self {
            Payload::Otlp(r, e) => r
                .split()
                .map(|(a, b)| (Payload::Otlp(a, e), Payload::Otlp(b, e))),
            Payload::Thrift(b) => b
                .split()
                .map(|(a, b)| (Payload::Thrift(a), Payload::Thrift(b))),
            Payload::Zipkin(b) => b
                .split()
                .map(|(a, b)| (Payload::Zipkin(a), Payload::Zipkin(b))),
        }
    }

    fn partial_success(&self, body: &[u8]) -> Option<(u64, String)> {
        match self {
            Payload::Otlp(_, e) => otlp_proto::partial_success(body, *e),
            _ => None,
        }
    }

    /// Jaeger's Thrift endpoint takes no compressed bodies.
    fn compressible(&self) -> bool {
        !matches!(self, Payload::Thrift(_))
    }
}

enum Sent {
    Accepted { rejected: Option<(u64, String)> },
    TooLarge,
    Failed { kind: String, message: String },
}

/// The exporter for OTLP/HTTP, Jaeger Thrift and Zipkin.
#[derive(Debug)]
pub(crate) struct HttpExporter {
    client: reqwest::Client,
    url: String,
    /// `url` as messages show it (redacted: no userinfo, no secret query values).
    shown: String,
    headers: HeaderMap,
    gzip: bool,
    deadline: Duration,
    attempt_timeout: Duration,
    wire: Wire,
    resource: Resource,
    process: jaeger_thrift::Process,
}

impl HttpExporter {
    pub(crate) fn new(
        config: &TracingConfig,
        resource: &Resource,
        url: String,
        wire: Wire,
    ) -> Result<HttpExporter> {
        let setup = |message: String| Error::ExporterSetup {
            backend: config.backend.to_string(),
            message,
        };
        // rustls needs a process-wide crypto provider; another library may have installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| setup(format!("header name {k:?}: {e}")))?;
            let value =
                HeaderValue::from_str(v).map_err(|e| setup(format!("header {k} value: {e}")))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("crosstrace/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpExporter {
            client,
            shown: crate::redact::Policy::builtin().url(&url).into_owned(),
            url,
            headers,
            gzip: config.compression == Compression::Gzip,
            deadline: config.export_timeout(),
            attempt_timeout: config.export_attempt_timeout(),
            wire,
            resource: resource.clone(),
            process: jaeger_thrift::Process::from_resource(resource),
        })
    }

    fn payload(&self, batch: Vec<SpanData>) -> Payload {
        match self.wire {
            Wire::Otlp(e) => Payload::Otlp(otlp_proto::Request::new(batch, &self.resource), e),
            Wire::JaegerThrift => Payload::Thrift(jaeger_thrift::Batch {
                process: self.process.clone(),
                spans: batch,
            }),
            Wire::Zipkin => Payload::Zipkin(zipkin::Batch::new(&batch, &self.resource)),
        }
    }

    async fn send_all(&self, payload: Payload) -> Outcome {
        let mut outcome = Outcome::default();
        let mut pending = vec![payload];
        while let Some(p) = pending.pop() {
            let n = p.span_count() as u64;
            match self.send_one(&p).await {
                Sent::Accepted { rejected: None } => outcome.exported += n,
                Sent::Accepted {
                    rejected: Some((rejected, message)),
                } => {
                    let rejected = rejected.min(n);
                    outcome.exported += n - rejected;
                    outcome.failures.push(Failure {
                        spans: rejected,
                        kind: "partial_success".into(),
                        message: format!(
                            "{} rejected {rejected} of {n} spans: {message}",
                            self.shown
                        ),
                    });
                }
                Sent::TooLarge => match p.split() {
                    Some((a, b)) => {
                        pending.push(b);
                        pending.push(a);
                    }
                    None => outcome.failures.push(Failure {
                        spans: n,
                        kind: "http_413".into(),
                        message: format!("{} answered 413 even for a single span", self.shown),
                    }),
                },
                Sent::Failed { kind, message } => outcome.failures.push(Failure {
                    spans: n,
                    kind,
                    message,
                }),
            }
        }
        outcome
    }

    /// Sends one payload, retrying transient failures within the export deadline. (A split
    /// after 413 starts a new deadline for each half: each half is a batch of its own.)
    async fn send_one(&self, payload: &Payload) -> Sent {
        let (body, content_type) = payload.encode();
        let gzip = self.gzip && payload.compressible();
        let body = Bytes::from(if gzip { gzip_bytes(&body) } else { body });
        // An attempt that times out is dropped with its connection (hyper does not pool a
        // connection whose request was abandoned), so the retry connects afresh.
        let result = retry::run(
            &self.shown,
            self.deadline,
            self.attempt_timeout,
            |timeout| {
                let mut req = self
                    .client
                    .post(&self.url)
                    .headers(self.headers.clone())
                    .header(CONTENT_TYPE, content_type)
                    .timeout(timeout)
                    .body(body.clone());
                if gzip {
                    req = req.header(CONTENT_ENCODING, "gzip");
                }
                async move {
                    let resp = match req.send().await {
                        Ok(resp) => resp,
                        Err(e) => {
                            let kind = if e.is_timeout() {
                                "timeout"
                            } else {
                                "connection"
                            };
                            return Attempt::Retry {
                                kind: kind.into(),
                                message: format!(
                                    "{}: {}",
                                    self.shown,
                                    error_chain(&e.without_url())
                                ),
                                after: None,
                            };
                        }
                    };
                    let status = resp.status().as_u16();
                    let after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let body = read_body(resp).await;
                    match status {
                        200..=299 => Attempt::Done(Sent::Accepted {
                            rejected: payload.partial_success(&body),
                        }),
                        413 => Attempt::Done(Sent::TooLarge),
                        429 | 502 | 503 | 504 => Attempt::Retry {
                            kind: format!("http_{status}"),
                            message: format!(
                                "{} answered {status}: {}",
                                self.shown,
                                snippet(&body)
                            ),
                            after,
                        },
                        _ => Attempt::Done(Sent::Failed {
                            kind: format!("http_{status}"),
                            message: format!(
                                "{} answered {status} (not retried): {}",
                                self.shown,
                                snippet(&body)
                            ),
                        }),
                    }
                }
            },
        )
        .await;
        result.unwrap_or_else(|(kind, message)| Sent::Failed { kind, message })
    }
}

impl Export for HttpExporter {
    fn export_batch(&self, batch: Vec<SpanData>) -> BoxFuture<'_, Outcome> {
        let payload = self.payload(batch);
        Box::pin(self.send_all(payload))
    }
}

async fn read_body(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_RESPONSE {
            out.truncate(MAX_RESPONSE);
            break;
        }
    }
    out
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.into()
    }
}

fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
