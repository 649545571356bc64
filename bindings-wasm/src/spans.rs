//! Spans: integer handles into a slab of live spans, attributes packed by core.js or read from
//! JS objects, and the span calls.

use std::cell::RefCell;

use crosstrace::KeyValue;
use js_sys::Array;
use wasm_bindgen::prelude::*;

use crate::context::Context;
use crate::{entries, invalid, tracing};

/// Live spans, addressed from JS by integer handles: `index | generation << 20`. Handing JS a
/// wasm-bindgen object per span would register each with a FinalizationRegistry, and the
/// garbage collector's work on those cells dominated the cost of a span. A span leaves the table
/// when it ends; a stale handle (an ended span's) is refused until its slot's 12-bit generation
/// comes round again (4096 reuses), so core.js's `Span` lets go of its handle when it ends
/// (`u32::MAX`, an index no slot has). Past [`MAX_LIVE`] open spans, new ones are not recorded
/// (a program that never ends its spans cannot grow memory forever).
struct Slab {
    slots: Vec<(u32, Option<crosstrace::Span>)>,
    free: Vec<u32>,
}

/// Two below the index space: no live handle is ever [`START_FAILED`] (or `u32::MAX`).
const MAX_LIVE: usize = (1 << 20) - 2;
const INDEX_BITS: u32 = 20;

thread_local! {
    static SPANS: RefCell<Slab> = const { RefCell::new(Slab { slots: Vec::new(), free: Vec::new() }) };
    /// Attribute keys and span names JS has interned, by the index it refers to them with.
    static KEYS: RefCell<Vec<crosstrace::Key>> = const { RefCell::new(Vec::new()) };
    static NAMES: RefCell<Vec<std::borrow::Cow<'static, str>>> = const { RefCell::new(Vec::new()) };
    /// The buffer core.js writes a span's attributes into (see [`start_span_packed`]).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Past this many interned keys (or names) JS passes the rest inline: a program that makes keys
/// from data cannot grow the tables forever.
const MAX_INTERNED: usize = 4096;
/// The id of a key or name given inline, not interned.
const INLINE: u32 = u32::MAX;

/// Appends `value` to `table`; its id, or `INLINE` when the table is full.
fn push_interned<T>(table: &RefCell<Vec<T>>, value: impl FnOnce() -> T) -> u32 {
    let mut t = table.borrow_mut();
    if t.len() >= MAX_INTERNED {
        return INLINE;
    }
    t.push(value());
    (t.len() - 1) as u32
}

/// Interns an attribute key; returns its id, or `INLINE` when the table is full.
#[wasm_bindgen(js_name = internKey)]
pub fn intern_key(key: &str) -> u32 {
    KEYS.with(|k| push_interned(k, || crosstrace::binding::intern::key(key)))
}

/// Interns a span name; returns its id, or `INLINE` when the table is full.
#[wasm_bindgen(js_name = internName)]
pub fn intern_name(name: &str) -> u32 {
    NAMES.with(|n| push_interned(n, || crosstrace::binding::intern::string(name)))
}

/// Makes the scratch buffer `len` bytes long, giving the memory back when it shrinks; returns
/// its address in linear memory, where core.js writes attributes before [`start_span_packed`],
/// or 0 when the memory cannot grow to `len` (the buffer is then as it was). The address holds
/// until the next call.
#[wasm_bindgen]
pub fn scratch(len: u32) -> u32 {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let (len, have) = (len as usize, s.len());
        if len > have && s.try_reserve_exact(len - have).is_err() {
            return 0;
        }
        s.resize(len, 0);
        s.shrink_to_fit();
        s.as_mut_ptr() as u32
    })
}

/// The attributes core.js wrote into the scratch buffer: `count` records of a key (u32 id, or
/// `INLINE` and a string), a tag byte and a value — 0 string (u32 length, UTF-8), 1 boolean (a
/// byte), 2 integer and 3 float (f64), 4 bigint (i64); little-endian.
fn packed_attributes(count: u32) -> Result<Vec<KeyValue>, JsValue> {
    fn bad() -> JsValue {
        invalid(
            "attributes",
            "(packed)",
            "attributes as core.js writes them",
        )
    }
    fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], JsValue> {
        let out = buf.get(*at..*at + n).ok_or_else(bad)?;
        *at += n;
        Ok(out)
    }
    fn word(buf: &[u8], at: &mut usize) -> Result<u32, JsValue> {
        let b = take(buf, at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn eight(buf: &[u8], at: &mut usize) -> Result<[u8; 8], JsValue> {
        let b = take(buf, at, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(a)
    }
    fn text<'a>(buf: &'a [u8], at: &mut usize) -> Result<&'a str, JsValue> {
        let len = word(buf, at)? as usize;
        std::str::from_utf8(take(buf, at, len)?).map_err(|_| bad())
    }
    SCRATCH.with(|s| {
        let buf = s.borrow();
        let buf = buf.as_slice();
        let mut at = 0;
        let mut out = Vec::with_capacity(count as usize);
        KEYS.with(|keys| {
            let keys = keys.borrow();
            for _ in 0..count {
                let id = word(buf, &mut at)?;
                let key = if id == INLINE {
                    crosstrace::binding::intern::key(text(buf, &mut at)?)
                } else {
                    keys.get(id as usize).cloned().ok_or_else(bad)?
                };
                let tag = *take(buf, &mut at, 1)?.first().ok_or_else(bad)?;
                let value = match tag {
                    0 => crosstrace::Value::from(text(buf, &mut at)?.to_owned()),
                    1 => crosstrace::Value::Bool(take(buf, &mut at, 1)?[0] != 0),
                    2 => crosstrace::Value::I64(f64::from_le_bytes(eight(buf, &mut at)?) as i64),
                    3 => crosstrace::Value::F64(f64::from_le_bytes(eight(buf, &mut at)?)),
                    4 => crosstrace::Value::I64(i64::from_le_bytes(eight(buf, &mut at)?)),
                    _ => return Err(bad()),
                };
                out.push(KeyValue::new(key, value));
            }
            Ok(out)
        })
    })
}

/// Starts a span of `kind` under `parent` with `count` attributes core.js wrote into the
/// scratch buffer, its name by id (or inline, `name_id` = `INLINE`): no JSON and no string
/// copies for keys and names per span.
#[wasm_bindgen(js_name = startSpanPacked)]
pub fn start_span_packed(
    name_id: u32,
    name: Option<String>,
    kind: u32,
    parent: &Context,
    count: u32,
    start_ms: Option<f64>,
) -> u32 {
    // A plain number back, not a Result: wasm-bindgen's shim for a Result return cost about 6%
    // of a span. An error waits in FAILED for `takeError`.
    match start_packed(name_id, name, kind, parent, count, start_ms) {
        Ok(handle) => handle,
        Err(e) => {
            FAILED.with(|f| *f.borrow_mut() = Some(e));
            START_FAILED
        }
    }
}

/// What [`start_span_packed`] returns when it failed: never a live handle (see [`MAX_LIVE`]).
const START_FAILED: u32 = u32::MAX - 1;

thread_local! {
    static FAILED: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The error of the last [`start_span_packed`] that returned `START_FAILED`.
#[wasm_bindgen(js_name = takeError)]
pub fn take_error() -> JsValue {
    FAILED
        .with(|f| f.borrow_mut().take())
        .unwrap_or(JsValue::UNDEFINED)
}

fn start_packed(
    name_id: u32,
    name: Option<String>,
    kind: u32,
    parent: &Context,
    count: u32,
    start_ms: Option<f64>,
) -> Result<u32, JsValue> {
    let kind = crosstrace::binding::span::kind_from_number(kind).ok_or_else(|| {
        invalid(
            "kind",
            &kind.to_string(),
            "internal, server, client, producer or consumer",
        )
    })?;
    let name = match (name_id, name) {
        (INLINE, Some(n)) => crosstrace::binding::intern::string(&n),
        (INLINE, None) => return Err(invalid("name", "(none)", "a span name")),
        (id, _) => NAMES
            .with(|n| n.borrow().get(id as usize).cloned())
            .ok_or_else(|| invalid("name", &id.to_string(), "an interned name id"))?,
    };
    let attrs = packed_attributes(count)?;
    let start = start_ms.map(epoch_millis).transpose()?;
    let t = tracing();
    let mut b = t
        .span(name)
        .kind(kind)
        .attributes(attrs)
        .parent_context(&parent.inner);
    if let Some(at) = start {
        b = b.start_time(at);
    }
    Ok(insert_span(b.start()))
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
        // Whole numbers within i64 are integers, as in the packed form core.js writes (and as
        // JSON carried them): 2**60 is the same attribute however it is set.
        if n.fract() == 0.0 && n.abs() < -(i64::MIN as f64) {
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

fn attributes(obj: &JsValue) -> Result<Vec<KeyValue>, JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(Vec::new());
    }
    if !obj.is_object() || Array::is_array(obj) {
        return Err(invalid(
            "attributes",
            &js_sys::JSON::stringify(obj)
                .map(String::from)
                .unwrap_or_else(|_| format!("{obj:?}")),
            "an object of string, number, boolean or bigint values",
        ));
    }
    let mut out = Vec::new();
    for entry in entries(obj)?.iter() {
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

/// Adds an event with attributes (an object), now or at `at_ms` (ms since the Unix epoch).
#[wasm_bindgen(js_name = spanAddEvent)]
pub fn span_add_event(
    span: u32,
    name: &str,
    attrs: &JsValue,
    at_ms: Option<f64>,
) -> Result<(), JsValue> {
    let a = attributes(attrs)?;
    let at = at_ms.map(epoch_millis).transpose()?;
    let name = crosstrace::binding::intern::string(name);
    with_span(span, |s| match at {
        Some(t) => s.add_event_at(name, t, a),
        None => s.add_event(name, a),
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

/// Ends a span and releases its handle; ending again does nothing. Returns the queue's depth
/// (core.js flushes at batch size: one call instead of two per span).
#[wasm_bindgen(js_name = spanEnd)]
pub fn span_end(span: u32) -> u32 {
    if let Some(mut s) = remove_span(span) {
        s.end();
    }
    tracing().queue_depth() as u32
}

fn epoch_millis(ms: f64) -> Result<std::time::SystemTime, JsValue> {
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(invalid(
            "time",
            &crosstrace::binding::number_text(ms),
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

/// Whether the span records (sampled, or measured for the span metrics — the full build only;
/// not ended).
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
    // Attributes the packed path (`startSpanPacked`) does not carry come as they are.
    let attrs = attributes(attrs)?;
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
/// attributes (an object). A context without a span adds nothing.
#[wasm_bindgen(js_name = spanAddLink)]
pub fn span_add_link(span: u32, to: &Context, attrs: &JsValue) -> Result<(), JsValue> {
    let a = attributes(attrs)?;
    if let Some(sc) = to.inner.span_context() {
        let link = crosstrace::Link::new(sc.clone(), a, 0);
        with_span(span, |s| s.add_link(link));
    }
    Ok(())
}
