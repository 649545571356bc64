//! Propagation: W3C tracecontext and baggage, B3 (single and multi header), Jaeger, and the
//! `X-Correlation-ID` header, over one small [`Carrier`] trait.
//!
//! Extraction never fails: a malformed, oversized or missing header contributes nothing. When
//! several formats carry a parent, the first configured propagator that yields a valid one wins
//! (so with the default order `tracecontext` is preferred over `b3` and `jaeger`). Baggage from
//! `baggage` and `uberctx-*` is merged; correlation fields are lifted out of it.

mod b3;
mod jaeger;
mod w3c;

use std::collections::{BTreeMap, HashMap};

use opentelemetry::trace::SpanContext;

use crate::config::PropagatorKind;
use crate::context::{correlation, Context, Correlation};

/// String key/value storage that headers are read from and written to. Keys are written in
/// lowercase; `get` should match case-insensitively when the storage can (HTTP headers).
pub trait Carrier {
    /// The value of `key`, if present.
    fn get(&self, key: &str) -> Option<&str>;
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
    /// All keys (needed only for prefixed keys such as `uberctx-*`).
    fn keys(&self) -> Vec<&str>;
}

fn find_ci<'a, I>(iter: I, key: &str) -> Option<&'a str>
where
    I: Iterator<Item = (&'a String, &'a String)>,
{
    let mut fallback = None;
    for (k, v) in iter {
        if k == key {
            return Some(v.as_str());
        }
        if fallback.is_none() && k.eq_ignore_ascii_case(key) {
            fallback = Some(v.as_str());
        }
    }
    fallback
}

impl<S: std::hash::BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key)
            .map(String::as_str)
            .or_else(|| find_ci(self.iter(), key))
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key)
            .map(String::as_str)
            .or_else(|| find_ci(self.iter(), key))
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

impl Carrier for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        find_ci(self.iter().map(|(k, v)| (k, v)), key)
    }
    fn set(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }
    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// What one format extracted.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    pub span: Option<SpanContext>,
    pub baggage: Vec<(String, String)>,
}

/// The configured propagators, composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagators {
    kinds: Vec<PropagatorKind>,
}

impl Propagators {
    /// Composes the given formats, in order.
    pub fn new(kinds: &[PropagatorKind]) -> Self {
        Propagators {
            kinds: kinds.to_vec(),
        }
    }

    /// The formats, in order.
    pub fn kinds(&self) -> &[PropagatorKind] {
        &self.kinds
    }

    /// Every header name these propagators may write (besides `uberctx-*`).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for k in &self.kinds {
            out.extend_from_slice(match k {
                PropagatorKind::TraceContext => &["traceparent", "tracestate"][..],
                PropagatorKind::Baggage => &["baggage"][..],
                PropagatorKind::B3 => &["b3"][..],
                PropagatorKind::B3Multi => &["x-b3-traceid", "x-b3-spanid", "x-b3-sampled"][..],
                PropagatorKind::Jaeger => &["uber-trace-id"][..],
            });
        }
        out.push(correlation::HEADER);
        out
    }

    /// Every header name extraction may read (besides `uberctx-*`), for carriers that can only
    /// be asked for named headers.
    pub fn extract_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for k in &self.kinds {
            out.extend_from_slice(match k {
                PropagatorKind::TraceContext => &["traceparent", "tracestate"][..],
                PropagatorKind::Baggage => &["baggage"][..],
                PropagatorKind::B3 | PropagatorKind::B3Multi => &[
                    "b3",
                    "x-b3-traceid",
                    "x-b3-spanid",
                    "x-b3-sampled",
                    "x-b3-flags",
                ][..],
                PropagatorKind::Jaeger => &["uber-trace-id"][..],
            });
        }
        out.push(correlation::HEADER);
        out.dedup();
        out
    }

    /// Writes `cx` into `carrier` in every configured format, plus `x-correlation-id` when `cx`
    /// carries a correlation.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Carrier) {
        let span = cx.span_context().filter(|s| s.is_valid());
        let mut baggage: Vec<(String, String)> = cx.baggage().to_vec();
        if let Some(c) = cx.correlation() {
            baggage.extend(c.baggage_entries());
            carrier.set(correlation::HEADER, c.id().to_owned());
        }
        for kind in &self.kinds {
            match (kind, span) {
                (PropagatorKind::TraceContext, Some(s)) => w3c::inject_traceparent(s, carrier),
                (PropagatorKind::Baggage, _) => w3c::inject_baggage(&baggage, carrier),
                (PropagatorKind::B3, Some(s)) => b3::inject_single(s, carrier),
                (PropagatorKind::B3Multi, Some(s)) => b3::inject_multi(s, carrier),
                (PropagatorKind::Jaeger, Some(s)) => jaeger::inject(s, &baggage, carrier),
                _ => {}
            }
        }
    }

    /// Reads a context from `carrier`. Never fails; see the module docs for precedence.
    pub fn extract(&self, carrier: &dyn Carrier) -> Context {
        let mut span = None;
        let mut baggage: Vec<(String, String)> = Vec::new();
        for kind in &self.kinds {
            let got = match kind {
                PropagatorKind::TraceContext => w3c::extract_traceparent(carrier),
                PropagatorKind::Baggage => w3c::extract_baggage(carrier),
                PropagatorKind::B3 | PropagatorKind::B3Multi => b3::extract(carrier),
                PropagatorKind::Jaeger => jaeger::extract(carrier),
            };
            if span.is_none() {
                span = got.span;
            }
            for (k, v) in got.baggage {
                if !baggage.iter().any(|(bk, _)| *bk == k) {
                    baggage.push((k, v));
                }
            }
        }
        let header_id = carrier.get(correlation::HEADER).map(str::trim);
        let (correlation, rest) = Correlation::from_baggage(baggage, header_id);
        Context::from_parts(span, rest, correlation)
    }
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}
