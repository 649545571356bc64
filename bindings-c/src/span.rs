//! Spans: `ct_span_start*` (by string, with attributes, by interned id, from an extracted
//! context), attributes (`ct_span_set_*`, by string key or by `ct_intern` id), events, errors,
//! status, ending, start and end times, ids, the thread's current span (`ct_span_enter`,
//! `ct_span_exit`), and freeing. The handle itself is in `handles.rs`.

use std::ffi::c_char;
use std::os::raw::c_int;
use std::time::Duration;

use crosstrace::binding::TracingBinding;
use crosstrace::{KeyValue, SpanKind, Status};

use crate::ffi::{self, ct_result, guard, out, str_arg, FfiError};
use crate::handles::{self, ct_context, ct_span};
use crate::interned;

/// The kind of a span (passed as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ct_span_kind {
    /// Internal work.
    CT_SPAN_KIND_INTERNAL = 0,
    /// Handling an incoming request.
    CT_SPAN_KIND_SERVER = 1,
    /// An outgoing request.
    CT_SPAN_KIND_CLIENT = 2,
    /// Sending a message.
    CT_SPAN_KIND_PRODUCER = 3,
    /// Receiving a message.
    CT_SPAN_KIND_CONSUMER = 4,
}

/// Span kinds cross the boundary as `uint32_t` (a C enum can hold any value; a Rust enum
/// cannot), checked here.
fn span_kind(k: u32) -> Result<SpanKind, FfiError> {
    crosstrace::binding::span::kind_from_number(k).ok_or_else(|| {
        ffi::invalid(
            "kind",
            &k.to_string(),
            "a ct_span_kind (CT_SPAN_KIND_INTERNAL .. CT_SPAN_KIND_CONSUMER)",
        )
    })
}

/// A span status (passed as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ct_status {
    /// Not set.
    CT_STATUS_UNSET = 0,
    /// Succeeded (final).
    CT_STATUS_OK = 1,
    /// Failed.
    CT_STATUS_ERROR = 2,
}

/// The type of a `ct_attribute`'s value (passed as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ct_attribute_type {
    /// `string_value`.
    CT_ATTRIBUTE_STRING = 0,
    /// `int_value`.
    CT_ATTRIBUTE_INT = 1,
    /// `double_value`.
    CT_ATTRIBUTE_DOUBLE = 2,
    /// `int_value` (non-zero is true).
    CT_ATTRIBUTE_BOOL = 3,
}

/// One attribute for `ct_span_start_with_attributes`: `key`, and the value field its `type`
/// names.
#[repr(C)]
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_attribute {
    /// The key (NUL-terminated).
    pub key: *const c_char,
    /// A `ct_attribute_type`.
    pub r#type: u32,
    /// The value for CT_ATTRIBUTE_STRING (NUL-terminated).
    pub string_value: *const c_char,
    /// The value for CT_ATTRIBUTE_INT and CT_ATTRIBUTE_BOOL.
    pub int_value: i64,
    /// The value for CT_ATTRIBUTE_DOUBLE.
    pub double_value: f64,
}

/// One attribute for `ct_span_start_interned`: as `ct_attribute`, with its key an id from
/// `ct_intern`.
#[repr(C)]
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_interned_attribute {
    /// The key: an id from `ct_intern`.
    pub key: u32,
    /// A `ct_attribute_type`.
    pub r#type: u32,
    /// The value for CT_ATTRIBUTE_STRING (NUL-terminated).
    pub string_value: *const c_char,
    /// The value for CT_ATTRIBUTE_INT and CT_ATTRIBUTE_BOOL.
    pub int_value: i64,
    /// The value for CT_ATTRIBUTE_DOUBLE.
    pub double_value: f64,
}

fn start(
    name: std::borrow::Cow<'static, str>,
    kind: u32,
    parent: Option<crosstrace::Context>,
    attributes: Vec<KeyValue>,
) -> Result<*mut ct_span, FfiError> {
    let kind = span_kind(kind)?;
    handles::new_span(|t| t.start_now(parent.as_ref(), name, kind, attributes))
}

/// Starts a span of `kind` (a `ct_span_kind`). `parent` NULL means the thread's current span (see `ct_span_enter`), or a
/// new trace when there is none. Writes the new span to `*out_span`; free it with
/// `ct_span_free` (which ends it if needed). `out_span` NULL is refused (CT_ERR_NULL_POINTER)
/// before any span starts, here and in every `ct_*span_start*`.
///
/// # Safety
/// `name` must be a NUL-terminated string; `parent` NULL or a live span; `out_span` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_span_start(
    name: *const c_char,
    kind: u32,
    parent: *const ct_span,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        // SAFETY: `name` is NUL-terminated (the caller's contract).
        let name = unsafe { ffi::name_arg(name, "name") }?;
        let parent = handles::parent_context(parent)?;
        let span = start(name, kind, parent, Vec::new())?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// Starts a span with attributes in one call (cheaper than a call per attribute, and the
/// sampler sees them). Parent as `ct_span_start`.
///
/// # Safety
/// As `ct_span_start`; `attributes` points to `len` entries (NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ct_span_start_with_attributes(
    name: *const c_char,
    kind: u32,
    parent: *const ct_span,
    attributes: *const ct_attribute,
    len: usize,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        // SAFETY: `name` is NUL-terminated (the caller's contract).
        let name = unsafe { ffi::name_arg(name, "name") }?;
        let kv = |a: &ct_attribute| -> Result<KeyValue, FfiError> {
            // SAFETY: an entry's key is NUL-terminated (the caller's contract).
            let key = unsafe { ffi::key_arg(a.key, "key") }?;
            // SAFETY: an entry's string value is NULL or NUL-terminated (the caller's
            // contract).
            unsafe { value_of(key, a.r#type, a.string_value, a.int_value, a.double_value) }
        };
        // SAFETY: NULL with `len` 0, or `len` valid entries (the caller's contract).
        let attrs = unsafe { attributes_of(attributes, len, kv) }?;
        let parent = handles::parent_context(parent)?;
        let span = start(name, kind, parent, attrs)?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// `len` attributes at `attributes` (NULL when `len` is 0), each converted by `kv`. An error
/// names the entry: `attributes[1] (key "db.name"): ...`.
///
/// # Safety
/// `attributes` NULL (with `len` 0) or `len` valid entries.
#[inline(always)]
unsafe fn attributes_of<A>(
    attributes: *const A,
    len: usize,
    kv: impl Fn(&A) -> Result<KeyValue, FfiError>,
) -> Result<Vec<KeyValue>, FfiError> {
    // SAFETY: NULL with `len` 0, or `len` valid entries through this call (the caller's
    // contract).
    let attributes = unsafe { ffi::slice_arg(attributes, len, "attributes") }?;
    // One allocation of the exact size (the span keeps this vector).
    let mut out = Vec::with_capacity(len);
    for (i, a) in attributes.iter().enumerate() {
        out.push(kv(a).map_err(|e| e.at("attributes", i))?);
    }
    Ok(out)
}

/// The attribute `key` = the value field `type` names. An error names the key.
///
/// # Safety
/// `string_value` NULL or NUL-terminated.
#[inline(always)]
unsafe fn value_of(
    key: crosstrace::Key,
    r#type: u32,
    string_value: *const c_char,
    int_value: i64,
    double_value: f64,
) -> Result<KeyValue, FfiError> {
    Ok(match r#type {
        // SAFETY: NULL or NUL-terminated (the caller's contract).
        0 => match unsafe { ffi::value_arg(string_value, "string_value") } {
            Ok(v) => KeyValue::new(key, v),
            Err(e) => return Err(e.for_key(key.as_str())),
        },
        1 => KeyValue::new(key, int_value),
        2 => KeyValue::new(key, double_value),
        3 => KeyValue::new(key, int_value != 0),
        other => {
            return Err(ffi::invalid(
                "attribute type",
                &other.to_string(),
                "a ct_attribute_type (CT_ATTRIBUTE_STRING .. CT_ATTRIBUTE_BOOL)",
            )
            .for_key(key.as_str()))
        }
    })
}

/// Interns `s` (a span name or attribute key, at most 128 bytes) and writes its id (never 0)
/// to `*out_id`: the `_interned` functions take it instead of the string, and skip reading and
/// comparing the string on every call. The same string always gets the same id, on any
/// thread; ids and their strings last for the process (32,767 at most, sharing the library's
/// bound on interned names and keys: intern what recurs, not per-request data; the last 2,048
/// places are kept for `ct_intern`, so names and keys passed as strings never use them all).
/// An id not handed out by `ct_intern` is refused with CT_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `s` a NUL-terminated string; `out_id` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ct_intern(s: *const c_char, out_id: *mut u32) -> ct_result {
    guard(|| {
        // SAFETY: `s` is NUL-terminated (the caller's contract).
        let s = unsafe { str_arg(s, "s") }?;
        if out_id.is_null() {
            return Err(ffi::null("out_id"));
        }
        let id = interned::intern(s)?;
        // SAFETY: not NULL (checked), so valid for a write (the caller's contract).
        unsafe { out_id.write(id) };
        Ok(())
    })
}

/// `ct_span_start_with_attributes` with the name and the keys given as ids from `ct_intern`.
///
/// # Safety
/// `parent` NULL or a live span; `attributes` NULL (with `len` 0) or `len` entries;
/// `out_span` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_span_start_interned(
    name: u32,
    kind: u32,
    parent: *const ct_span,
    attributes: *const ct_interned_attribute,
    len: usize,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        let name = interned::lookup(name, "name")?;
        let kv = |a: &ct_interned_attribute| -> Result<KeyValue, FfiError> {
            let key = interned_key(a.key, "key")?;
            // SAFETY: an entry's string value is NULL or NUL-terminated (the caller's
            // contract).
            unsafe { value_of(key, a.r#type, a.string_value, a.int_value, a.double_value) }
        };
        // SAFETY: NULL with `len` 0, or `len` valid entries (the caller's contract).
        let attrs = unsafe { attributes_of(attributes, len, kv) }?;
        let parent = handles::parent_context(parent)?;
        let span = start(name.into(), kind, parent, attrs)?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// Starts a span that continues a caller: its parent, baggage and correlation are `context`'s
/// (from `ct_extract*`), and only its: a context without a correlation gives a span without
/// one, whatever correlation the thread has open (`ct_correlation_begin`) — a server thread's
/// earlier work must not lend its correlation to a request. To continue a trace in a
/// correlation of your own, give the context one (`ct_context_with_correlation`). `context`
/// NULL starts a new trace in the thread's correlation.
///
/// # Safety
/// As `ct_span_start`; `context` NULL or from `ct_extract*`.
#[no_mangle]
pub unsafe extern "C" fn ct_span_start_from(
    name: *const c_char,
    kind: u32,
    context: *const ct_context,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        // Before anything starts: a span nobody can end must not be started.
        ffi::out_arg(out_span, "out_span")?;
        // SAFETY: `name` is NUL-terminated (the caller's contract).
        let name = unsafe { ffi::name_arg(name, "name") }?;
        let extracted = if context.is_null() {
            None
        } else {
            // SAFETY: not NULL (checked): a live context from `ct_extract*` (the caller's
            // contract).
            Some(&unsafe { ffi::handle(context, "context") }?.0)
        };
        // The core's one rule for every binding.
        let cx = crosstrace::Context::continuing(extracted, &crosstrace::Context::current());
        let span = start(name, kind, Some(cx), Vec::new())?;
        // SAFETY: `out_span` is valid for writes (the caller's contract); the handle is ours
        // and handed out nowhere else.
        unsafe { out(out_span, span, "out_span") }
    })
}

/// Sets the attribute `kv` makes on `span` (checked: handles are never dereferenced, so this
/// is safe; the callers' `kv` reads their C arguments).
fn set(span: *const ct_span, kv: impl FnOnce() -> Result<KeyValue, FfiError>) -> ct_result {
    guard(|| {
        let h = handles::span_ref(span)?;
        let kv = kv()?;
        h.with(|s| s.set_attribute(kv))
    })
}

/// Sets a string attribute.
///
/// # Safety
/// `span` a live span; `key`, `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_str(
    span: *const ct_span,
    key: *const c_char,
    value: *const c_char,
) -> ct_result {
    set(span, || {
        // SAFETY: `key` is NUL-terminated (the caller's contract).
        let key = unsafe { ffi::key_arg(key, "key") }?;
        // SAFETY: as `key`.
        let value = unsafe { ffi::value_arg(value, "value") }?;
        Ok(KeyValue::new(key, value))
    })
}

/// Sets an integer attribute.
///
/// # Safety
/// `span` a live span; `key` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_i64(
    span: *const ct_span,
    key: *const c_char,
    value: i64,
) -> ct_result {
    set(span, || {
        // SAFETY: `key` is NUL-terminated (the caller's contract).
        let key = unsafe { ffi::key_arg(key, "key") }?;
        Ok(KeyValue::new(key, value))
    })
}

/// Sets a floating-point attribute.
///
/// # Safety
/// `span` a live span; `key` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_f64(
    span: *const ct_span,
    key: *const c_char,
    value: f64,
) -> ct_result {
    set(span, || {
        // SAFETY: `key` is NUL-terminated (the caller's contract).
        let key = unsafe { ffi::key_arg(key, "key") }?;
        Ok(KeyValue::new(key, value))
    })
}

/// Sets a boolean attribute (`value` non-zero is true).
///
/// # Safety
/// `span` a live span; `key` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_bool(
    span: *const ct_span,
    key: *const c_char,
    value: c_int,
) -> ct_result {
    set(span, || {
        // SAFETY: `key` is NUL-terminated (the caller's contract).
        let key = unsafe { ffi::key_arg(key, "key") }?;
        Ok(KeyValue::new(key, value != 0))
    })
}

/// `ct_span_set_str` with the key an id from `ct_intern`.
///
/// # Safety
/// `span` a live span; `value` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_str_interned(
    span: *const ct_span,
    key: u32,
    value: *const c_char,
) -> ct_result {
    set(span, || {
        let key = interned_key(key, "key")?;
        // SAFETY: `value` is NUL-terminated (the caller's contract).
        let value = unsafe { ffi::value_arg(value, "value") }?;
        Ok(KeyValue::new(key, value))
    })
}

/// `ct_span_set_i64` with the key an id from `ct_intern`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_i64_interned(
    span: *const ct_span,
    key: u32,
    value: i64,
) -> ct_result {
    set(span, || Ok(KeyValue::new(interned_key(key, "key")?, value)))
}

/// `ct_span_set_f64` with the key an id from `ct_intern`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_f64_interned(
    span: *const ct_span,
    key: u32,
    value: f64,
) -> ct_result {
    set(span, || Ok(KeyValue::new(interned_key(key, "key")?, value)))
}

/// `ct_span_set_bool` with the key an id from `ct_intern`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_bool_interned(
    span: *const ct_span,
    key: u32,
    value: c_int,
) -> ct_result {
    set(span, || {
        Ok(KeyValue::new(interned_key(key, "key")?, value != 0))
    })
}

/// The key an id from `ct_intern` names; `what` (the argument) names it in the error.
#[inline(always)]
fn interned_key(id: u32, what: &'static str) -> Result<crosstrace::Key, FfiError> {
    Ok(crosstrace::Key::from_static_str(interned::lookup(
        id, what,
    )?))
}

/// Adds an event with no attributes.
///
/// # Safety
/// `span` a live span; `name` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_span_add_event(span: *const ct_span, name: *const c_char) -> ct_result {
    guard(|| {
        let h = handles::span_ref(span)?;
        // SAFETY: `name` is NUL-terminated (the caller's contract).
        let name = unsafe { ffi::name_arg(name, "name") }?;
        h.with(|s| s.add_event(name, Vec::new()))
    })
}

/// Records an error: an `exception` event with type, message and (optional, NULL) stack trace,
/// and error status.
///
/// # Safety
/// `span` a live span; `type_name`, `message` NUL-terminated; `stacktrace` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ct_span_record_error(
    span: *const ct_span,
    type_name: *const c_char,
    message: *const c_char,
    stacktrace: *const c_char,
) -> ct_result {
    guard(|| {
        let h = handles::span_ref(span)?;
        // SAFETY: `type_name` is NUL-terminated (the caller's contract).
        let ty = unsafe { str_arg(type_name, "type_name") }?;
        // SAFETY: as `type_name`.
        let msg = unsafe { str_arg(message, "message") }?;
        // SAFETY: NULL or NUL-terminated (the caller's contract).
        let st = unsafe { ffi::opt_str_arg(stacktrace, "stacktrace") }?;
        h.with(|s| s.record_exception(ty, msg, st))
    })
}

/// Sets the status (a `ct_status`); `description` (NULL allowed) is kept for errors.
///
/// # Safety
/// `span` a live span; `description` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_status(
    span: *const ct_span,
    status: u32,
    description: *const c_char,
) -> ct_result {
    guard(|| {
        let h = handles::span_ref(span)?;
        // SAFETY: NULL or NUL-terminated (the caller's contract).
        let d = unsafe { ffi::opt_str_arg(description, "description") }?.unwrap_or("");
        let status = match status {
            0 => Status::Unset,
            1 => Status::Ok,
            2 => Status::error(d.to_owned()),
            _ => {
                return Err(ffi::invalid(
                    "status",
                    &status.to_string(),
                    "a ct_status (CT_STATUS_UNSET, CT_STATUS_OK, CT_STATUS_ERROR)",
                ))
            }
        };
        h.with(|s| s.set_status(status))
    })
}

/// Ends the span. A second call returns `CT_ERR_SPAN_ENDED`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_end(span: *const ct_span) -> ct_result {
    guard(|| handles::span_ref(span)?.end(None))
}

fn unix_nanos(ns: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Ends the span at `end_unix_nanos` (nanoseconds since the Unix epoch), for work timed by the
/// caller's own clock. A second end returns `CT_ERR_SPAN_ENDED`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_end_at(span: *const ct_span, end_unix_nanos: u64) -> ct_result {
    guard(|| handles::span_ref(span)?.end(Some(unix_nanos(end_unix_nanos))))
}

/// Moves the span's start to `start_unix_nanos` (nanoseconds since the Unix epoch), for work
/// that began before the span could be started.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_start_time(
    span: *const ct_span,
    start_unix_nanos: u64,
) -> ct_result {
    guard(|| handles::span_ref(span)?.with(|s| s.set_start_time(unix_nanos(start_unix_nanos))))
}

/// Ends the span if needed and frees the handle. NULL is a no-op. Using the handle afterwards
/// (freeing it again included) returns `CT_ERR_INVALID_HANDLE`: handles are never dereferenced,
/// and a freed one names an outdated generation of its slot (on 64-bit targets a slot is
/// retired before its generation could wrap). So does any other value, unless it happens to
/// equal a live handle.
///
/// # Safety
/// `span` NULL or a value this library handed out as a span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_free(span: *mut ct_span) {
    let _ = guard(|| handles::free_span(span));
}

/// Writes the trace id as 32 lowercase hex digits and a NUL into `out` (33 bytes).
///
/// # Safety
/// `span` a live span; `out` at least 33 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ct_span_trace_id(span: *const ct_span, out: *mut c_char) -> ct_result {
    guard(|| {
        let hex = handles::span_ref(span)?
            .span_context()?
            .trace_id()
            .to_string();
        // SAFETY: `out` is NULL or valid for 33 bytes (the caller's contract); `hex` is 32.
        unsafe { ffi::write_hex(out, &hex) }
    })
}

/// Writes the span id as 16 lowercase hex digits and a NUL into `out` (17 bytes).
///
/// # Safety
/// `span` a live span; `out` at least 17 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ct_span_span_id(span: *const ct_span, out: *mut c_char) -> ct_result {
    guard(|| {
        let hex = handles::span_ref(span)?
            .span_context()?
            .span_id()
            .to_string();
        // SAFETY: `out` is NULL or valid for 17 bytes (the caller's contract); `hex` is 16.
        unsafe { ffi::write_hex(out, &hex) }
    })
}

/// Makes `span` the calling thread's current span (parent of spans started with a NULL parent,
/// source of `ct_inject*` with a NULL span) until the matching `ct_span_exit`.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_enter(span: *const ct_span) -> ct_result {
    guard(|| {
        let cx = handles::span_ref(span)?.context()?;
        handles::push_context(cx, false)
    })
}

/// Restores the current span that was in place before the last `ct_span_enter` (or
/// `ct_correlation_begin`) on this thread. `CT_ERR_INVALID_ARGUMENT` when there is none.
#[no_mangle]
pub extern "C" fn ct_span_exit() -> ct_result {
    guard(handles::pop_context)
}
