//! Zipkin v2 JSON (`POST /api/v2/spans`), as Zipkin's v2 API (`zipkin2-api.yaml`) defines it:
//! kind, local and remote endpoints, tags, annotations, shared flag and the `error` tag.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::SpanRecord;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::Resource;
use serde::Serialize;

/// A Zipkin endpoint.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct Endpoint {
    /// Lowercase service name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// IPv4 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// IPv6 address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A Zipkin annotation (an event).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct Annotation {
    /// Microseconds since the epoch.
    pub timestamp: u64,
    /// The event's name (and attributes, as JSON, when it has any).
    pub value: String,
}

/// One Zipkin v2 span.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct ZipkinSpan {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub id: String,
    /// The parent's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The operation name.
    pub name: String,
    /// CLIENT, SERVER, PRODUCER or CONSUMER; absent for internal spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Start, µs since the epoch.
    pub timestamp: u64,
    /// Duration, µs (at least 1).
    pub duration: u64,
    /// This service.
    pub local_endpoint: Endpoint,
    /// The peer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    /// Events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Attributes as strings, plus status tags.
    pub tags: BTreeMap<String, String>,
    /// A server span that continues a client's span id (never, here: crosstrace gives server
    /// spans their own ids), so always omitted unless true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_owned(),
        other => other.to_string(),
    }
}

fn remote_endpoint(span: &SpanRecord) -> Option<Endpoint> {
    if !matches!(span.span_kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    let get = |k: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| string(&kv.value))
    };
    let mut e = Endpoint {
        service_name: get("peer.service").map(|s| s.to_lowercase()),
        ..Endpoint::default()
    };
    if let Some(addr) = get("server.address").or_else(|| get("net.peer.name")) {
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => e.ipv4 = Some(ip.to_string()),
            Ok(IpAddr::V6(ip)) => e.ipv6 = Some(ip.to_string()),
            Err(_) if e.service_name.is_none() => e.service_name = Some(addr.to_lowercase()),
            Err(_) => {}
        }
    }
    e.port = get("server.port").and_then(|p| p.parse().ok());
    (e != Endpoint::default()).then_some(e)
}

/// Converts one span.
pub(super) fn span(span: &SpanRecord, local: &Endpoint) -> ZipkinSpan {
    let mut tags: BTreeMap<String, String> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), string(&kv.value)))
        .collect();
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tags.insert("otel.status_code".into(), "OK".into());
        }
        Status::Error { description } => {
            tags.insert("otel.status_code".into(), "ERROR".into());
            let d = if description.is_empty() {
                "true".to_owned()
            } else {
                description.to_string()
            };
            tags.insert("error".into(), d);
        }
    }
    tags.insert(
        "otel.scope.name".into(),
        span.instrumentation_scope.name().to_owned(),
    );
    let start = micros(span.start_time);
    ZipkinSpan {
        trace_id: span.span_context.trace_id().to_string(),
        id: span.span_context.span_id().to_string(),
        parent_id: (span.parent_span_id != SpanId::INVALID)
            .then(|| span.parent_span_id.to_string()),
        name: span.name.to_string(),
        kind: match span.span_kind {
            SpanKind::Internal => None,
            SpanKind::Server => Some("SERVER"),
            SpanKind::Client => Some("CLIENT"),
            SpanKind::Producer => Some("PRODUCER"),
            SpanKind::Consumer => Some("CONSUMER"),
        },
        timestamp: start,
        duration: micros(span.end_time).saturating_sub(start).max(1),
        local_endpoint: local.clone(),
        remote_endpoint: remote_endpoint(span),
        annotations: span
            .events
            .events
            .iter()
            .map(|e| Annotation {
                timestamp: micros(e.timestamp),
                value: if e.attributes.is_empty() {
                    e.name.to_string()
                } else {
                    let attrs: BTreeMap<String, String> = e
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.to_string(), string(&kv.value)))
                        .collect();
                    format!(
                        "{} {}",
                        e.name,
                        serde_json::to_string(&attrs).unwrap_or_default()
                    )
                },
            })
            .collect(),
        tags,
        shared: false,
    }
}

/// A batch of Zipkin spans.
#[derive(Debug, Clone)]
pub(super) struct Batch(pub Vec<ZipkinSpan>);

impl Batch {
    /// Converts spans of one service (`service.name` of `resource`, lowercased as Zipkin
    /// wants).
    pub(super) fn new(spans: &[SpanRecord], resource: &Resource) -> Batch {
        let service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string().to_lowercase());
        let local = Endpoint {
            service_name: service,
            ..Endpoint::default()
        };
        Batch(spans.iter().map(|s| span(s, &local)).collect())
    }

    /// Spans in the batch.
    pub(super) fn span_count(&self) -> usize {
        self.0.len()
    }

    /// The JSON body.
    pub(super) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    /// Two halves; `None` for one span or fewer.
    pub(super) fn split(mut self) -> Option<(Batch, Batch)> {
        if self.0.len() < 2 {
            return None;
        }
        let right = self.0.split_off(self.0.len() / 2);
        Some((self, Batch(right)))
    }
}
