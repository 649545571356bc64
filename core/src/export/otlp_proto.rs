//! OTLP encoding (protobuf or JSON) of a batch, with splitting for servers that answer 413.
//! No transport here: native code posts the bytes with reqwest, wasm with `fetch`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
#[cfg(any(feature = "native", feature = "otlp-json"))]
use opentelemetry_proto::{
    tonic::collector::trace::v1::ExportTraceServiceRequest,
    transform::common::tonic::ResourceAttributesWithSchema,
    transform::trace::tonic::group_spans_by_resource_and_scope,
};
use opentelemetry_sdk::Resource;
use prost::Message;

/// Whether this build can encode OTLP/JSON (the `otlp-json` feature).
pub(super) const JSON_SUPPORTED: bool = cfg!(feature = "otlp-json");

/// OTLP/HTTP body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON: hex ids, camelCase fields).
    Json,
}

impl Encoding {
    /// The Content-Type header.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// One OTLP export request: the batch and its resource, encoded when sent.
#[derive(Debug, Clone)]
pub(super) struct Request {
    spans: crate::record::Batch,
    resource: Resource,
}

impl Request {
    /// The request for `spans` under `resource`.
    pub(super) fn new(spans: crate::record::Batch, resource: &Resource) -> Request {
        Request {
            spans,
            resource: resource.clone(),
        }
    }

    /// Spans in the request.
    pub(super) fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// The body bytes. Protobuf is written straight from the spans (the private `otlp_pb`).
    pub(super) fn encode(&self, encoding: Encoding) -> Vec<u8> {
        match encoding {
            Encoding::Protobuf => super::otlp_pb::encode(&self.spans, &self.resource),
            #[cfg(feature = "otlp-json")]
            Encoding::Json => serde_json::to_vec(&proto_of(
                self.spans.iter().map(|r| r.to_span_data()).collect(),
                &self.resource,
            ))
            .unwrap_or_default(),
            #[cfg(not(feature = "otlp-json"))]
            Encoding::Json => Vec::new(),
        }
    }

    /// The `opentelemetry-proto` message (for tonic), spans grouped by scope.
    #[cfg(feature = "native")]
    pub(super) fn into_proto(self) -> ExportTraceServiceRequest {
        proto_of(crate::record::to_span_data(self.spans), &self.resource)
    }

    /// Splits into two requests of about half the spans each; `None` for one span or fewer.
    pub(super) fn split(mut self) -> Option<(Request, Request)> {
        if self.spans.len() < 2 {
            return None;
        }
        let right = self.spans.split_off(self.spans.len() / 2);
        let resource = self.resource.clone();
        Some((
            self,
            Request {
                spans: right,
                resource,
            },
        ))
    }
}

/// The request `opentelemetry-proto`'s transform builds.
#[cfg(any(feature = "native", feature = "otlp-json"))]
fn proto_of(
    spans: Vec<opentelemetry_sdk::trace::SpanData>,
    resource: &Resource,
) -> ExportTraceServiceRequest {
    let resource = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
    }
}

/// Rejected spans reported by an OTLP partial-success response, with the server's message.
pub(super) fn partial_success(body: &[u8], encoding: Encoding) -> Option<(u64, String)> {
    if body.is_empty() {
        return None;
    }
    let (rejected, message) = match encoding {
        Encoding::Protobuf => {
            let p = ExportTraceServiceResponse::decode(body)
                .ok()?
                .partial_success?;
            (p.rejected_spans.max(0) as u64, p.error_message)
        }
        #[cfg(feature = "otlp-json")]
        Encoding::Json => json_partial_success(body)?,
        #[cfg(not(feature = "otlp-json"))]
        Encoding::Json => return None,
    };
    (rejected > 0 || !message.is_empty()).then_some((rejected, message))
}

/// The partial success of an OTLP/JSON answer. Read field by field: OTLP/JSON writes a 64-bit
/// integer as a decimal string (the Collector does: `"rejectedSpans": "3"`) or a number, and
/// names fields in lowerCamelCase (snake_case is accepted too).
#[cfg(feature = "otlp-json")]
fn json_partial_success(body: &[u8]) -> Option<(u64, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let field = |o: &serde_json::Value, camel: &str, snake: &str| {
        o.get(camel).or_else(|| o.get(snake)).cloned()
    };
    let p = field(&v, "partialSuccess", "partial_success")?;
    let rejected = match field(&p, "rejectedSpans", "rejected_spans") {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    };
    let message = match field(&p, "errorMessage", "error_message") {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    Some((rejected, message))
}
