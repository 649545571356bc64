//! OTLP encoding (protobuf or JSON) of a batch, with splitting for servers that answer 413.
//! No transport here: native code posts the bytes with reqwest, wasm with `fetch`.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message;

/// Whether this build can encode OTLP/JSON (the `otlp-json` feature).
pub const JSON_SUPPORTED: bool = cfg!(feature = "otlp-json");

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

/// One OTLP export request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request(pub ExportTraceServiceRequest);

impl Request {
    /// Groups `spans` by scope under `resource`.
    pub fn new(spans: Vec<SpanData>, resource: &Resource) -> Request {
        let resource = ResourceAttributesWithSchema::from(resource);
        Request(ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &resource),
        })
    }

    /// Spans in the request.
    pub fn span_count(&self) -> usize {
        self.0
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    /// The body bytes.
    pub fn encode(&self, encoding: Encoding) -> Vec<u8> {
        match encoding {
            Encoding::Protobuf => self.0.encode_to_vec(),
            #[cfg(feature = "otlp-json")]
            Encoding::Json => serde_json::to_vec(&self.0).unwrap_or_default(),
            #[cfg(not(feature = "otlp-json"))]
            Encoding::Json => Vec::new(),
        }
    }

    /// Splits into two requests of about half the spans each; `None` for one span or fewer.
    pub fn split(self) -> Option<(Request, Request)> {
        let total = self.span_count();
        if total < 2 {
            return None;
        }
        let mut left = self.0.clone();
        let mut right = self.0;
        let mut budget = total / 2;
        for (rl, rr) in left
            .resource_spans
            .iter_mut()
            .zip(right.resource_spans.iter_mut())
        {
            for (sl, sr) in rl.scope_spans.iter_mut().zip(rr.scope_spans.iter_mut()) {
                let take = budget.min(sl.spans.len());
                sl.spans.truncate(take);
                sr.spans.drain(..take);
                budget -= take;
            }
        }
        for req in [&mut left, &mut right] {
            for r in &mut req.resource_spans {
                r.scope_spans.retain(|s| !s.spans.is_empty());
            }
            req.resource_spans.retain(|r| !r.scope_spans.is_empty());
        }
        Some((Request(left), Request(right)))
    }
}

/// Rejected spans reported by an OTLP partial-success response, with the server's message.
pub fn partial_success(body: &[u8], encoding: Encoding) -> Option<(u64, String)> {
    if body.is_empty() {
        return None;
    }
    let response = match encoding {
        Encoding::Protobuf => ExportTraceServiceResponse::decode(body).ok()?,
        #[cfg(feature = "otlp-json")]
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceResponse>(body).ok()?,
        #[cfg(not(feature = "otlp-json"))]
        Encoding::Json => return None,
    };
    let p = response.partial_success?;
    (p.rejected_spans > 0 || !p.error_message.is_empty())
        .then(|| (p.rejected_spans.max(0) as u64, p.error_message))
}
