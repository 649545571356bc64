//! Spans: integer handles into a slab of live spans, attributes from JS values or their JSON
//! text, and the span calls.

use std::cell::RefCell;

use crosstrace::KeyValue;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use crate::context::Context;
use crate::{invalid, tracing};

/// Live spans, addressed from JS by integer handles: `index | generation << 20`. Handing JS a
/// wasm-bindgen object per span would register each with a FinalizationRegistry, and the
/// garbage collector's work on those cells dominated the cost of a span. A span leaves the table
/// when it ends; a stale handle (an ended span's) is refused. Past [`MAX_LIVE`] open spans, new
/// ones are not recorded (a program that never ends its spans cannot grow memory forever).
struct Slab {
    slots: Vec<(u32, Option<crosstrace::Span>)>,
    free: Vec<u32>,
}

const MAX_LIVE: usize = 1 << 20;
const INDEX_BITS: u32 = 20;

thread_local! {
    static SPANS: RefCell<Slab> = const { RefCell::new(Slab { slots: Vec::new(), free: Vec::new() }) };
}

fn insert_span(span: crosstrace::Span) -> u32 {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let index = match s.free.pop() {
            Some(i) => i,
            None if s.slots.len() < MAX_LIVE => {
                s.slots.push((0, None));
                (s.slots.len() - 1) as u32
            }
            None => return u32::MAX, // no room: the span is dropped (ended) right away
        };
        let slot = &mut s.slots[index as usize];
        slot.0 = (slot.0 + 1) & 0xfff;
        slot.1 = Some(span);
        index | (slot.0 << INDEX_BITS)
    })
}

/// Runs `f` on a live span; `None` for an ended or unknown handle.
fn with_span<R>(handle: u32, f: impl FnOnce(&mut crosstrace::Span) -> R) -> Option<R> {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let (generation, span) = s
            .slots
            .get_mut((handle & ((1 << INDEX_BITS) - 1)) as usize)?;
        if *generation != handle >> INDEX_BITS {
            return None;
        }
        span.as_mut().map(f)
    })
}

fn remove_span(handle: u32) -> Option<crosstrace::Span> {
    SPANS.with(|s| {
        let mut s = s.borrow_mut();
        let index = handle & ((1 << INDEX_BITS) - 1);
        let (generation, span) = s.slots.get_mut(index as usize)?;
        if *generation != handle >> INDEX_BITS {
            return None;
        }
        let span = span.take()?;
        s.free.push(index);
        Some(span)
    })
}

fn key_value(key: &str, value: &JsValue) -> Option<KeyValue> {
    let k = crosstrace::binding::intern::key(key);
    if let Some(s) = value.as_string() {
        Some(KeyValue::new(k, s))
    } else if let Some(b) = value.as_bool() {
        Some(KeyValue::new(k, b))
    } else if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            Some(KeyValue::new(k, n as i64))
        } else {
            Some(KeyValue::new(k, n))
        }
    } else if value.is_bigint() {
        i64::try_from(value.clone())
            .ok()
            .map(|i| KeyValue::new(k, i))
    } else {
        None
    }
}

/// Attributes from the JSON text `encodeAttributes` makes of a plain object, parsed straight
/// into key-values in the object's order: keys borrowed from the text (no copy unless escaped)
/// and interned, no intermediate JSON tree.
fn json_attributes(text: &str) -> Result<Vec<KeyValue>, JsValue> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    use std::borrow::Cow;

    struct Key<'de>(Cow<'de, str>);
    impl<'de> serde::Deserialize<'de> for Key<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a key")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(s)))
                }
                fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(s.to_owned())))
                }
            }
            d.deserialize_str(V)
        }
    }

    struct Val(crosstrace::Value);
    impl<'de> serde::Deserialize<'de> for Val {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Val;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string, number or boolean")
                }
                fn visit_str<E>(self, s: &str) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::from(s.to_owned())))
                }
                fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::Bool(b)))
                }
                fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::I64(i)))
                }
                fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
                    Ok(Val(i64::try_from(u).map_or(
                        crosstrace::Value::F64(u as f64),
                        crosstrace::Value::I64,
                    )))
                }
                fn visit_f64<E>(self, f: f64) -> Result<Val, E> {
                    Ok(Val(crosstrace::Value::F64(f)))
                }
            }
            d.deserialize_any(V)
        }
    }

    struct Attrs(Vec<KeyValue>);
    impl<'de> Visitor<'de> for &mut Attrs {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
                let Val(v) = m.next_value::<Val>()?;
                self.0
                    .push(KeyValue::new(crosstrace::binding::intern::key(&k), v));
            }
            Ok(())
        }
    }

    let mut out = Attrs(Vec::with_capacity(4));
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(&mut out)
        .and_then(|()| de.end())
        .map_err(|_| {
            invalid(
                "attributes",
                text,
                "an object of string, number, boolean or bigint values",
            )
        })?;
    Ok(out.0)
}

fn attributes(obj: &JsValue) -> Result<Vec<KeyValue>, JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(Vec::new());
    }
    if let Some(text) = obj.as_string() {
        return json_attributes(&text);
    }
    if !obj.is_object() {
        return Err(invalid(
            "attributes",
            &format!("{obj:?}"),
            "an object of string, number, boolean or bigint values",
        ));
    }
    let mut out = Vec::new();
    for entry in Object::entries(obj.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let value = pair.get(1);
        let kv = key_value(&key, &value).ok_or_else(|| {
            invalid(
                "attribute value",
                &key,
                "a string, number, boolean or bigint",
            )
        })?;
        out.push(kv);
    }
    Ok(out)
}

/// Sets an attribute (string, number, boolean or bigint) on a live span.
#[wasm_bindgen(js_name = spanSetAttribute)]
pub fn span_set_attribute(span: u32, key: &str, value: &JsValue) -> Result<(), JsValue> {
    let kv = key_value(key, value).ok_or_else(|| {
        invalid(
            "attribute value",
            key,
            "a string, number, boolean or bigint",
        )
    })?;
    with_span(span, |s| s.set_attribute(kv));
    Ok(())
}

/// Adds an event with attributes (an object, or its JSON).
#[wasm_bindgen(js_name = spanAddEvent)]
pub fn span_add_event(span: u32, name: &str, attrs: &JsValue) -> Result<(), JsValue> {
    let a = attributes(attrs)?;
    with_span(span, |s| {
        s.add_event(crosstrace::binding::intern::string(name), a)
    });
    Ok(())
}

/// Records an exception: an `exception` event and error status.
#[wasm_bindgen(js_name = spanRecordException)]
pub fn span_record_exception(span: u32, type_name: &str, message: &str, stack: Option<String>) {
    with_span(span, |s| {
        s.record_exception(type_name, message, stack.as_deref())
    });
}

/// Sets the status: `"ok"`, `"error"` (with a description) or `"unset"`.
#[wasm_bindgen(js_name = spanSetStatus)]
pub fn span_set_status(span: u32, code: &str, description: Option<String>) -> Result<(), JsValue> {
    let status = crosstrace::binding::span::parse_status(code, description)
        .ok_or_else(|| invalid("status", code, "\"ok\", \"error\" or \"unset\""))?;
    with_span(span, |s| s.set_status(status));
    Ok(())
}

/// Ends a span and releases its handle; ending again does nothing.
#[wasm_bindgen(js_name = spanEnd)]
pub fn span_end(span: u32) {
    if let Some(mut s) = remove_span(span) {
        s.end();
    }
}

fn epoch_millis(ms: f64) -> Result<std::time::SystemTime, JsValue> {
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(invalid(
            "time",
            &ms.to_string(),
            "milliseconds since the Unix epoch (a finite, non-negative number or a Date)",
        ));
    }
    // Whole milliseconds exactly (as `Date` gives them), the fraction to the nanosecond: an f64
    // of seconds since 1970 would lose tens of nanoseconds.
    let whole = ms.trunc();
    Ok(std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(whole as u64)
        + std::time::Duration::from_nanos(((ms - whole) * 1e6).round() as u64))
}

/// Ends a span at `end_ms` (ms since the Unix epoch, as `Date.now()`) and releases its handle.
#[wasm_bindgen(js_name = spanEndAt)]
pub fn span_end_at(span: u32, end_ms: f64) -> Result<(), JsValue> {
    let at = epoch_millis(end_ms)?;
    if let Some(mut s) = remove_span(span) {
        s.end_at(at);
    }
    Ok(())
}

/// Whether the span records (sampled, or measured for the span metrics; not ended).
#[wasm_bindgen(js_name = spanIsRecording)]
pub fn span_is_recording(span: u32) -> bool {
    with_span(span, |s| s.is_recording()).unwrap_or(false)
}

/// Whether the sampler kept the span's trace (its trace flags; false for an ended span).
#[wasm_bindgen(js_name = spanIsSampled)]
pub fn span_is_sampled(span: u32) -> bool {
    with_span(span, |s| s.span_context().is_sampled()).unwrap_or(false)
}

/// The trace and span ids, `"<32 hex>-<16 hex>"` (empty for an ended span).
#[wasm_bindgen(js_name = spanIds)]
pub fn span_ids(span: u32) -> String {
    with_span(span, |s| {
        format!("{}-{}", s.trace_id_hex(), s.span_id_hex())
    })
    .unwrap_or_default()
}

/// The context for children of a live span (an empty one for an ended span).
#[wasm_bindgen(js_name = spanContext)]
pub fn span_context(span: u32) -> Context {
    Context {
        inner: with_span(span, |s| s.context()).unwrap_or_default(),
    }
}

/// Starts a span of `kind` under `parent`.
#[wasm_bindgen(js_name = startSpan)]
pub fn start_span(
    name: &str,
    kind: u32,
    parent: &Context,
    attrs_json: Option<String>,
    attrs: &JsValue,
    start_ms: Option<f64>,
) -> Result<u32, JsValue> {
    // A number, not the kind's name: one string fewer to copy into wasm per span (index.js maps
    // the names and rejects unknown ones).
    let kind = crosstrace::binding::span::kind_from_number(kind).ok_or_else(|| {
        invalid(
            "kind",
            &kind.to_string(),
            "internal, server, client, producer or consumer",
        )
    })?;
    // The JSON text of plain attributes comes as a string argument (copied in with the
    // arguments, not fetched back from JS); other objects come as they are.
    let attrs = match attrs_json {
        Some(text) => json_attributes(&text)?,
        None => attributes(attrs)?,
    };
    let start = start_ms.map(epoch_millis).transpose()?;
    let t = tracing();
    let mut b = t
        .span(crosstrace::binding::intern::string(name))
        .kind(kind)
        .attributes(attrs)
        .parent_context(&parent.inner);
    if let Some(at) = start {
        b = b.start_time(at);
    }
    Ok(insert_span(b.start()))
}

/// Renames a live span (OpenTelemetry's `updateName`).
#[wasm_bindgen(js_name = spanUpdateName)]
pub fn span_update_name(span: u32, name: &str) {
    with_span(span, |s| {
        s.update_name(crosstrace::binding::intern::string(name))
    });
}

/// Links a live span to the span of `to` (a context from `extract` or a span's), with
/// attributes (an object, or its JSON). A context without a span adds nothing.
#[wasm_bindgen(js_name = spanAddLink)]
pub fn span_add_link(span: u32, to: &Context, attrs: &JsValue) -> Result<(), JsValue> {
    let a = attributes(attrs)?;
    if let Some(sc) = to.inner.span_context() {
        let link = crosstrace::Link::new(sc.clone(), a, 0);
        with_span(span, |s| s.add_link(link));
    }
    Ok(())
}
