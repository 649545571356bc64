//! Propagation: W3C tracecontext and baggage, B3 (single and multi header), Jaeger, and the
//! `X-Correlation-ID` header, over one small [`Carrier`] trait.
//!
//! Extraction never fails: a malformed, oversized or missing header contributes nothing. When
//! several formats carry a parent, the first configured propagator that yields a valid one wins
//! (so with the default order `tracecontext` is preferred over `b3` and `jaeger`). Baggage from
//! `baggage` and `uberctx-*` is merged (a key that differs only in case is one key: Jaeger
//! lowercases what W3C keeps) within the W3C limits; correlation fields are lifted out of it.
//!
//! A header received on several lines: `tracestate` and `baggage` lines are one list, combined
//! in order (RFC 9110 §5.3); two `traceparent` lines make it invalid (a new trace); for B3,
//! Jaeger and `x-correlation-id` the first line counts.
//!
//! B3 and Jaeger are features (`propagator-b3`, `propagator-jaeger`, default on): a build
//! without them never sees those kinds, which the config refuses (see
//! [`PropagatorKind::is_built`]).

#[cfg(feature = "propagator-b3")]
mod b3;
#[cfg(feature = "propagator-jaeger")]
mod jaeger;
mod w3c;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::config::PropagatorKind;
use crate::context::{correlation, Context, Correlation, Propagated};
use crate::error::{Error, Result};

pub(crate) use w3c::{parse_tracestate, sdk_trace_state, RANDOM};

/// String key/value storage that headers are read from and written to. Keys are written in
/// lowercase; header names match case-insensitively.
pub trait Carrier {
    /// The value of `key` (the first line, for a header received on several).
    fn get(&self, key: &str) -> Option<&str>;
    /// Every line of `key`, in the order received. The default, for storage that holds one
    /// value per name (a map; or one that joined repeated lines with `,`, which is equivalent):
    /// [`Carrier::get`]'s.
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.get(key).into_iter().collect()
    }
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
    /// All keys (needed only for prefixed keys such as `uberctx-*`).
    fn keys(&self) -> Vec<&str>;
}

/// The value of a header that holds one value with no comma in it (`b3`, the `x-b3-*` headers,
/// `uber-trace-id`, `x-correlation-id`), trimmed: its first line, and of that what comes before
/// a `,`. A carrier that joined repeated lines with `,` (Node's and fetch's `Headers`,
/// `requests`, a C getter as its header says) holds them as one value: the first one counts,
/// as with separate lines.
pub(crate) fn first_value<'a>(carrier: &'a dyn Carrier, key: &str) -> Option<&'a str> {
    let v = carrier.get(key)?;
    Some(v.split(',').next().unwrap_or(v).trim())
}

/// The values of every key that equals `key` ignoring ASCII case: the exact key first, then the
/// others sorted by key (a map's order is not the order received).
fn map_all<'a, I>(iter: I, key: &str) -> Vec<&'a str>
where
    I: Iterator<Item = (&'a String, &'a String)>,
{
    let mut found: Vec<(&String, &String)> =
        iter.filter(|(k, _)| k.eq_ignore_ascii_case(key)).collect();
    crate::sort::sort_by(&mut found, |a, b| (a.0 != key, a.0).cmp(&(b.0 != key, b.0)));
    found.into_iter().map(|(_, v)| v.as_str()).collect()
}

impl<S: std::hash::BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key)
            .map(String::as_str)
            .or_else(|| map_all(self.iter(), key).first().copied())
    }
    fn get_all(&self, key: &str) -> Vec<&str> {
        map_all(self.iter(), key)
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
            .or_else(|| map_all(self.iter(), key).first().copied())
    }
    fn get_all(&self, key: &str) -> Vec<&str> {
        map_all(self.iter(), key)
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

/// Header lines in the order received; a name may repeat, in any case.
impl Carrier for Vec<(String, String)> {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn set(&mut self, key: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        self.push((key.to_owned(), value));
    }
    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// The lines of a list-valued header combined into one value (RFC 9110 §5.3); `None` without
/// any.
fn combined(carrier: &dyn Carrier, key: &str) -> Option<String> {
    let lines = carrier.get_all(key);
    (!lines.is_empty()).then(|| lines.join(","))
}

/// What one format extracted.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    pub span: Option<SpanContext>,
    /// `tracestate`, validated (with `span`).
    pub trace_state: Option<Arc<str>>,
    /// A B3 or Jaeger debug flag (with `span`).
    pub debug: bool,
    pub baggage: Vec<(String, String)>,
    /// Whether baggage keys came lowercased (Jaeger): then a key that differs only in case from
    /// one already taken is that key.
    pub folded_case: bool,
    /// Entries left out at the limits.
    pub dropped: u64,
}

/// The configured propagators, composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagators {
    kinds: Vec<PropagatorKind>,
}

impl Propagators {
    /// Composes the given formats, in order; those this build leaves out (see
    /// [`PropagatorKind::is_built`], which a config's validation refuses) are left out here too,
    /// so that [`Propagators::fields`] names only headers that can be written.
    pub fn new(kinds: &[PropagatorKind]) -> Self {
        Propagators {
            kinds: kinds.iter().copied().filter(|k| k.is_built()).collect(),
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
                PropagatorKind::B3Multi => {
                    &["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"][..]
                }
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
        // Each once (b3 and b3multi read the same headers).
        let mut once = Vec::with_capacity(out.len());
        for f in out {
            if !once.contains(&f) {
                once.push(f);
            }
        }
        once
    }

    /// Writes `cx` into `carrier` in every configured format, plus `x-correlation-id` when `cx`
    /// carries a correlation.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Carrier) {
        self.inject_counted(cx, carrier);
    }

    /// [`Propagators::inject`], returning how many baggage entries were left out at the W3C
    /// limits (per format that writes baggage).
    pub(crate) fn inject_counted(&self, cx: &Context, carrier: &mut dyn Carrier) -> u64 {
        let span = cx.span_context().filter(|s| s.is_valid());
        let mut baggage: Vec<(String, String)> = cx.baggage().to_vec();
        if let Some(c) = cx.correlation() {
            // The correlation's entries replace baggage entries of the same keys.
            baggage.retain(|(k, _)| !c.attributes().iter().any(|kv| kv.key.as_str() == k));
            baggage.extend(c.baggage_entries());
            carrier.set(correlation::HEADER, c.id().to_owned());
        }
        let mut dropped = 0;
        for kind in &self.kinds {
            match (kind, span) {
                (PropagatorKind::TraceContext, Some(s)) => {
                    w3c::inject_traceparent(s, cx.trace_state_header().as_deref(), carrier)
                }
                (PropagatorKind::Baggage, _) => dropped += w3c::inject_baggage(&baggage, carrier),
                #[cfg(feature = "propagator-b3")]
                (PropagatorKind::B3, Some(s)) => b3::inject_single(s, cx.debug(), carrier),
                #[cfg(feature = "propagator-b3")]
                (PropagatorKind::B3Multi, Some(s)) => b3::inject_multi(s, cx.debug(), carrier),
                #[cfg(feature = "propagator-jaeger")]
                (PropagatorKind::Jaeger, Some(s)) => {
                    dropped += jaeger::inject(s, cx.debug(), &baggage, carrier)
                }
                // No span to write; or a kind not in this build, which the config refuses.
                _ => {}
            }
        }
        dropped
    }

    /// Reads a context from `carrier`. Never fails; see the module docs for precedence.
    pub fn extract(&self, carrier: &dyn Carrier) -> Context {
        self.extract_counted(carrier).0
    }

    /// [`Propagators::extract`], with how many baggage entries were left out at the limits.
    pub(crate) fn extract_counted(&self, carrier: &dyn Carrier) -> (Context, u64) {
        let mut parent: Option<Extracted> = None;
        let mut baggage = w3c::BaggageBudget::default();
        let mut dropped = 0;
        for kind in &self.kinds {
            let mut got = match kind {
                PropagatorKind::TraceContext => w3c::extract_traceparent(carrier),
                PropagatorKind::Baggage => w3c::extract_baggage(carrier),
                #[cfg(feature = "propagator-b3")]
                PropagatorKind::B3 | PropagatorKind::B3Multi => b3::extract(carrier),
                #[cfg(feature = "propagator-jaeger")]
                PropagatorKind::Jaeger => jaeger::extract(carrier),
                // Not in this build: the config refuses it.
                #[allow(unreachable_patterns)]
                _ => Extracted::default(),
            };
            dropped += got.dropped;
            // The merged baggage keeps to the limits of one header too: a source that would
            // pass them is left out whole, as an oversized header is.
            let entries = std::mem::take(&mut got.baggage);
            dropped += baggage.take_all(entries, got.folded_case);
            if parent.is_none() && got.span.is_some() {
                parent = Some(got);
            }
        }
        let header_id = first_value(carrier, correlation::HEADER);
        let (correlation, rest, left_out) =
            Correlation::from_baggage(baggage.into_entries(), header_id);
        dropped += left_out;
        let (span, propagated) = match parent {
            Some(p) => {
                let span = p.span;
                let propagated = span
                    .as_ref()
                    .filter(|_| p.trace_state.is_some() || p.debug)
                    .map(|s| Propagated {
                        trace_id: s.trace_id(),
                        trace_state: p.trace_state,
                        debug: p.debug,
                    });
                (span, propagated)
            }
            None => (None, None),
        };
        (
            Context::from_parts(span, rest, correlation, propagated),
            dropped,
        )
    }
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(feature = "propagator-jaeger")]
pub(crate) fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks that a parsed hex id pair is valid (for bindings that accept ids as strings).
pub fn parse_span_context(trace_id: &str, span_id: &str, sampled: bool) -> Result<SpanContext> {
    let bad = |argument, value: &str, expected| Error::InvalidArgument {
        argument,
        value: value.to_owned(),
        expected,
    };
    let t = (trace_id.len() == 32 && is_lower_hex(trace_id))
        .then(|| TraceId::from_hex(trace_id).ok())
        .flatten()
        .filter(|t| *t != TraceId::INVALID)
        .ok_or_else(|| {
            bad(
                "trace_id",
                trace_id,
                "32 lowercase hex digits, not all zero",
            )
        })?;
    let s = (span_id.len() == 16 && is_lower_hex(span_id))
        .then(|| SpanId::from_hex(span_id).ok())
        .flatten()
        .filter(|s| *s != SpanId::INVALID)
        .ok_or_else(|| bad("span_id", span_id, "16 lowercase hex digits, not all zero"))?;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Ok(SpanContext::new(t, s, flags, true, TraceState::NONE))
}

impl Context {
    /// A copy whose parent's trace carries `trace_state` (a `tracestate` header, parsed by the
    /// W3C rules; an invalid one is dropped whole) and `debug`. Without a parent, unchanged.
    pub fn with_propagated(&self, trace_state: Option<&str>, debug: bool) -> Context {
        self.with_trace_state(trace_state.and_then(parse_tracestate), debug)
    }
}
