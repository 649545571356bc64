//! One HTTP transport for OTLP/HTTP, Jaeger Thrift and Zipkin: rustls with the system's roots
//! (no OpenSSL), custom headers, gzip where the protocol allows. What each answer means is
//! `wire`'s (shared with the wasm binding); here it is acted on: transient failures (429, 502,
//! 503, 504, connection errors) are retried with exponential backoff and jitter, `Retry-After`
//! is honoured, every batch has a total deadline (the export timeout); 413 splits the batch;
//! other statuses drop it with the reason; OTLP partial success is counted.

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};

use super::retry::{self, error_chain, Attempt};
use super::wire::{Encoder, Payload, Verdict, Wire};
use super::{BoxFuture, Export, Failure, Outcome};
use crate::config::{Compression, TracingConfig};
use crate::error::{Error, Result};

/// The most response body read (for partial success and error messages).
const MAX_RESPONSE: usize = 64 * 1024;

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
    encoder: Encoder,
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
            // A redirect would turn the POST into a body-less GET (301, 302): a 3xx is the
            // answer, and drops the batch saying where the endpoint moved.
            .redirect(reqwest::redirect::Policy::none())
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
            encoder: Encoder::new(wire, resource),
        })
    }

    async fn send_all(&self, payload: Payload) -> Outcome {
        // One deadline for the batch, shared by the requests a 413 splits it into: what one
        // half used is not given again to the other (the batch processor's safety net would
        // otherwise cut the batch and count every span failed, the halves sent included).
        let deadline = Instant::now() + self.deadline;
        let mut outcome = Outcome::default();
        let mut pending = vec![payload];
        while let Some(p) = pending.pop() {
            let n = p.span_count() as u64;
            match self.send_one(&p, deadline).await {
                Verdict::TooLarge { .. } => match p.split() {
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
                verdict => outcome.merge(verdict.outcome(n)),
            }
        }
        outcome
    }

    /// Sends one payload, retrying transient failures until the batch's `deadline`.
    async fn send_one(&self, payload: &Payload, deadline: Instant) -> Verdict {
        let (body, content_type) = (payload.encode(), payload.content_type());
        let gzip = self.gzip && payload.compressible();
        let body = Bytes::from(if gzip { gzip_bytes(&body) } else { body });
        // An attempt that times out is dropped with its connection (hyper does not pool a
        // connection whose request was abandoned), so the retry connects afresh.
        let result = retry::run_until(
            &self.shown,
            deadline,
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
                            let timed_out = e.is_timeout();
                            let detail = error_chain(&e.without_url());
                            return attempt(
                                Verdict::no_response(&self.shown, &detail, timed_out),
                                None,
                            );
                        }
                    };
                    let status = resp.status().as_u16();
                    let after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let moved_to = resp
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(|l| crate::redact::Policy::builtin().url(l).into_owned());
                    let body = read_body(resp).await;
                    let verdict = match (payload.verdict(status, &body, &self.shown), moved_to) {
                        // Not followed (see the client): say where the endpoint moved.
                        (Verdict::Drop { kind, message }, Some(to)) => Verdict::Drop {
                            kind,
                            message: format!(
                                "{message} (redirected to {to}, not followed: set the endpoint to it)"
                            ),
                        },
                        (verdict, _) => verdict,
                    };
                    attempt(verdict, after)
                }
            },
        )
        .await;
        // Retries spent: the last transient failure drops the batch.
        result.unwrap_or_else(|(kind, message)| Verdict::Drop { kind, message })
    }
}

impl Export for HttpExporter {
    fn export_batch(&self, batch: crate::record::Batch) -> BoxFuture<'_, Outcome> {
        let payload = self.encoder.payload(batch);
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

/// A transient verdict is retried (after `after`, the server's word, or the backoff); any
/// other is the attempt's result.
fn attempt(verdict: Verdict, after: Option<Duration>) -> Attempt<Verdict> {
    match verdict {
        Verdict::Retry { kind, message } => Attempt::Retry {
            kind,
            message,
            after,
        },
        v => Attempt::Done(v),
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
