//! Jaeger's `jaeger.thrift` `Batch`, encoded in the Thrift binary protocol, as Jaeger's collector
//! accepts it on `POST /api/traces` with `Content-Type: application/x-thrift`.
//!
//! ```text
//! struct Tag     { 1: string key, 2: TagType vType, 3: string vStr, 4: double vDouble,
//!                  5: bool vBool, 6: i64 vLong, 7: binary vBinary }
//! struct Log     { 1: i64 timestamp, 2: list<Tag> fields }
//! struct SpanRef { 1: SpanRefType refType, 2: i64 traceIdLow, 3: i64 traceIdHigh, 4: i64 spanId }
//! struct Span    { 1: i64 traceIdLow, 2: i64 traceIdHigh, 3: i64 spanId, 4: i64 parentSpanId,
//!                  5: string operationName, 6: list<SpanRef> references, 7: i32 flags,
//!                  8: i64 startTime, 9: i64 duration, 10: list<Tag> tags, 11: list<Log> logs }
//! struct Process { 1: string serviceName, 2: list<Tag> tags }
//! struct Batch   { 1: Process process, 2: list<Span> spans }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::SpanRecord;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::Resource;

const T_STOP: u8 = 0;
const T_BOOL: u8 = 2;
const T_DOUBLE: u8 = 4;
const T_I32: u8 = 8;
const T_I64: u8 = 10;
const T_STRING: u8 = 11;
const T_STRUCT: u8 = 12;
const T_LIST: u8 = 15;

const TAG_STRING: i32 = 0;
const TAG_DOUBLE: i32 = 1;
const TAG_BOOL: i32 = 2;
const TAG_LONG: i32 = 3;

const REF_CHILD_OF: i32 = 0;
const REF_FOLLOWS_FROM: i32 = 1;

/// A Thrift binary-protocol writer.
#[derive(Debug, Default)]
struct W(Vec<u8>);

impl W {
    fn field(&mut self, ty: u8, id: i16) {
        self.0.push(ty);
        self.0.extend_from_slice(&id.to_be_bytes());
    }
    fn stop(&mut self) {
        self.0.push(T_STOP);
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn string(&mut self, s: &str) {
        self.i32(s.len() as i32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn list(&mut self, elem: u8, len: usize) {
        self.0.push(elem);
        self.i32(len as i32);
    }
    fn field_i64(&mut self, id: i16, v: i64) {
        self.field(T_I64, id);
        self.i64(v);
    }
    fn field_i32(&mut self, id: i16, v: i32) {
        self.field(T_I32, id);
        self.i32(v);
    }
    fn field_string(&mut self, id: i16, s: &str) {
        self.field(T_STRING, id);
        self.string(s);
    }
}

/// A tag value, as Jaeger types them.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TagValue {
    /// vStr.
    Str(String),
    /// vDouble.
    Double(f64),
    /// vBool.
    Bool(bool),
    /// vLong.
    Long(i64),
}

fn tag_value(v: &Value) -> TagValue {
    match v {
        Value::Bool(b) => TagValue::Bool(*b),
        Value::I64(i) => TagValue::Long(*i),
        Value::F64(f) => TagValue::Double(*f),
        Value::String(s) => TagValue::Str(s.as_str().to_owned()),
        Value::Array(Array::String(_) | Array::Bool(_) | Array::I64(_) | Array::F64(_)) => {
            TagValue::Str(v.to_string())
        }
        other => TagValue::Str(other.to_string()),
    }
}

fn write_tag(w: &mut W, key: &str, value: &TagValue) {
    w.field_string(1, key);
    match value {
        TagValue::Str(s) => {
            w.field_i32(2, TAG_STRING);
            w.field_string(3, s);
        }
        TagValue::Double(d) => {
            w.field_i32(2, TAG_DOUBLE);
            w.field(T_DOUBLE, 4);
            w.0.extend_from_slice(&d.to_bits().to_be_bytes());
        }
        TagValue::Bool(b) => {
            w.field_i32(2, TAG_BOOL);
            w.field(T_BOOL, 5);
            w.0.push(u8::from(*b));
        }
        TagValue::Long(l) => {
            w.field_i32(2, TAG_LONG);
            w.field_i64(6, *l);
        }
    }
    w.stop();
}

fn write_tags(w: &mut W, id: i16, tags: &[(String, TagValue)]) {
    w.field(T_LIST, id);
    w.list(T_STRUCT, tags.len());
    for (k, v) in tags {
        write_tag(w, k, v);
    }
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn ids(trace: u128) -> (i64, i64) {
    ((trace as u64) as i64, ((trace >> 64) as u64) as i64)
}

fn span_id(s: SpanId) -> i64 {
    u64::from_be_bytes(s.to_bytes()) as i64
}

fn kind_tag(kind: &SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Internal => None,
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
    }
}

/// The tags Jaeger shows for a span: its attributes, then `span.kind`, status and scope.
pub(super) fn span_tags(span: &SpanRecord) -> Vec<(String, TagValue)> {
    let mut tags: Vec<(String, TagValue)> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), tag_value(&kv.value)))
        .collect();
    if let Some(k) = kind_tag(&span.span_kind) {
        tags.push(("span.kind".into(), TagValue::Str(k.into())));
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => tags.push(("otel.status_code".into(), TagValue::Str("OK".into()))),
        Status::Error { description } => {
            tags.push(("otel.status_code".into(), TagValue::Str("ERROR".into())));
            tags.push(("error".into(), TagValue::Bool(true)));
            if !description.is_empty() {
                tags.push((
                    "otel.status_description".into(),
                    TagValue::Str(description.to_string()),
                ));
            }
        }
    }
    tags.push((
        "otel.scope.name".into(),
        TagValue::Str(span.instrumentation_scope.name().to_owned()),
    ));
    if let Some(v) = span.instrumentation_scope.version() {
        tags.push(("otel.scope.version".into(), TagValue::Str(v.to_owned())));
    }
    if span.dropped_attributes_count > 0 {
        tags.push((
            "otel.dropped_attributes_count".into(),
            TagValue::Long(i64::from(span.dropped_attributes_count)),
        ));
    }
    tags
}

fn write_span(w: &mut W, span: &SpanRecord) {
    let (low, high) = ids(u128::from_be_bytes(span.span_context.trace_id().to_bytes()));
    w.field_i64(1, low);
    w.field_i64(2, high);
    w.field_i64(3, span_id(span.span_context.span_id()));
    w.field_i64(4, span_id(span.parent_span_id));
    w.field_string(5, &span.name);
    let mut refs: Vec<(i32, i64, i64, i64)> = Vec::new();
    if span.parent_span_id != SpanId::INVALID {
        refs.push((REF_CHILD_OF, low, high, span_id(span.parent_span_id)));
    }
    for link in span.links.links.iter() {
        let (l, h) = ids(u128::from_be_bytes(link.span_context.trace_id().to_bytes()));
        refs.push((REF_FOLLOWS_FROM, l, h, span_id(link.span_context.span_id())));
    }
    if !refs.is_empty() {
        w.field(T_LIST, 6);
        w.list(T_STRUCT, refs.len());
        for (ty, l, h, s) in refs {
            w.field_i32(1, ty);
            w.field_i64(2, l);
            w.field_i64(3, h);
            w.field_i64(4, s);
            w.stop();
        }
    }
    w.field_i32(7, i32::from(span.span_context.is_sampled()));
    let start = micros(span.start_time);
    w.field_i64(8, start);
    w.field_i64(9, (micros(span.end_time) - start).max(0));
    write_tags(w, 10, &span_tags(span));
    if !span.events.events.is_empty() {
        w.field(T_LIST, 11);
        w.list(T_STRUCT, span.events.events.len());
        for e in span.events.events.iter() {
            w.field_i64(1, micros(e.timestamp));
            let mut fields = vec![("event".to_owned(), TagValue::Str(e.name.to_string()))];
            fields.extend(
                e.attributes
                    .iter()
                    .map(|kv: &KeyValue| (kv.key.to_string(), tag_value(&kv.value))),
            );
            write_tags(w, 2, &fields);
            w.stop();
        }
    }
    w.stop();
}

/// The process (service) a batch comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Process {
    /// `service.name`.
    pub service_name: String,
    /// The other resource attributes.
    pub tags: Vec<(String, TagValue)>,
}

impl Process {
    /// From a resource: `service.name` and every other attribute as a tag.
    pub(super) fn from_resource(resource: &Resource) -> Process {
        let mut service_name = String::from("unknown_service");
        let mut tags = Vec::new();
        for (k, v) in resource.iter() {
            if k.as_str() == "service.name" {
                service_name = v.to_string();
            } else {
                tags.push((k.to_string(), tag_value(v)));
            }
        }
        crate::sort::sort_by(&mut tags, |a, b| a.0.cmp(&b.0));
        Process { service_name, tags }
    }
}

/// One `Batch`: a process and its spans.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    /// The process.
    pub process: Process,
    /// The spans.
    pub spans: crate::record::Batch,
}

impl Batch {
    /// Spans in the batch.
    pub(super) fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// The Thrift binary encoding.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(256 + self.spans.len() * 256));
        w.field(T_STRUCT, 1);
        w.field_string(1, &self.process.service_name);
        write_tags(&mut w, 2, &self.process.tags);
        w.stop();
        w.field(T_LIST, 2);
        w.list(T_STRUCT, self.spans.len());
        for s in &self.spans {
            write_span(&mut w, s);
        }
        w.stop();
        w.0
    }

    /// Two batches of about half the spans each; `None` for one span or fewer.
    pub(super) fn split(mut self) -> Option<(Batch, Batch)> {
        if self.spans.len() < 2 {
            return None;
        }
        let right = self.spans.split_off(self.spans.len() / 2);
        let process = self.process.clone();
        Some((
            self,
            Batch {
                process,
                spans: right,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_encode_in_thrift_binary() {
        let mut w = W::default();
        write_tag(&mut w, "k", &TagValue::Long(7));
        assert_eq!(
            w.0,
            [
                T_STRING, 0, 1, 0, 0, 0, 1, b'k', // 1: key
                T_I32, 0, 2, 0, 0, 0, 3, // 2: vType = LONG
                T_I64, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, // 6: vLong
                T_STOP,
            ]
        );
    }

    #[test]
    fn ids_split_into_low_and_high() {
        let (low, high) = ids(0x0102030405060708_1112131415161718);
        assert_eq!(high, 0x0102030405060708);
        assert_eq!(low, 0x1112131415161718);
    }
}
