//! OTLP protobuf written straight from the span records: no intermediate `opentelemetry-proto`
//! messages (each attribute key and string value copied into a `String`, each id into a `Vec`,
//! then freed) and one buffer of the exact size. The bytes are those `prost` writes for the
//! request `opentelemetry-proto`'s transform builds (same fields, same order, defaults omitted
//! as proto3 does); a test compares the two byte for byte.
//!
//! Each message has a `*_len` function (its body's length, computed from the data) and a
//! `put_*` function (writes the body); a nested message is written as its tag, its length and
//! its body. Lengths are recomputed where a parent needs them, which is arithmetic on
//! lengths: cheaper than allocating.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::SpanRecord;
use opentelemetry::trace::{Link, SpanContext, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// Bytes of `v` as a varint (prost's formula).
#[inline]
fn varint_len(v: u64) -> usize {
    ((((v | 1).leading_zeros() ^ 63) * 9 + 73) / 64) as usize
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn key_len(field: u64) -> usize {
    varint_len(field << 3)
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(buf, (field << 3) | wire);
}

/// A length-delimited field of `len` body bytes, whole.
#[inline]
fn field_len(field: u64, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A string or bytes field, omitted when empty (proto3).
#[inline]
fn opt_bytes_len(field: u64, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        field_len(field, bytes.len())
    }
}

#[inline]
fn put_opt_bytes(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(buf, field, bytes);
    }
}

#[inline]
fn opt_varint_len(field: u64, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + varint_len(v)
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
fn opt_fixed64_len(field: u64, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + 8
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
fn opt_fixed32_len(field: u64, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + 4
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

/// One element of an array, as a value.
enum Item<'a> {
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(&'a str),
}

impl Item<'_> {
    /// The AnyValue body: the oneof's field is present even at its default.
    #[inline]
    fn len(&self) -> usize {
        match self {
            Item::Bool(_) => 2,
            Item::I64(v) => 1 + varint_len(*v as u64),
            Item::F64(_) => 9,
            Item::Str(s) => field_len(1, s.len()),
        }
    }

    #[inline]
    fn put(&self, buf: &mut Vec<u8>) {
        match self {
            Item::Bool(b) => {
                put_key(buf, 2, VARINT);
                buf.push(u8::from(*b));
            }
            Item::I64(v) => {
                put_key(buf, 3, VARINT);
                put_varint(buf, *v as u64);
            }
            Item::F64(v) => {
                put_key(buf, 4, FIXED64);
                buf.extend_from_slice(&v.to_le_bytes());
            }
            Item::Str(s) => put_bytes(buf, 1, s.as_bytes()),
        }
    }
}

/// Whether this encoder knows the array's element type (the enum is non-exhaustive; an unknown
/// one is written as its text, as an unknown value is).
fn known(a: &Array) -> bool {
    matches!(
        a,
        Array::Bool(_) | Array::I64(_) | Array::F64(_) | Array::String(_)
    )
}

/// The items of an array value.
fn items(a: &Array) -> Box<dyn Iterator<Item = Item<'_>> + '_> {
    match a {
        Array::Bool(v) => Box::new(v.iter().map(|b| Item::Bool(*b))),
        Array::I64(v) => Box::new(v.iter().map(|i| Item::I64(*i))),
        Array::F64(v) => Box::new(v.iter().map(|f| Item::F64(*f))),
        Array::String(v) => Box::new(v.iter().map(|s| Item::Str(s.as_str()))),
        _ => Box::new(std::iter::empty()),
    }
}

/// The ArrayValue body: each element an AnyValue in field 1.
fn array_len(a: &Array) -> usize {
    items(a).map(|i| field_len(1, i.len())).sum()
}

/// The AnyValue body of `v`.
#[inline]
fn any_len(v: &Value) -> usize {
    match v {
        Value::Bool(b) => Item::Bool(*b).len(),
        Value::I64(i) => Item::I64(*i).len(),
        Value::F64(f) => Item::F64(*f).len(),
        Value::String(s) => Item::Str(s.as_str()).len(),
        Value::Array(a) if known(a) => field_len(5, array_len(a)),
        // A kind this encoder does not know (the enum is non-exhaustive; none exists in the
        // opentelemetry version built with): an empty string.
        _ => field_len(1, 0),
    }
}

#[inline]
fn put_any(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => Item::Bool(*b).put(buf),
        Value::I64(i) => Item::I64(*i).put(buf),
        Value::F64(f) => Item::F64(*f).put(buf),
        Value::String(s) => Item::Str(s.as_str()).put(buf),
        Value::Array(a) if known(a) => {
            put_key(buf, 5, LEN);
            put_varint(buf, array_len(a) as u64);
            for i in items(a) {
                put_key(buf, 1, LEN);
                put_varint(buf, i.len() as u64);
                i.put(buf);
            }
        }
        _ => put_bytes(buf, 1, b""),
    }
}

/// The KeyValue body: the key (omitted when empty) and the value (always present).
#[inline]
fn kv_len(key: &str, v: &Value) -> usize {
    opt_bytes_len(1, key.as_bytes()) + field_len(2, any_len(v))
}

#[inline]
fn put_kv(buf: &mut Vec<u8>, key: &str, v: &Value) {
    put_opt_bytes(buf, 1, key.as_bytes());
    put_key(buf, 2, LEN);
    put_varint(buf, any_len(v) as u64);
    put_any(buf, v);
}

/// Repeated KeyValue in `field`.
fn attrs_len<'a>(field: u64, kvs: impl Iterator<Item = (&'a str, &'a Value)>) -> usize {
    kvs.map(|(k, v)| field_len(field, kv_len(k, v))).sum()
}

fn put_attrs<'a>(buf: &mut Vec<u8>, field: u64, kvs: impl Iterator<Item = (&'a str, &'a Value)>) {
    for (k, v) in kvs {
        put_key(buf, field, LEN);
        put_varint(buf, kv_len(k, v) as u64);
        put_kv(buf, k, v);
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

fn status_parts(s: &Status) -> (u64, &str) {
    match s {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description),
    }
}

fn status_len(s: &Status) -> usize {
    let (code, message) = status_parts(s);
    opt_bytes_len(2, message.as_bytes()) + opt_varint_len(3, code)
}

fn event_len(e: &opentelemetry::trace::Event) -> usize {
    opt_fixed64_len(1, nanos(e.timestamp))
        + opt_bytes_len(2, e.name.as_bytes())
        + attrs_len(3, pairs(&e.attributes))
        + opt_varint_len(4, u64::from(e.dropped_attributes_count))
}

fn put_event(buf: &mut Vec<u8>, e: &opentelemetry::trace::Event) {
    put_opt_fixed64(buf, 1, nanos(e.timestamp));
    put_opt_bytes(buf, 2, e.name.as_bytes());
    put_attrs(buf, 3, pairs(&e.attributes));
    put_opt_varint(buf, 4, u64::from(e.dropped_attributes_count));
}

fn link_len(l: &Link, state: &str) -> usize {
    field_len(1, 16)
        + field_len(2, 8)
        + opt_bytes_len(3, state.as_bytes())
        + attrs_len(4, pairs(&l.attributes))
        + opt_varint_len(5, u64::from(l.dropped_attributes_count))
        + opt_fixed32_len(6, flags(&l.span_context, l.span_context.is_remote()))
}

fn put_link(buf: &mut Vec<u8>, l: &Link, state: &str) {
    put_bytes(buf, 1, &l.span_context.trace_id().to_bytes());
    put_bytes(buf, 2, &l.span_context.span_id().to_bytes());
    put_opt_bytes(buf, 3, state.as_bytes());
    put_attrs(buf, 4, pairs(&l.attributes));
    put_opt_varint(buf, 5, u64::from(l.dropped_attributes_count));
    put_opt_fixed32(buf, 6, flags(&l.span_context, l.span_context.is_remote()));
}

/// What a span's encoding needs that is not a plain field: its trace state header (built
/// once; empty for almost every span) and its links' ones.
struct Prepared {
    state: String,
    link_states: Vec<String>,
}

impl Prepared {
    fn of(s: &SpanRecord) -> Prepared {
        let header = |sc: &SpanContext| {
            let ts = sc.trace_state();
            if *ts == opentelemetry::trace::TraceState::NONE {
                String::new()
            } else {
                ts.header()
            }
        };
        Prepared {
            state: header(&s.span_context),
            link_states: s.links.iter().map(|l| header(&l.span_context)).collect(),
        }
    }
}

fn span_len(s: &SpanRecord, p: &Prepared) -> usize {
    let parent = s.parent_span_id != opentelemetry::trace::SpanId::INVALID;
    field_len(1, 16)
        + field_len(2, 8)
        + opt_bytes_len(3, p.state.as_bytes())
        + if parent { field_len(4, 8) } else { 0 }
        + opt_bytes_len(5, s.name.as_bytes())
        + key_len(6)
        + 1
        + opt_fixed64_len(7, nanos(s.start_time))
        + opt_fixed64_len(8, nanos(s.end_time))
        + attrs_len(9, pairs(&s.attributes))
        + opt_varint_len(10, u64::from(s.dropped_attributes_count))
        + (s.events.iter())
            .map(|e| field_len(11, event_len(e)))
            .sum::<usize>()
        + opt_varint_len(12, u64::from(s.events.dropped_count))
        + (s.links.iter().zip(&p.link_states))
            .map(|(l, st)| field_len(13, link_len(l, st)))
            .sum::<usize>()
        + opt_varint_len(14, u64::from(s.links.dropped_count))
        + field_len(15, status_len(&s.status))
        + opt_fixed32_len(16, flags(&s.span_context, s.parent_span_is_remote))
}

fn put_span(buf: &mut Vec<u8>, s: &SpanRecord, p: &Prepared) {
    put_bytes(buf, 1, &s.span_context.trace_id().to_bytes());
    put_bytes(buf, 2, &s.span_context.span_id().to_bytes());
    put_opt_bytes(buf, 3, p.state.as_bytes());
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
        put_key(buf, 11, LEN);
        put_varint(buf, event_len(e) as u64);
        put_event(buf, e);
    }
    put_opt_varint(buf, 12, u64::from(s.events.dropped_count));
    for (l, st) in s.links.iter().zip(&p.link_states) {
        put_key(buf, 13, LEN);
        put_varint(buf, link_len(l, st) as u64);
        put_link(buf, l, st);
    }
    put_opt_varint(buf, 14, u64::from(s.links.dropped_count));
    put_key(buf, 15, LEN);
    put_varint(buf, status_len(&s.status) as u64);
    let (code, message) = status_parts(&s.status);
    put_opt_bytes(buf, 2, message.as_bytes());
    put_opt_varint(buf, 3, code);
    put_opt_fixed32(buf, 16, flags(&s.span_context, s.parent_span_is_remote));
}

// --- Scope, resource, request -------------------------------------------------------------

fn scope_len(s: &InstrumentationScope) -> usize {
    opt_bytes_len(1, s.name().as_bytes())
        + opt_bytes_len(2, s.version().unwrap_or_default().as_bytes())
        + attrs_len(3, s.attributes().map(|kv| (kv.key.as_str(), &kv.value)))
}

fn put_scope(buf: &mut Vec<u8>, s: &InstrumentationScope) {
    put_opt_bytes(buf, 1, s.name().as_bytes());
    put_opt_bytes(buf, 2, s.version().unwrap_or_default().as_bytes());
    put_attrs(
        buf,
        3,
        s.attributes().map(|kv| (kv.key.as_str(), &kv.value)),
    );
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
    let prepared: Vec<Prepared> = spans.iter().map(Prepared::of).collect();
    let lens: Vec<usize> = (spans.iter().zip(&prepared))
        .map(|(s, p)| span_len(s, p))
        .collect();
    let group_len = |scope: &InstrumentationScope, members: &[usize]| {
        field_len(1, scope_len(scope))
            + members
                .iter()
                .map(|i| field_len(2, lens[*i]))
                .sum::<usize>()
            + opt_bytes_len(3, scope.schema_url().unwrap_or_default().as_bytes())
    };
    let resource_attrs = || resource.iter().map(|(k, v)| (k.as_str(), v));
    let resource_len = attrs_len(1, resource_attrs());
    let schema = resource.schema_url().unwrap_or_default();
    let resource_spans_len = field_len(1, resource_len)
        + (groups.iter())
            .map(|(scope, m)| field_len(2, group_len(scope, m)))
            .sum::<usize>()
        + opt_bytes_len(3, schema.as_bytes());
    let total = field_len(1, resource_spans_len);

    let mut buf = Vec::with_capacity(total);
    put_key(&mut buf, 1, LEN);
    put_varint(&mut buf, resource_spans_len as u64);
    put_key(&mut buf, 1, LEN);
    put_varint(&mut buf, resource_len as u64);
    put_attrs(&mut buf, 1, resource_attrs());
    for (scope, members) in &groups {
        put_key(&mut buf, 2, LEN);
        put_varint(&mut buf, group_len(scope, members) as u64);
        put_key(&mut buf, 1, LEN);
        put_varint(&mut buf, scope_len(scope) as u64);
        put_scope(&mut buf, scope);
        for i in members {
            put_key(&mut buf, 2, LEN);
            put_varint(&mut buf, lens[*i] as u64);
            put_span(&mut buf, &spans[*i], &prepared[*i]);
        }
        put_opt_bytes(
            &mut buf,
            3,
            scope.schema_url().unwrap_or_default().as_bytes(),
        );
    }
    put_opt_bytes(&mut buf, 3, schema.as_bytes());
    debug_assert_eq!(buf.len(), total);
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
    /// use every field, every value type, two scopes (interleaved) and a resource with a schema.
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
