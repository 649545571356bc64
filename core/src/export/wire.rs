//! The export policy, with no I/O: which wire format (and endpoint) a config's backend gets, a
//! batch encoded for it, and what a backend's answer — status code and body — means for the
//! spans sent. Compiled everywhere, wasm32 included: the native HTTP transport (`http.rs`) and
//! the wasm binding (`fetch`) only move the bytes and ask this module what happened.
//!
//! The answer rules (OTLP/HTTP's, applied to Jaeger Thrift and Zipkin too): 2xx accepts the
//! batch (OTLP may still reject some spans: partial success); 413 asks for smaller batches;
//! 429, 502, 503, 504 and no answer at all are transient; every other status drops the batch.
//! A transport that neither retries nor splits (the wasm binding's) takes every verdict as
//! final through [`Verdict::outcome`].

use std::fmt;

use opentelemetry_sdk::Resource;

#[cfg(feature = "jaeger-thrift")]
use super::jaeger_thrift;
use super::otlp_proto::{self, Encoding};
#[cfg(feature = "zipkin")]
use super::zipkin;
use super::{Failure, Outcome};
use crate::config::{Backend, OtlpProtocol, TracingConfig};

/// What an exporting backend sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OTLP over gRPC (native only: tonic frames the protobuf request).
    OtlpGrpc,
    /// OTLP over HTTP, with protobuf or JSON bodies.
    OtlpHttp(Encoding),
    /// Jaeger Thrift (binary) over HTTP, to Jaeger's collector.
    JaegerThrift,
    /// Zipkin v2 JSON over HTTP.
    Zipkin,
}

impl Wire {
    /// The wire for an exporting backend and the OTLP protocol its endpoint resolved to
    /// ([`crate::config::ResolvedEndpoint::otlp_protocol`]): Zipkin speaks Zipkin; OTLP, and
    /// Jaeger pointed at an OTLP endpoint, speak OTLP in that protocol; Jaeger otherwise speaks
    /// Thrift.
    pub fn of(backend: Backend, otlp_protocol: Option<OtlpProtocol>) -> Wire {
        match (backend, otlp_protocol) {
            (Backend::Zipkin, _) => Wire::Zipkin,
            (_, Some(OtlpProtocol::Grpc)) => Wire::OtlpGrpc,
            (_, Some(OtlpProtocol::HttpProtobuf)) => Wire::OtlpHttp(Encoding::Protobuf),
            (_, Some(OtlpProtocol::HttpJson)) => Wire::OtlpHttp(Encoding::Json),
            (_, None) => Wire::JaegerThrift,
        }
    }

    /// Why this build cannot encode the wire (a feature left out), if it cannot.
    fn unsupported(self) -> Option<Unsupported> {
        match self {
            Wire::OtlpHttp(Encoding::Json) if !otlp_proto::JSON_SUPPORTED => {
                Some(Unsupported::OtlpJson)
            }
            Wire::JaegerThrift if !cfg!(feature = "jaeger-thrift") => {
                Some(Unsupported::JaegerThrift)
            }
            Wire::Zipkin if !cfg!(feature = "zipkin") => Some(Unsupported::Zipkin),
            _ => None,
        }
    }

    /// The request's Content-Type.
    pub fn content_type(self) -> &'static str {
        match self {
            Wire::OtlpGrpc => "application/grpc",
            Wire::OtlpHttp(e) => e.content_type(),
            Wire::JaegerThrift => "application/x-thrift",
            Wire::Zipkin => "application/json",
        }
    }

    /// Whether the body may be gzip-compressed (Jaeger's Thrift endpoint takes no compressed
    /// bodies).
    pub fn compressible(self) -> bool {
        !matches!(self, Wire::JaegerThrift)
    }

    /// What the answer `status` with `body` means for the `spans` sent to `shown` (the
    /// endpoint as messages name it: redacted).
    pub fn verdict(self, spans: u64, status: u16, body: &[u8], shown: &str) -> Verdict {
        match status {
            200..=299 => Verdict::Accepted {
                rejected: self.partial_success(body).map(|(rejected, message)| {
                    match rejected.min(spans) {
                        // A warning (OTLP allows one with nothing rejected): recorded, no span
                        // lost.
                        0 => Failure {
                            spans: 0,
                            kind: "partial_success_warning".into(),
                            message: format!(
                                "{shown} accepted all {spans} spans with a warning: {message}"
                            ),
                        },
                        rejected => Failure {
                            spans: rejected,
                            kind: "partial_success".into(),
                            message: format!(
                                "{shown} rejected {rejected} of {spans} spans: {message}"
                            ),
                        },
                    }
                }),
            },
            413 => Verdict::TooLarge {
                message: format!("{shown} answered 413: {}", snippet(body)),
            },
            429 | 502 | 503 | 504 => Verdict::Retry {
                kind: format!("http_{status}"),
                message: format!("{shown} answered {status}: {}", snippet(body)),
            },
            _ => Verdict::Drop {
                kind: format!("http_{status}"),
                message: format!("{shown} answered {status} (not retried): {}", snippet(body)),
            },
        }
    }

    /// Spans an OTLP partial-success response rejects, with the server's message. Only OTLP
    /// answers have one.
    fn partial_success(self, body: &[u8]) -> Option<(u64, String)> {
        match self {
            Wire::OtlpHttp(e) => otlp_proto::partial_success(body, e),
            Wire::OtlpGrpc => otlp_proto::partial_success(body, Encoding::Protobuf),
            Wire::JaegerThrift | Wire::Zipkin => None,
        }
    }
}

/// Where a config's finished spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Printed as trees (the console backend).
    Console,
    /// Counted as exported, never sent (the `none` backend).
    Discard,
    /// Sent to `url` in `wire`'s format.
    Send {
        /// The resolved endpoint.
        url: String,
        /// The format.
        wire: Wire,
    },
}

/// A wire format this build cannot encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// OTLP/JSON, without the core's `otlp-json` feature.
    OtlpJson,
    /// Jaeger Thrift, without the core's `jaeger-thrift` feature.
    JaegerThrift,
    /// Zipkin v2 JSON, without the core's `zipkin` feature.
    Zipkin,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unsupported::OtlpJson => {
                "this build has no OTLP/JSON encoder (feature `otlp-json`); use http/protobuf"
            }
            Unsupported::JaegerThrift => {
                "this build has no Jaeger Thrift encoder (feature `jaeger-thrift`); point the \
                 jaeger backend at Jaeger's OTLP/HTTP endpoint (port 4318, /v1/traces)"
            }
            Unsupported::Zipkin => {
                "this build has no Zipkin encoder (feature `zipkin`); use the otlp backend \
                 (OTLP/HTTP, port 4318, /v1/traces)"
            }
        })
    }
}

/// Where `config` sends its spans, and in which format; an error for a format this build cannot
/// encode.
pub fn route(config: &TracingConfig) -> Result<Route, Unsupported> {
    match config.backend {
        Backend::Console => return Ok(Route::Console),
        Backend::None => return Ok(Route::Discard),
        Backend::Otlp | Backend::Jaeger | Backend::Zipkin => {}
    }
    // Exporting backends always resolve an endpoint.
    let Some(r) = config.resolved_endpoint() else {
        return Ok(Route::Discard);
    };
    let wire = Wire::of(config.backend, r.otlp_protocol);
    match wire.unsupported() {
        Some(u) => Err(u),
        None => Ok(Route::Send { url: r.url, wire }),
    }
}

/// Encodes batches for one wire under one resource.
#[derive(Debug, Clone)]
pub struct Encoder {
    wire: Wire,
    resource: Resource,
    #[cfg(feature = "jaeger-thrift")]
    process: jaeger_thrift::Process,
}

impl Encoder {
    /// The encoder of `wire` for spans of `resource`. A wire this build cannot encode
    /// ([`route`] refuses it) becomes OTLP/protobuf, and its payloads say so.
    pub fn new(wire: Wire, resource: &Resource) -> Encoder {
        let wire = match wire.unsupported() {
            Some(_) => Wire::OtlpHttp(Encoding::Protobuf),
            None => wire,
        };
        Encoder {
            wire,
            resource: resource.clone(),
            #[cfg(feature = "jaeger-thrift")]
            process: jaeger_thrift::Process::from_resource(resource),
        }
    }

    /// The wire it encodes for.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// `batch` as one request, encoded when sent.
    pub fn payload(&self, batch: crate::record::Batch) -> Payload {
        let body = match self.wire {
            #[cfg(feature = "jaeger-thrift")]
            Wire::JaegerThrift => Body::Thrift(jaeger_thrift::Batch {
                process: self.process.clone(),
                spans: batch,
            }),
            #[cfg(feature = "zipkin")]
            Wire::Zipkin => Body::Zipkin(zipkin::Batch::new(&batch, &self.resource)),
            _ => Body::Otlp(otlp_proto::Request::new(batch, &self.resource)),
        };
        Payload {
            wire: self.wire,
            body,
        }
    }
}

/// One request's spans, in its wire's format.
#[derive(Debug, Clone)]
pub struct Payload {
    wire: Wire,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Otlp(otlp_proto::Request),
    #[cfg(feature = "jaeger-thrift")]
    Thrift(jaeger_thrift::Batch),
    #[cfg(feature = "zipkin")]
    Zipkin(zipkin::Batch),
}

impl Payload {
    /// The wire it is for.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Spans in the request.
    pub fn span_count(&self) -> usize {
        match &self.body {
            Body::Otlp(r) => r.span_count(),
            #[cfg(feature = "jaeger-thrift")]
            Body::Thrift(b) => b.span_count(),
            #[cfg(feature = "zipkin")]
            Body::Zipkin(b) => b.span_count(),
        }
    }

    /// The body bytes (for OTLP/gRPC, the protobuf request that gRPC frames).
    pub fn encode(&self) -> Vec<u8> {
        match (&self.body, self.wire) {
            (Body::Otlp(r), Wire::OtlpHttp(e)) => r.encode(e),
            (Body::Otlp(r), _) => r.encode(Encoding::Protobuf),
            #[cfg(feature = "jaeger-thrift")]
            (Body::Thrift(b), _) => b.encode(),
            #[cfg(feature = "zipkin")]
            (Body::Zipkin(b), _) => b.encode(),
        }
    }

    /// The Content-Type header.
    pub fn content_type(&self) -> &'static str {
        self.wire.content_type()
    }

    /// Whether the body may be gzip-compressed.
    pub fn compressible(&self) -> bool {
        self.wire.compressible()
    }

    /// Two requests of about half the spans each (for a backend that answered 413); `None` for
    /// one span or fewer.
    pub fn split(self) -> Option<(Payload, Payload)> {
        let wire = self.wire;
        let (a, b) = match self.body {
            Body::Otlp(r) => r.split().map(|(a, b)| (Body::Otlp(a), Body::Otlp(b)))?,
            #[cfg(feature = "jaeger-thrift")]
            Body::Thrift(t) => t.split().map(|(a, b)| (Body::Thrift(a), Body::Thrift(b)))?,
            #[cfg(feature = "zipkin")]
            Body::Zipkin(z) => z.split().map(|(a, b)| (Body::Zipkin(a), Body::Zipkin(b)))?,
        };
        Some((Payload { wire, body: a }, Payload { wire, body: b }))
    }

    /// What the answer `status` with `body` means for this request's spans ([`Wire::verdict`]).
    pub fn verdict(&self, status: u16, body: &[u8], shown: &str) -> Verdict {
        self.wire
            .verdict(self.span_count() as u64, status, body, shown)
    }
}

/// What a backend's answer (or its absence) means for the spans of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (2xx); OTLP partial success may still have rejected some spans.
    Accepted {
        /// The spans rejected, and why.
        rejected: Option<Failure>,
    },
    /// 413: the batch is too large; a transport that can splits it and sends the halves.
    TooLarge {
        /// What happened, should it not be split.
        message: String,
    },
    /// Transient (429, 502, 503, 504, no connection, no answer in time): a transport that can
    /// retries, with backoff, within the export deadline.
    Retry {
        /// `http_<status>`, `connection` or `timeout`.
        kind: String,
        /// What happened.
        message: String,
    },
    /// Final: the spans are dropped with the reason.
    Drop {
        /// `http_<status>`, or the last transient kind once retries are spent.
        kind: String,
        /// What happened.
        message: String,
    },
}

impl Verdict {
    /// No answer from `shown`: the request could not be sent or its response never came
    /// (`timed_out`). `detail` says what the transport saw.
    pub fn no_response(shown: &str, detail: &str, timed_out: bool) -> Verdict {
        Verdict::Retry {
            kind: if timed_out { "timeout" } else { "connection" }.into(),
            message: format!("{shown}: {detail}"),
        }
    }

    /// The outcome for the `spans` sent, taking this verdict as final (nothing split or
    /// retried).
    pub fn outcome(self, spans: u64) -> Outcome {
        match self {
            Verdict::Accepted { rejected: None } => Outcome::exported(spans),
            Verdict::Accepted {
                rejected: Some(failure),
            } => Outcome {
                exported: spans - failure.spans.min(spans),
                failures: vec![failure],
            },
            Verdict::TooLarge { message } => Outcome::failed(spans, "http_413", message),
            Verdict::Retry { kind, message } | Verdict::Drop { kind, message } => {
                Outcome::failed(spans, kind, message)
            }
        }
    }
}

/// The start of a response body, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::KeyValue;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;

    const SHOWN: &str = "http://collector:4318/v1/traces";

    const ALL_WIRES: [Wire; 5] = [
        Wire::OtlpGrpc,
        Wire::OtlpHttp(Encoding::Protobuf),
        Wire::OtlpHttp(Encoding::Json),
        Wire::JaegerThrift,
        Wire::Zipkin,
    ];

    fn config(backend: Backend, endpoint: Option<&str>, p: Option<OtlpProtocol>) -> TracingConfig {
        TracingConfig {
            backend,
            endpoint: endpoint.map(str::to_owned),
            otlp_protocol: p,
            ..TracingConfig::default()
        }
    }

    fn send(url: &str, wire: Wire) -> Result<Route, Unsupported> {
        Ok(Route::Send {
            url: url.into(),
            wire,
        })
    }

    fn spans(n: u64) -> crate::record::Batch {
        (1..=n)
            .map(|i| crate::SpanRecord {
                span_context: SpanContext::new(
                    TraceId::from(7),
                    SpanId::from(i),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::NONE,
                ),
                parent_span_id: SpanId::INVALID,
                parent_span_is_remote: false,
                span_kind: SpanKind::Internal,
                name: format!("span{i}").into(),
                start_time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                end_time: UNIX_EPOCH + Duration::from_secs(1_700_000_001),
                attributes: vec![KeyValue::new("i", i as i64)],
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: crate::Scope::new("test", None, None)
                    .instrumentation_scope(),
            })
            .collect()
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "Checkout")])
            .build()
    }

    fn partial_success_protobuf(rejected: i64, message: &str) -> Vec<u8> {
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.into(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn console_and_none_send_nothing() {
        assert_eq!(
            route(&config(Backend::Console, Some("http://x:4318"), None)),
            Ok(Route::Console)
        );
        assert_eq!(
            route(&config(Backend::None, Some("http://x:4318"), None)),
            Ok(Route::Discard)
        );
    }

    #[test]
    fn otlp_routes_by_protocol() {
        assert_eq!(
            route(&config(Backend::Otlp, None, None)),
            send("http://localhost:4317", Wire::OtlpGrpc)
        );
        assert_eq!(
            route(&config(Backend::Otlp, Some("http://c:4318"), None)),
            send(
                "http://c:4318/v1/traces",
                Wire::OtlpHttp(Encoding::Protobuf)
            )
        );
        assert_eq!(
            route(&config(
                Backend::Otlp,
                Some("http://c:4317"),
                Some(OtlpProtocol::Grpc)
            )),
            send("http://c:4317", Wire::OtlpGrpc)
        );
        assert_eq!(
            route(&config(
                Backend::Otlp,
                Some("http://c:4318/v1/traces"),
                Some(OtlpProtocol::HttpProtobuf)
            )),
            send(
                "http://c:4318/v1/traces",
                Wire::OtlpHttp(Encoding::Protobuf)
            )
        );
        let json = route(&config(
            Backend::Otlp,
            Some("http://c:4318"),
            Some(OtlpProtocol::HttpJson),
        ));
        if otlp_proto::JSON_SUPPORTED {
            assert_eq!(
                json,
                send("http://c:4318/v1/traces", Wire::OtlpHttp(Encoding::Json))
            );
        } else {
            assert_eq!(json, Err(Unsupported::OtlpJson));
        }
    }

    #[test]
    fn jaeger_speaks_thrift_unless_pointed_at_otlp() {
        assert_eq!(
            route(&config(Backend::Jaeger, None, None)),
            if cfg!(feature = "jaeger-thrift") {
                send("http://localhost:14268/api/traces", Wire::JaegerThrift)
            } else {
                Err(Unsupported::JaegerThrift)
            }
        );
        assert_eq!(
            route(&config(
                Backend::Jaeger,
                Some("http://j:4318/v1/traces"),
                None
            )),
            send(
                "http://j:4318/v1/traces",
                Wire::OtlpHttp(Encoding::Protobuf)
            )
        );
        assert_eq!(
            route(&config(Backend::Jaeger, Some("http://j:4317"), None)),
            send("http://j:4317", Wire::OtlpGrpc)
        );
    }

    #[test]
    fn zipkin_speaks_zipkin_whatever_the_protocol() {
        if !cfg!(feature = "zipkin") {
            let r = route(&config(Backend::Zipkin, None, None));
            assert_eq!(r, Err(Unsupported::Zipkin));
            assert!(r.unwrap_err().to_string().contains("4318"));
            return;
        }
        assert_eq!(
            route(&config(Backend::Zipkin, None, None)),
            send("http://localhost:9411/api/v2/spans", Wire::Zipkin)
        );
        assert_eq!(
            route(&config(
                Backend::Zipkin,
                Some("http://z:9411/api/v2/spans"),
                Some(OtlpProtocol::Grpc)
            )),
            send("http://z:9411/api/v2/spans", Wire::Zipkin)
        );
    }

    #[test]
    fn wire_of_covers_every_backend_and_protocol() {
        for backend in [Backend::Otlp, Backend::Jaeger] {
            assert_eq!(Wire::of(backend, None), Wire::JaegerThrift);
            assert_eq!(Wire::of(backend, Some(OtlpProtocol::Grpc)), Wire::OtlpGrpc);
            assert_eq!(
                Wire::of(backend, Some(OtlpProtocol::HttpProtobuf)),
                Wire::OtlpHttp(Encoding::Protobuf)
            );
            assert_eq!(
                Wire::of(backend, Some(OtlpProtocol::HttpJson)),
                Wire::OtlpHttp(Encoding::Json)
            );
        }
        for p in [
            None,
            Some(OtlpProtocol::Grpc),
            Some(OtlpProtocol::HttpProtobuf),
            Some(OtlpProtocol::HttpJson),
        ] {
            assert_eq!(Wire::of(Backend::Zipkin, p), Wire::Zipkin);
        }
    }

    #[test]
    fn unsupported_json_says_what_to_use() {
        assert!(Unsupported::OtlpJson.to_string().contains("http/protobuf"));
    }

    #[test]
    fn content_types_and_compression() {
        assert_eq!(
            Wire::OtlpHttp(Encoding::Protobuf).content_type(),
            "application/x-protobuf"
        );
        assert_eq!(
            Wire::OtlpHttp(Encoding::Json).content_type(),
            "application/json"
        );
        assert_eq!(Wire::JaegerThrift.content_type(), "application/x-thrift");
        assert_eq!(Wire::Zipkin.content_type(), "application/json");
        for wire in ALL_WIRES {
            assert_eq!(wire.compressible(), wire != Wire::JaegerThrift, "{wire:?}");
        }
    }

    #[test]
    fn encoder_writes_each_wire_format() {
        let r = resource();
        let batch = spans(3);
        let protobuf = Encoder::new(Wire::OtlpHttp(Encoding::Protobuf), &r).payload(batch.clone());
        assert_eq!(protobuf.span_count(), 3);
        assert_eq!(protobuf.content_type(), "application/x-protobuf");
        assert_eq!(
            protobuf.encode(),
            otlp_proto::Request::new(batch.clone(), &r).encode(Encoding::Protobuf)
        );
        let grpc = Encoder::new(Wire::OtlpGrpc, &r).payload(batch.clone());
        assert_eq!(grpc.encode(), protobuf.encode());
        #[cfg(feature = "jaeger-thrift")]
        {
            let thrift = Encoder::new(Wire::JaegerThrift, &r).payload(batch.clone());
            assert_eq!(
                thrift.encode(),
                jaeger_thrift::Batch {
                    process: jaeger_thrift::Process::from_resource(&r),
                    spans: batch.clone(),
                }
                .encode()
            );
        }
        #[cfg(feature = "zipkin")]
        {
            let zipkin = Encoder::new(Wire::Zipkin, &r).payload(batch.clone());
            assert_eq!(zipkin.encode(), zipkin::Batch::new(&batch, &r).encode());
            let text = String::from_utf8(zipkin.encode()).unwrap();
            assert!(text.contains("\"checkout\""), "{text}");
        }
        if otlp_proto::JSON_SUPPORTED {
            let json = Encoder::new(Wire::OtlpHttp(Encoding::Json), &r).payload(batch);
            let text = String::from_utf8(json.encode()).unwrap();
            assert!(text.contains("resourceSpans"), "{text}");
        }
    }

    #[test]
    fn payloads_split_in_halves_down_to_one_span() {
        for wire in ALL_WIRES {
            let p = Encoder::new(wire, &resource()).payload(spans(5));
            let (a, b) = p.split().unwrap();
            assert_eq!((a.span_count(), b.span_count()), (2, 3), "{wire:?}");
            // The halves keep the wire (a wire this build cannot encode went out as OTLP).
            let sent = Encoder::new(wire, &resource()).wire();
            assert_eq!((a.wire(), b.wire()), (sent, sent));
            assert_eq!(sent == wire, wire.unsupported().is_none(), "{wire:?}");
            let one = Encoder::new(wire, &resource()).payload(spans(1));
            assert!(one.split().is_none(), "{wire:?}");
        }
    }

    #[test]
    fn success_accepts_every_span_on_every_wire() {
        for wire in ALL_WIRES {
            for status in [200, 201, 202, 204, 299] {
                let v = wire.verdict(5, status, b"", SHOWN);
                assert_eq!(v, Verdict::Accepted { rejected: None }, "{wire:?} {status}");
                assert_eq!(v.outcome(5), Outcome::exported(5));
            }
            // A body that is no partial success changes nothing.
            let v = wire.verdict(5, 200, b"{}", SHOWN);
            assert_eq!(v, Verdict::Accepted { rejected: None }, "{wire:?}");
        }
    }

    #[test]
    fn otlp_partial_success_fails_the_rejected_spans_only() {
        let body = partial_success_protobuf(2, "2 spans had invalid attributes");
        for wire in [Wire::OtlpHttp(Encoding::Protobuf), Wire::OtlpGrpc] {
            let v = wire.verdict(5, 200, &body, SHOWN);
            let failure = Failure {
                spans: 2,
                kind: "partial_success".into(),
                message: format!("{SHOWN} rejected 2 of 5 spans: 2 spans had invalid attributes"),
            };
            assert_eq!(
                v,
                Verdict::Accepted {
                    rejected: Some(failure.clone())
                },
                "{wire:?}"
            );
            assert_eq!(
                v.outcome(5),
                Outcome {
                    exported: 3,
                    failures: vec![failure]
                }
            );
        }
        // More rejected than sent: all of them, no more.
        let v = Wire::OtlpHttp(Encoding::Protobuf).verdict(2, 200, &body, SHOWN);
        assert_eq!(v.clone().outcome(2).exported, 0);
        assert_eq!(v.outcome(2).failures[0].spans, 2);
        // Thrift and Zipkin answers carry no partial success.
        for wire in [Wire::JaegerThrift, Wire::Zipkin] {
            assert_eq!(
                wire.verdict(5, 200, &body, SHOWN),
                Verdict::Accepted { rejected: None }
            );
        }
        #[cfg(feature = "otlp-json")]
        {
            let json = serde_json::to_vec(&ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: 1,
                    error_message: "bad".into(),
                }),
            })
            .unwrap();
            let v = Wire::OtlpHttp(Encoding::Json).verdict(4, 200, &json, SHOWN);
            let o = v.outcome(4);
            assert_eq!(o.exported, 3, "{o:?}");
            assert_eq!(o.failures[0].kind, "partial_success");
            // A protobuf answer is no JSON partial success.
            assert_eq!(
                Wire::OtlpHttp(Encoding::Json).verdict(4, 200, &body, SHOWN),
                Verdict::Accepted { rejected: None }
            );
            // OTLP/JSON writes 64-bit integers as decimal strings (the Collector does), and
            // readers accept either.
            let json = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"quota"}}"#;
            let o = Wire::OtlpHttp(Encoding::Json)
                .verdict(4, 200, json, SHOWN)
                .outcome(4);
            assert_eq!((o.exported, o.failures[0].spans), (1, 3), "{o:?}");
            assert!(o.failures[0].message.contains("quota"));
        }
    }

    #[test]
    fn a_partial_success_rejecting_nothing_is_a_warning_that_loses_no_span() {
        let body = partial_success_protobuf(0, "attribute keys will be cut from next week");
        for wire in [Wire::OtlpHttp(Encoding::Protobuf), Wire::OtlpGrpc] {
            let o = wire.verdict(5, 200, &body, SHOWN).outcome(5);
            assert_eq!(o.exported, 5, "{wire:?}");
            assert_eq!(o.failures.len(), 1);
            assert_eq!(o.failures[0].spans, 0);
            assert_eq!(o.failures[0].kind, "partial_success_warning");
            assert!(o.failures[0].message.contains("cut from next week"));
        }
    }

    #[test]
    fn too_large_asks_for_a_split_and_fails_unsplit() {
        for wire in ALL_WIRES {
            let v = wire.verdict(4, 413, b"too big", SHOWN);
            assert_eq!(
                v,
                Verdict::TooLarge {
                    message: format!("{SHOWN} answered 413: too big")
                },
                "{wire:?}"
            );
            assert_eq!(
                v.outcome(4),
                Outcome::failed(4, "http_413", format!("{SHOWN} answered 413: too big"))
            );
        }
    }

    #[test]
    fn throttling_and_gateway_errors_are_transient() {
        for wire in ALL_WIRES {
            for status in [429, 502, 503, 504] {
                let v = wire.verdict(3, status, b"  busy \n", SHOWN);
                let (kind, message) = (
                    format!("http_{status}"),
                    format!("{SHOWN} answered {status}: busy"),
                );
                assert_eq!(
                    v,
                    Verdict::Retry {
                        kind: kind.clone(),
                        message: message.clone()
                    },
                    "{wire:?}"
                );
                assert_eq!(v.outcome(3), Outcome::failed(3, kind, message));
            }
        }
    }

    #[test]
    fn other_statuses_drop_the_batch_with_the_reason() {
        for wire in ALL_WIRES {
            for status in [
                0, 100, 301, 304, 400, 401, 403, 404, 408, 500, 501, 505, 599,
            ] {
                let v = wire.verdict(3, status, b"bad payload", SHOWN);
                let (kind, message) = (
                    format!("http_{status}"),
                    format!("{SHOWN} answered {status} (not retried): bad payload"),
                );
                assert_eq!(
                    v,
                    Verdict::Drop {
                        kind: kind.clone(),
                        message: message.clone()
                    },
                    "{wire:?} {status}"
                );
                assert_eq!(v.outcome(3), Outcome::failed(3, kind, message));
            }
        }
    }

    #[test]
    fn messages_quote_the_start_of_the_body() {
        let wire = Wire::Zipkin;
        let Verdict::Drop { message, .. } = wire.verdict(1, 400, b"", SHOWN) else {
            panic!("400 drops");
        };
        assert_eq!(
            message,
            format!("{SHOWN} answered 400 (not retried): (empty body)")
        );
        let long = "x".repeat(500);
        let Verdict::Retry { message, .. } = wire.verdict(1, 503, long.as_bytes(), SHOWN) else {
            panic!("503 is transient");
        };
        assert_eq!(
            message,
            format!("{SHOWN} answered 503: {}", "x".repeat(200))
        );
    }

    #[test]
    fn no_response_is_transient_and_names_the_endpoint() {
        assert_eq!(
            Verdict::no_response(SHOWN, "connection refused", false),
            Verdict::Retry {
                kind: "connection".into(),
                message: format!("{SHOWN}: connection refused")
            }
        );
        let v = Verdict::no_response(SHOWN, "operation timed out", true);
        assert_eq!(
            v.outcome(2),
            Outcome::failed(2, "timeout", format!("{SHOWN}: operation timed out"))
        );
    }
}
