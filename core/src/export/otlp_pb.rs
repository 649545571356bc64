//! OTLP protobuf written straight from the span records: no intermediate `opentelemetry-proto`
//! messages (each attribute key and string value copied into a `String`, each id into a `Vec`,
//! then freed). The bytes are those `prost` writes for the request `opentelemetry-proto`'s
//! transform builds (same fields, same order, defaults omitted as proto3 does); a test compares
//! the two byte for byte.
//!
//! One pass: a nested message is written as its tag, a one-byte placeholder for its length
//! ([`begin`]) and its body; [`end`] writes the length, moving the body right when it needs
//! more than one byte (a body of 128 bytes or more: most spans, each scope's spans and the
//! resource's, a long value). Nothing is measured before it is written; a span's body moves
//! once (a few hundred bytes), the batch's twice, which costs less than measuring every
//! message first did.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::SpanRecord;
use opentelemetry::trace::{Link, SpanContext, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(buf, (field << 3) | wire);
}

/// Starts a nested message in `field`: its tag and a one-byte placeholder for its length.
/// Returns where its body starts, for [`end`].
#[inline]
fn begin(buf: &mut Vec<u8>, field: u64) -> usize {
    put_key(buf, field, LEN);
    buf.push(0);
    buf.len()
}

/// Ends the message whose body starts at `body`: writes its length before it.
#[inline]
fn end(buf: &mut Vec<u8>, body: usize) {
    let len = buf.len() - body;
    if len < 0x80 {
        buf[body - 1] = len as u8;
    } else {
        end_long(buf, body, len);
    }
}

/// [`end`] for a length that takes more than the placeholder's byte: the body moves right.
#[cold]
#[inline(never)]
fn end_long(buf: &mut Vec<u8>, body: usize, len: usize) {
    let (mut prefix, mut n, mut v) = ([0u8; 10], 0, len as u64);
    while v >= 0x80 {
        prefix[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    prefix[n] = v as u8;
    n += 1;
    buf.resize(buf.len() + n - 1, 0);
    buf.copy_within(body..body + len, body + n - 1);
    buf[body - 1..body - 1 + n].copy_from_slice(&prefix[..n]);
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A string or bytes field, omitted when empty (proto3).
#[inline]
fn put_opt_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(buf, field, bytes);
    }
}

#[inline]
fn put_opt_varint(buf: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_key(buf, field, VARINT);
        put_varint(buf, v);
    }
}

#[inline]
fn put_opt_fixed64(buf: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_key(buf, field, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn put_opt_fixed32(buf: &mut Vec<u8>, field: u64, v: u32) {
    if v != 0 {
        put_key(buf, field, FIXED32);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

// --- AnyValue, KeyValue -------------------------------------------------------------------

/// A scalar AnyValue's body: the oneof's field is present even at its default.
#[inline]
fn put_string(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, 1, s.as_bytes());
}

#[inline]
fn put_bool(buf: &mut Vec<u8>, b: bool) {
    put_key(buf, 2, VARINT);
    buf.push(u8::from(b));
}

#[inline]
fn put_i64(buf: &mut Vec<u8>, v: i64) {
    put_key(buf, 3, VARINT);
    put_varint(buf, v as u64);
}

#[inline]
fn put_f64(buf: &mut Vec<u8>, v: f64) {
    put_key(buf, 4, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// An ArrayValue (field 5 of AnyValue): each element an AnyValue in its field 1.
fn put_array<T>(buf: &mut Vec<u8>, items: &[T], put: fn(&mut Vec<u8>, &T)) {
    let array = begin(buf, 5);
    for item in items {
        let any = begin(buf, 1);
        put(buf, item);
        end(buf, any);
    }
    end(buf, array);
}

/// The AnyValue body of `v`.
fn put_any(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => put_bool(buf, *b),
        Value::I64(i) => put_i64(buf, *i),
        Value::F64(f) => put_f64(buf, *f),
        Value::String(s) => put_string(buf, s.as_str()),
        Value::Array(Array::Bool(a)) => put_array(buf, a, |buf, b| put_bool(buf, *b)),
        Value::Array(Array::I64(a)) => put_array(buf, a, |buf, i| put_i64(buf, *i)),
        Value::Array(Array::F64(a)) => put_array(buf, a, |buf, f| put_f64(buf, *f)),
        Value::Array(Array::String(a)) => put_array(buf, a, |buf, s| put_string(buf, s.as_str())),
        // A kind this encoder does not know (the enums are non-exhaustive; none exists in the
        // opentelemetry version built with): an empty string.
        _ => put_string(buf, ""),
    }
}

/// Repeated KeyValue in `field`: each the key (omitted when empty) and the value (always
/// present).
fn put_attrs<'a>(buf: &mut Vec<u8>, field: u64, kvs: impl Iterator<Item = (&'a str, &'a Value)>) {
    for (k, v) in kvs {
        let kv = begin(buf, field);
        put_opt_bytes(buf, 1, k.as_bytes());
        let any = begin(buf, 2);
        put_any(buf, v);
        end(buf, any);
        end(buf, kv);
    }
}

fn pairs(kvs: &[KeyValue]) -> impl Iterator<Item = (&str, &Value)> {
    kvs.iter().map(|kv| (kv.key.as_str(), &kv.value))
}

// --- Span ---------------------------------------------------------------------------------

fn kind_number(k: &SpanKind) -> u64 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `SpanFlags`: the W3C flags, and whether the parent is remote (known: 0x100; remote: 0x200).
fn flags(sc: &SpanContext, parent_remote: bool) -> u32 {
    u32::from(sc.trace_flags().to_u8()) | 0x100 | if parent_remote { 0x200 } else { 0 }
}

/// A span context's trace state header: empty for almost every span (not built then).
fn put_trace_state(buf: &mut Vec<u8>, field: u64, sc: &SpanContext) {
    let ts = sc.trace_state();
    if *ts != opentelemetry::trace::TraceState::NONE {
        put_opt_bytes(buf, field, ts.header().as_bytes());
    }
}

fn put_event(buf: &mut Vec<u8>, e: &opentelemetry::trace::Event) {
    let event = begin(buf, 11);
    put_opt_fixed64(buf, 1, nanos(e.timestamp));
    put_opt_bytes(buf, 2, e.name.as_bytes());
    put_attrs(buf, 3, pairs(&e.attributes));
    put_opt_varint(buf, 4, u64::from(e.dropped_attributes_count));
    end(buf, event);
}

fn put_link(buf: &mut Vec<u8>, l: &Link) {
    let link = begin(buf, 13);
    put_bytes(buf, 1, &l.span_context.trace_id().to_bytes());
    put_bytes(buf, 2, &l.span_context.span_id().to_bytes());
    put_trace_state(buf, 3, &l.span_context);
    put_attrs(buf, 4, pairs(&l.attributes));
    put_opt_varint(buf, 5, u64::from(l.dropped_attributes_count));
    put_opt_fixed32(buf, 6, flags(&l.span_context, l.span_context.is_remote()));
    end(buf, link);
}

fn put_span(buf: &mut Vec<u8>, s: &SpanRecord) {
    let span = begin(buf, 2);
    put_bytes(buf, 1, &s.span_context.trace_id().to_bytes());
    put_bytes(buf, 2, &s.span_context.span_id().to_bytes());
    put_trace_state(buf, 3, &s.span_context);
    if s.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        put_bytes(buf, 4, &s.parent_span_id.to_bytes());
    }
    put_opt_bytes(buf, 5, s.name.as_bytes());
    put_key(buf, 6, VARINT);
    put_varint(buf, kind_number(&s.span_kind));
    put_opt_fixed64(buf, 7, nanos(s.start_time));
    put_opt_fixed64(buf, 8, nanos(s.end_time));
    put_attrs(buf, 9, pairs(&s.attributes));
    put_opt_varint(buf, 10, u64::from(s.dropped_attributes_count));
    for e in s.events.iter() {
        put_event(buf, e);
    }
    put_opt_varint(buf, 12, u64::from(s.events.dropped_count));
    for l in s.links.iter() {
        put_link(buf, l);
    }
    put_opt_varint(buf, 14, u64::from(s.links.dropped_count));
    let status = begin(buf, 15);
    let (code, message) = match &s.status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, &description[..]),
    };
    put_opt_bytes(buf, 2, message.as_bytes());
    put_opt_varint(buf, 3, code);
    end(buf, status);
    put_opt_fixed32(buf, 16, flags(&s.span_context, s.parent_span_is_remote));
    end(buf, span);
}

// --- Scope, resource, request -------------------------------------------------------------

fn put_scope(buf: &mut Vec<u8>, s: &InstrumentationScope) {
    let scope = begin(buf, 1);
    put_opt_bytes(buf, 1, s.name().as_bytes());
    put_opt_bytes(buf, 2, s.version().unwrap_or_default().as_bytes());
    put_attrs(
        buf,
        3,
        s.attributes().map(|kv| (kv.key.as_str(), &kv.value)),
    );
    end(buf, scope);
}

/// Whether two scopes are equal, their attributes compared in order (scopes with the same
/// attributes in another order are told apart: each gets a ScopeSpans, which is valid).
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && a.attributes().eq(b.attributes())
}

/// The `ExportTraceServiceRequest` of `spans` under `resource`: one ResourceSpans, a
/// ScopeSpans per instrumentation scope in order of first appearance, spans in batch order.
pub(crate) fn encode(spans: &[SpanRecord], resource: &Resource) -> Vec<u8> {
    // Spans grouped by scope (almost always one group: compared with the last one first).
    let mut groups: Vec<(&InstrumentationScope, Vec<usize>)> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let scope = s.instrumentation_scope;
        // Scopes are interned: one scope, one pointer, but a record made by hand may hold an
        // equal scope elsewhere. Compared field by field, attributes in order: the scope's
        // `==` sorts both attribute lists (10 KiB of the browser build).
        match groups
            .iter_mut()
            .rev()
            .find(|(g, _)| std::ptr::eq(*g, scope) || same_scope(g, scope))
        {
            Some((_, members)) => members.push(i),
            None => groups.push((scope, vec![i])),
        }
    }
    // A first guess at the size (a span with a few attributes takes about 150 bytes).
    let mut buf = Vec::with_capacity(256 + 192 * spans.len());
    let resource_spans = begin(&mut buf, 1);
    let r = begin(&mut buf, 1);
    put_attrs(&mut buf, 1, resource.iter().map(|(k, v)| (k.as_str(), v)));
    end(&mut buf, r);
    for (scope, members) in &groups {
        let scope_spans = begin(&mut buf, 2);
        put_scope(&mut buf, scope);
        for i in members {
            put_span(&mut buf, &spans[*i]);
        }
        put_opt_bytes(
            &mut buf,
            3,
            scope.schema_url().unwrap_or_default().as_bytes(),
        );
        end(&mut buf, scope_spans);
    }
    let schema = resource.schema_url().unwrap_or_default();
    put_opt_bytes(&mut buf, 3, schema.as_bytes());
    end(&mut buf, resource_spans);
    buf
}

// The reference is opentelemetry-proto's transform, built with the `native` feature.
#[cfg(test)]
#[cfg(feature = "native")]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::{Event, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{KeyValue, StringValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;
    use crate::export::otlp_proto::Request;

    fn sc(t: u128, s: u64, sampled: bool, remote: bool, state: TraceState) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(TraceId::from(t), SpanId::from(s), flags, remote, state)
    }

    fn every_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("s", "berlin-01"),
            KeyValue::new("empty", ""),
            KeyValue::new("", "empty key"),
            KeyValue::new("b", false),
            KeyValue::new("t", true),
            KeyValue::new("i", 0_i64),
            KeyValue::new("neg", -42_i64),
            KeyValue::new("big", i64::MAX),
            KeyValue::new("f", 0.0_f64),
            KeyValue::new("pi", std::f64::consts::PI),
            KeyValue::new("long", "x".repeat(300)),
            KeyValue::new("ab", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ai", Value::Array(Array::I64(vec![0, -1, 1 << 40]))),
            KeyValue::new("af", Value::Array(Array::F64(vec![1.5, -0.0]))),
            KeyValue::new(
                "as",
                Value::Array(Array::String(vec![
                    StringValue::from("a"),
                    StringValue::from(""),
                ])),
            ),
            KeyValue::new("ae", Value::Array(Array::I64(vec![]))),
        ]
    }

    fn spans() -> crate::record::Batch {
        let t0 = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let state = TraceState::from_key_value([("vendor", "v1"), ("other", "x")]).unwrap();
        let crosstrace: &'static InstrumentationScope = Box::leak(Box::new(
            InstrumentationScope::builder("crosstrace")
                .with_version("1.2.3")
                .build(),
        ));
        let other: &'static InstrumentationScope = Box::leak(Box::new(
            InstrumentationScope::builder("opentelemetry.instrumentation.requests")
                .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
                .with_attributes([KeyValue::new("scope.attr", 7_i64)])
                .build(),
        ));
        let base = SpanRecord {
            span_context: sc(1, 2, true, false, TraceState::NONE),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "checkout".into(),
            start_time: t0,
            end_time: t0 + Duration::from_micros(1500),
            attributes: vec![KeyValue::new("order.id", 12345_i64)],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: crosstrace,
        };
        let mut all = base.clone();
        all.span_context = sc(u128::MAX - 5, u64::MAX, false, false, state.clone());
        all.parent_span_id = SpanId::from(99);
        all.parent_span_is_remote = true;
        all.span_kind = SpanKind::Server;
        all.attributes = every_value();
        all.dropped_attributes_count = 3;
        all.events.events = vec![
            Event::new("exception", t0, every_value(), 2),
            Event::new("", UNIX_EPOCH, vec![], 0),
        ];
        all.events.dropped_count = 4;
        all.links.links = vec![
            Link::new(
                sc(7, 8, true, true, state),
                vec![KeyValue::new("l", 1_i64)],
                1,
            ),
            Link::new(sc(9, 10, false, false, TraceState::NONE), vec![], 0),
        ];
        all.links.dropped_count = 5;
        all.status = Status::error("payment declined: ünïcödé");
        let mut ok = base.clone();
        ok.status = Status::Ok;
        ok.span_kind = SpanKind::Client;
        ok.instrumentation_scope = other;
        let mut bare = base.clone();
        bare.name = "".into();
        bare.attributes.clear();
        bare.start_time = UNIX_EPOCH;
        bare.end_time = UNIX_EPOCH;
        bare.span_kind = SpanKind::Consumer;
        let mut producer = base.clone();
        producer.span_kind = SpanKind::Producer;
        producer.status = Status::error("");
        [base, all, ok, bare, producer].into_iter().collect()
    }

    /// The bytes are exactly those prost writes for the transform's request, for spans that
    /// use every field, every value type, two scopes (interleaved), a resource with a schema, and
    /// lengths of one, two and three bytes.
    #[test]
    fn bytes_are_the_transform_and_prost_ones() {
        let resource = Resource::builder_empty()
            .with_schema_url(
                [
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.version", "1.0.0"),
                    KeyValue::new("deployment.environment", "test"),
                ],
                "https://opentelemetry.io/schemas/1.26.0",
            )
            .build();
        let plain = Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "x"))
            .build();
        let spans = spans();
        for (batch, resource) in [
            (spans.clone(), &resource),
            (spans[..1].to_vec(), &plain),
            (vec![], &plain),
            (
                // Lengths of three bytes (a value, its span, the request: bodies moved right).
                vec![{
                    let mut s = spans[0].clone();
                    s.attributes.push(KeyValue::new("big", "y".repeat(20_000)));
                    s
                }],
                &plain,
            ),
            (
                // Scopes interleaved: grouped in order of first appearance, batch order kept.
                vec![
                    spans[0].clone(),
                    spans[2].clone(),
                    spans[1].clone(),
                    spans[2].clone(),
                ],
                &resource,
            ),
            (
                // An equal scope behind another pointer (a record made by hand): one group.
                vec![spans[2].clone(), {
                    let mut s = spans[2].clone();
                    s.instrumentation_scope = Box::leak(Box::new(s.instrumentation_scope.clone()));
                    s
                }],
                &resource,
            ),
        ] {
            let ours = encode(&batch, resource);
            let theirs = Request::new(batch.clone(), resource)
                .into_proto()
                .encode_to_vec();
            assert_eq!(ours, theirs, "{} spans", batch.len());
        }
    }
}
