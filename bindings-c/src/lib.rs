//! `libcrosstrace`: the C API over the `crosstrace` core.
//!
//! Conventions (after rustls-ffi): every function is `ct_<object>_<verb>`; handles are opaque;
//! `_free(NULL)` is a no-op; fallible calls return a `ct_result` whose numbers never change and
//! write outputs to trailing out-parameters only on success; callbacks take `userdata` first;
//! every exported body runs inside a panic boundary; strings the library returns are freed with
//! `ct_string_free`. The last error message of the calling thread is `ct_last_error()`.
#![allow(clippy::missing_safety_doc)]
// Safety contracts are in each function's doc comment.
// Each `unsafe extern "C"` function documents its contract; the bodies only dereference
// pointers after the checks in `ffi.rs`.
#![allow(unsafe_op_in_unsafe_fn)]

mod ffi;
mod handles;
mod image;
mod interned;

use std::ffi::{c_char, c_void};
use std::os::raw::c_int;
use std::time::Duration;

use crosstrace::{Correlation, KeyValue, SpanKind, Status, Tracing, TracingConfig};

pub use ffi::ct_result;
use ffi::{guard, out, str_arg, to_c_string, FfiError};
use handles::{ct_config, ct_context, ct_span};

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

/// One header, as `name` and `value` (both NUL-terminated).
#[repr(C)]
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_header {
    /// Header name.
    pub name: *const c_char,
    /// Header value.
    pub value: *const c_char,
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

/// Called once per header to write: `(userdata, name, value)`. The strings are valid only
/// during the call.
#[allow(non_camel_case_types)]
pub type ct_header_setter =
    Option<unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char, value: *const c_char)>;

/// Called to read a header: `(userdata, name)` returns the value or NULL. The name is lowercase;
/// match case-insensitively. The returned string must stay valid until the call returns. For a
/// header received on several lines, return them joined with `,` (RFC 9110 §5.3), or give the
/// lines to `ct_extract_headers`, which keeps them.
#[allow(non_camel_case_types)]
pub type ct_header_getter =
    Option<unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char) -> *const c_char>;

fn tracing() -> Tracing {
    crosstrace::global()
}

// ---------------------------------------------------------------------------------------------
// Library

/// The library version, e.g. `"0.1.0"`. Static; never free it.
#[no_mangle]
pub extern "C" fn ct_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The calling thread's last error message (at most 1,023 bytes), or NULL if the last call
/// succeeded. Owned by the library; valid until the next crosstrace call on this thread.
#[no_mangle]
pub extern "C" fn ct_last_error() -> *const c_char {
    ffi::last_error_ptr()
}

/// Frees a string returned by the library. NULL is a no-op.
///
/// # Safety
/// `s` must be NULL or a string this library returned and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ct_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(std::ffi::CString::from_raw(s));
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// A new, empty configuration: every setting at the specification's default. Free it with
/// `ct_config_free`.
#[no_mangle]
pub extern "C" fn ct_config_new() -> *mut ct_config {
    Box::into_raw(Box::default())
}

/// Frees a configuration. NULL is a no-op.
///
/// # Safety
/// `config` must be NULL or a pointer from `ct_config_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ct_config_free(config: *mut ct_config) {
    if !config.is_null() {
        drop(Box::from_raw(config));
    }
}

/// Sets one setting by its environment variable name (`"OTEL_SAMPLING_RATE"`, `"0.25"`): the
/// same names, values and validation as the environment. Checked when the config is used.
///
/// # Safety
/// `config` must come from `ct_config_new`; `name` and `value` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ct_config_set(
    config: *mut ct_config,
    name: *const c_char,
    value: *const c_char,
) -> ct_result {
    guard(|| {
        let config = ffi::handle_mut(config, "config")?;
        let name = str_arg(name, "name")?;
        let value = str_arg(value, "value")?;
        if !crosstrace::config::VARIABLES.contains(&name) {
            return Err(ffi::invalid(
                "name",
                name,
                "a variable crosstrace reads (see README's configuration table)",
            ));
        }
        config.vars.insert(name.to_owned(), value.to_owned());
        Ok(())
    })
}

fn build_config(config: &ct_config) -> Result<TracingConfig, FfiError> {
    Ok(TracingConfig::from_lookup(|k| config.vars.get(k).cloned())?)
}

/// Validates a configuration and writes it, normalised, as JSON to `*out_json` (free with
/// `ct_string_free`). On a bad value returns `CT_ERR_CONFIG` and `ct_last_error()` names it.
///
/// # Safety
/// `config` must come from `ct_config_new`; `out_json` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_config_to_json(
    config: *const ct_config,
    out_json: *mut *mut c_char,
) -> ct_result {
    guard(|| {
        let config = ffi::handle(config, "config")?;
        let cfg = build_config(config)?;
        let json = serde_json::to_string(&cfg).map_err(|e| ffi::internal(e.to_string()))?;
        out(out_json, to_c_string(json)?)
    })
}

/// The `telemetry.sdk.language` of programs on this library. The semantic conventions list no
/// `c`; `cpp` is the closest value they allow (C and C++ programs link the library alike).
const SDK_LANGUAGE: &str = "cpp";

/// Installs tracing from `config`, its resource saying the caller's language.
fn install(config: TracingConfig) -> Result<(), FfiError> {
    crosstrace::binding::resource::set_sdk_language(SDK_LANGUAGE);
    crosstrace::init(config)?;
    Ok(())
}

/// Initialises tracing from the process environment (`OTEL_*`). Replaces any earlier setup.
#[no_mangle]
pub extern "C" fn ct_init_from_env() -> ct_result {
    guard(|| install(TracingConfig::from_env()?))
}

/// Initialises tracing from `config` (unset settings take the specification's defaults, not
/// the environment). Replaces any earlier setup.
///
/// # Safety
/// `config` must come from `ct_config_new`.
#[no_mangle]
pub unsafe extern "C" fn ct_init(config: *const ct_config) -> ct_result {
    guard(|| {
        let config = ffi::handle(config, "config")?;
        install(build_config(config)?)
    })
}

/// Exports everything queued, waiting at most `timeout_ms`.
#[no_mangle]
pub extern "C" fn ct_force_flush(timeout_ms: u32) -> ct_result {
    guard(|| Ok(tracing().force_flush(Duration::from_millis(timeout_ms.into()))?))
}

/// Exports what is queued within `timeout_ms`, then stops; later spans are no-ops. Writes the
/// number of spans it could not send to `*out_unsent` when that is not NULL.
///
/// # Safety
/// `out_unsent` must be NULL or a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_shutdown(timeout_ms: u32, out_unsent: *mut u64) -> ct_result {
    guard(|| {
        let report = tracing().shutdown(Duration::from_millis(timeout_ms.into()))?;
        if !out_unsent.is_null() {
            *out_unsent = report.unsent;
        }
        Ok(())
    })
}

/// The span-derived metrics (every span, sampled or not) in the Prometheus text format; empty
/// when metrics are off. Free with `ct_string_free`.
///
/// # Safety
/// `out_text` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_metrics_text(out_text: *mut *mut c_char) -> ct_result {
    guard(|| out(out_text, to_c_string(tracing().metrics_text())?))
}

/// The health report as JSON (the specification's field names). Free with `ct_string_free`.
///
/// # Safety
/// `out_json` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_health_json(out_json: *mut *mut c_char) -> ct_result {
    guard(|| out(out_json, to_c_string(tracing().health().to_json())?))
}

// ---------------------------------------------------------------------------------------------
// Spans

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
/// `ct_span_free` (which ends it if needed).
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
        let name = ffi::name_arg(name, "name")?;
        let parent = handles::parent_context(parent)?;
        out(out_span, start(name, kind, parent, Vec::new())?)
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
        let name = ffi::name_arg(name, "name")?;
        let attrs = attributes_of(attributes, len, |a| {
            let key = ffi::key_arg(a.key, "attribute key")?;
            value_of(key, a.r#type, a.string_value, a.int_value, a.double_value)
        })?;
        let parent = handles::parent_context(parent)?;
        out(out_span, start(name, kind, parent, attrs)?)
    })
}

/// `len` attributes at `attributes` (NULL when `len` is 0), each converted by `kv`.
///
/// # Safety
/// `attributes` NULL or `len` valid entries.
#[inline(always)]
unsafe fn attributes_of<A>(
    attributes: *const A,
    len: usize,
    kv: impl Fn(&A) -> Result<KeyValue, FfiError>,
) -> Result<Vec<KeyValue>, FfiError> {
    let attributes = ffi::slice_arg(attributes, len, "attributes")?;
    // One allocation of the exact size (the span keeps this vector).
    let mut out = Vec::with_capacity(len);
    for a in attributes {
        out.push(kv(a)?);
    }
    Ok(out)
}

/// The attribute `key` = the value field `type` names.
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
        0 => KeyValue::new(key, ffi::value_arg(string_value, "string_value")?),
        1 => KeyValue::new(key, int_value),
        2 => KeyValue::new(key, double_value),
        3 => KeyValue::new(key, int_value != 0),
        other => {
            return Err(ffi::invalid(
                "attribute type",
                &other.to_string(),
                "a ct_attribute_type (CT_ATTRIBUTE_STRING .. CT_ATTRIBUTE_BOOL)",
            ))
        }
    })
}

/// Interns `s` (a span name or attribute key, at most 128 bytes) and writes its id (never 0)
/// to `*out_id`: the `_interned` functions take it instead of the string, and skip reading and
/// comparing the string on every call. The same string always gets the same id, on any
/// thread; ids and their strings last for the process (32,767 at most, sharing the library's
/// bound on interned names and keys: intern what recurs, not per-request data). An id not
/// handed out by `ct_intern` is refused with CT_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `s` a NUL-terminated string; `out_id` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ct_intern(s: *const c_char, out_id: *mut u32) -> ct_result {
    guard(|| {
        let s = str_arg(s, "s")?;
        if out_id.is_null() {
            return Err(ffi::null("out_id"));
        }
        out_id.write(interned::intern(s)?);
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
        let name = interned::lookup(name, "name")?;
        let attrs = attributes_of(attributes, len, |a| {
            let key = interned_key(a.key, "attribute key")?;
            value_of(key, a.r#type, a.string_value, a.int_value, a.double_value)
        })?;
        let parent = handles::parent_context(parent)?;
        out(out_span, start(name.into(), kind, parent, attrs)?)
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
        let name = ffi::name_arg(name, "name")?;
        let extracted = if context.is_null() {
            None
        } else {
            Some(&ffi::handle(context, "context")?.0)
        };
        // The core's one rule for every binding.
        let cx = crosstrace::Context::continuing(extracted, &crosstrace::Context::current());
        out(out_span, start(name, kind, Some(cx), Vec::new())?)
    })
}

unsafe fn set(span: *const ct_span, kv: impl FnOnce() -> Result<KeyValue, FfiError>) -> ct_result {
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
        Ok(KeyValue::new(
            ffi::key_arg(key, "key")?,
            ffi::value_arg(value, "value")?,
        ))
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
    set(span, || Ok(KeyValue::new(ffi::key_arg(key, "key")?, value)))
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
    set(span, || Ok(KeyValue::new(ffi::key_arg(key, "key")?, value)))
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
        Ok(KeyValue::new(ffi::key_arg(key, "key")?, value != 0))
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
        Ok(KeyValue::new(
            interned_key(key, "key")?,
            ffi::value_arg(value, "value")?,
        ))
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
        let name = ffi::name_arg(name, "name")?;
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
        let ty = str_arg(type_name, "type_name")?;
        let msg = str_arg(message, "message")?;
        let st = ffi::opt_str_arg(stacktrace, "stacktrace")?;
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
        let d = ffi::opt_str_arg(description, "description")?.unwrap_or("");
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
        ffi::write_hex(out, &hex)
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
        ffi::write_hex(out, &hex)
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
        handles::push_context(cx)
    })
}

/// Restores the current span that was in place before the last `ct_span_enter` (or
/// `ct_correlation_begin`) on this thread. `CT_ERR_INVALID_ARGUMENT` when there is none.
#[no_mangle]
pub extern "C" fn ct_span_exit() -> ct_result {
    guard(handles::pop_context)
}

// ---------------------------------------------------------------------------------------------
// The specification's helpers

/// Starts an ETL operation span (`etl.operation`, `etl.stage`); parent as `ct_span_start`.
///
/// # Safety
/// As `ct_span_start`.
#[no_mangle]
pub unsafe extern "C" fn ct_etl_span_start(
    operation: *const c_char,
    stage: *const c_char,
    parent: *const ct_span,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        let op = str_arg(operation, "operation")?;
        let stage = str_arg(stage, "stage")?;
        let parent = handles::parent_context(parent)?;
        let span = handles::new_span(|t| {
            let b = t.etl_span(op, stage);
            match &parent {
                Some(cx) => b.parent_context(cx).start(),
                None => b.start(),
            }
        });
        out(out_span, span?)
    })
}

/// Records ETL record counts; pass -1 for an unknown count.
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_etl_records(
    span: *const ct_span,
    input: i64,
    output: i64,
    rejected: i64,
) -> ct_result {
    guard(|| {
        let known = |n: i64| u64::try_from(n).ok();
        handles::span_ref(span)?
            .with(|s| s.set_etl_records(known(input), known(output), known(rejected)))
    })
}

/// Starts a database client span named `"{operation} {collection}"` with `db.system.name`,
/// `db.operation.name`, `db.collection.name`; parent as `ct_span_start`.
///
/// # Safety
/// As `ct_span_start`; `collection` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn ct_db_span_start(
    system: *const c_char,
    operation: *const c_char,
    collection: *const c_char,
    parent: *const ct_span,
    out_span: *mut *mut ct_span,
) -> ct_result {
    guard(|| {
        let system = str_arg(system, "system")?;
        let op = str_arg(operation, "operation")?;
        let coll = ffi::opt_str_arg(collection, "collection")?.unwrap_or("");
        let parent = handles::parent_context(parent)?;
        let span = handles::new_span(|t| {
            let b = t.db_span(system, op, coll);
            match &parent {
                Some(cx) => b.parent_context(cx).start(),
                None => b.start(),
            }
        });
        out(out_span, span?)
    })
}

/// Records rows a database operation returned (`is_write` 0) or affected (non-zero).
///
/// # Safety
/// `span` a live span.
#[no_mangle]
pub unsafe extern "C" fn ct_span_set_db_rows(
    span: *const ct_span,
    rows: u64,
    is_write: c_int,
) -> ct_result {
    guard(|| handles::span_ref(span)?.with(|s| s.set_db_rows(rows, is_write != 0)))
}

// ---------------------------------------------------------------------------------------------
// Correlation

/// Begins a correlation context on this thread: spans started until `ct_correlation_end` carry
/// `correlation.id` (the given id, validated, or a new UUID v4 when `id` is NULL), `user.id` and
/// `correlation.operation` (each NULL to omit). Nests; `ct_correlation_end` restores the outer.
///
/// # Safety
/// Each argument NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_begin(
    id: *const c_char,
    user_id: *const c_char,
    operation: *const c_char,
) -> ct_result {
    guard(|| {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let c = Correlation::new(
            owned(ffi::opt_str_arg(id, "id")?),
            owned(ffi::opt_str_arg(user_id, "user_id")?),
            owned(ffi::opt_str_arg(operation, "operation")?),
            [],
        )?;
        handles::push_context(crosstrace::Context::current().with_correlation(c))
    })
}

/// Adds a field (`job_id`) to the current correlation context; spans started afterwards carry
/// it as `correlation.<name>`. `CT_ERR_INVALID_ARGUMENT` when no correlation context is open.
///
/// # Safety
/// `name` and `value` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_set_field(
    name: *const c_char,
    value: *const c_char,
) -> ct_result {
    guard(|| {
        let name = str_arg(name, "name")?;
        let value = str_arg(value, "value")?;
        let cx = crosstrace::Context::current();
        let Some(c) = cx.correlation() else {
            return Err(ffi::invalid(
                "correlation",
                "none",
                "an open correlation context (ct_correlation_begin)",
            ));
        };
        let c = c.with_field(name, value)?;
        handles::replace_top_context(cx.with_correlation(c))
    })
}

/// Ends the innermost correlation context (same stack as `ct_span_enter`/`ct_span_exit`).
#[no_mangle]
pub extern "C" fn ct_correlation_end() -> ct_result {
    guard(handles::pop_context)
}

/// The current correlation id (free with `ct_string_free`), or NULL in `*out_id` when none.
///
/// # Safety
/// `out_id` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_correlation_id(out_id: *mut *mut c_char) -> ct_result {
    guard(|| match crosstrace::correlation_id() {
        Some(id) => out(out_id, to_c_string(id)?),
        None => out(out_id, std::ptr::null_mut()),
    })
}

// ---------------------------------------------------------------------------------------------
// Propagation

fn context_of(span: *const ct_span) -> Result<crosstrace::Context, FfiError> {
    if span.is_null() {
        Ok(crosstrace::Context::current())
    } else {
        handles::span_ref(span)?.context()
    }
}

/// Writes the propagation headers of `span` (NULL: the thread's current context) through
/// `setter`.
///
/// # Safety
/// `span` NULL or live; `setter` a valid function.
#[no_mangle]
pub unsafe extern "C" fn ct_inject(
    span: *const ct_span,
    setter: ct_header_setter,
    userdata: *mut c_void,
) -> ct_result {
    guard(|| {
        let setter = setter.ok_or_else(|| ffi::null("setter"))?;
        let cx = context_of(span)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx, &mut headers);
        for (k, v) in headers {
            let (k, v) = (ffi::cstring(k)?, ffi::cstring(v)?);
            setter(userdata, k.as_ptr(), v.as_ptr());
        }
        Ok(())
    })
}

/// Writes the propagation headers of `span` (NULL: current) as `"name: value"` lines, the form
/// libcurl's header lists take: `*out_lines` gets an array of `*out_len` strings. Free it with
/// `ct_lines_free(lines, len)`.
///
/// # Safety
/// `span` NULL or live; `out_lines`, `out_len` valid pointers.
#[no_mangle]
pub unsafe extern "C" fn ct_inject_lines(
    span: *const ct_span,
    out_lines: *mut *mut *mut c_char,
    out_len: *mut usize,
) -> ct_result {
    guard(|| {
        if out_len.is_null() {
            return Err(ffi::null("out_len"));
        }
        let cx = context_of(span)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx, &mut headers);
        let mut lines: Vec<*mut c_char> = Vec::with_capacity(headers.len());
        for (k, v) in headers {
            lines.push(to_c_string(format!("{k}: {v}"))?);
        }
        let len = lines.len();
        let ptr = Box::into_raw(lines.into_boxed_slice()).cast::<*mut c_char>();
        out(out_lines, ptr)?;
        *out_len = len;
        Ok(())
    })
}

/// Frees lines from `ct_inject_lines`. NULL is a no-op.
///
/// # Safety
/// `lines` and `len` exactly as returned by `ct_inject_lines`.
#[no_mangle]
pub unsafe extern "C" fn ct_lines_free(lines: *mut *mut c_char, len: usize) {
    if lines.is_null() {
        return;
    }
    let boxed = Box::from_raw(std::ptr::slice_from_raw_parts_mut(lines, len));
    for &line in boxed.iter() {
        ct_string_free(line);
    }
}

/// Reads a context from headers through `getter`. Never fails on bad headers: they give an
/// empty context. Free the result with `ct_context_free`. (`uberctx-*` baggage needs the
/// header names, and repeated lines the whole list: use `ct_extract_headers` for them.)
///
/// # Safety
/// `getter` a valid function; `out_context` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_extract(
    getter: ct_header_getter,
    userdata: *mut c_void,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let getter = getter.ok_or_else(|| ffi::null("getter"))?;
        let carrier = ffi::fetch_headers(getter, userdata, tracing().propagators());
        let cx = tracing().extract(&carrier);
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Reads a context from an array of `len` headers, in the order received: a name may repeat
/// (`tracestate` and `baggage` lines are one list; two `traceparent` lines are invalid). Free
/// it with `ct_context_free`.
///
/// # Safety
/// `headers` points to `len` entries with NUL-terminated (or NULL, skipped) names and values.
#[no_mangle]
pub unsafe extern "C" fn ct_extract_headers(
    headers: *const ct_header,
    len: usize,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let pairs = ffi::header_pairs(headers, len)?;
        let cx = tracing().extract(&pairs);
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Reads a context from `"name: value"` lines (a libcurl header list's strings).
///
/// # Safety
/// `lines` points to `len` NUL-terminated strings (NULL entries skipped).
#[no_mangle]
pub unsafe extern "C" fn ct_extract_lines(
    lines: *const *const c_char,
    len: usize,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let pairs = ffi::line_pairs(lines, len)?;
        let cx = tracing().extract(&pairs);
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Parses a traceparent (`00-<trace>-<span>-<flags>`) into a context; a malformed one gives
/// `CT_ERR_INVALID_ARGUMENT` (unlike header extraction, which ignores it).
///
/// # Safety
/// `traceparent` a NUL-terminated string; `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_from_traceparent(
    traceparent: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let tp = str_arg(traceparent, "traceparent")?;
        let headers = vec![("traceparent".to_owned(), tp.to_owned())];
        let cx = crosstrace::Propagators::new(&[crosstrace::PropagatorKind::TraceContext])
            .extract(&headers);
        if cx.span_context().is_none() {
            return Err(ffi::invalid(
                "traceparent",
                tp,
                "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero",
            ));
        }
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Writes to `*out_context` a copy of `context` (NULL: an empty context, whose spans start a
/// new trace) carrying a correlation context of your own: `correlation.id` (the given id,
/// validated, or a new UUID v4 when `id` is NULL), `user.id` and `correlation.operation` (each
/// NULL to omit). The way to continue a caller's trace in a correlation its headers did not
/// carry: `ct_span_start_from` takes the correlation from the context alone. Free the copy
/// with `ct_context_free`.
///
/// # Safety
/// `context` NULL or from `ct_extract*`/`ct_context_*`; each string NULL or NUL-terminated;
/// `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_with_correlation(
    context: *const ct_context,
    id: *const c_char,
    user_id: *const c_char,
    operation: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let c = Correlation::new(
            owned(ffi::opt_str_arg(id, "id")?),
            owned(ffi::opt_str_arg(user_id, "user_id")?),
            owned(ffi::opt_str_arg(operation, "operation")?),
            [],
        )?;
        let cx = if context.is_null() {
            crosstrace::Context::new().with_correlation(c)
        } else {
            ffi::handle(context, "context")?.0.with_correlation(c)
        };
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Builds a context from the shared vectors' JSON shape (see `tests/vectors/`).
///
/// # Safety
/// `json` NUL-terminated; `out_context` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_from_json(
    json: *const c_char,
    out_context: *mut *mut ct_context,
) -> ct_result {
    guard(|| {
        let text = str_arg(json, "json")?;
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ffi::invalid("json", text, "a JSON object"))?;
        let cx = crosstrace::binding::interop::context_from_json(&v)?;
        out(out_context, Box::into_raw(Box::new(ct_context(cx))))
    })
}

/// Writes a context as JSON (`{"span": {...} | null, "baggage": {...}, "correlation": ...}`).
/// Free with `ct_string_free`.
///
/// # Safety
/// `context` from this library; `out_json` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_to_json(
    context: *const ct_context,
    out_json: *mut *mut c_char,
) -> ct_result {
    guard(|| {
        let cx = ffi::handle(context, "context")?;
        out(
            out_json,
            to_c_string(crosstrace::binding::interop::context_to_json(&cx.0).to_string())?,
        )
    })
}

/// Writes the headers of an extracted or built context through `setter`.
///
/// # Safety
/// `context` from this library; `setter` valid.
#[no_mangle]
pub unsafe extern "C" fn ct_context_inject(
    context: *const ct_context,
    setter: ct_header_setter,
    userdata: *mut c_void,
) -> ct_result {
    guard(|| {
        let setter = setter.ok_or_else(|| ffi::null("setter"))?;
        let cx = ffi::handle(context, "context")?;
        let mut headers: Vec<(String, String)> = Vec::new();
        tracing().inject(&cx.0, &mut headers);
        for (k, v) in headers {
            let (k, v) = (ffi::cstring(k)?, ffi::cstring(v)?);
            setter(userdata, k.as_ptr(), v.as_ptr());
        }
        Ok(())
    })
}

/// Frees a context. NULL is a no-op.
///
/// # Safety
/// `context` NULL or from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ct_context_free(context: *mut ct_context) {
    if !context.is_null() {
        drop(Box::from_raw(context));
    }
}

/// Panics inside the library, for testing the panic boundary: returns `CT_ERR_PANIC` with the
/// panic's message in `ct_last_error()`, and the host process goes on.
#[no_mangle]
pub extern "C" fn ct_debug_panic() -> ct_result {
    guard(|| panic!("ct_debug_panic was called"))
}

/// The C name of a result code (`"CT_ERR_CONFIG"`). Static; never free it.
#[no_mangle]
pub extern "C" fn ct_result_name(result: ct_result) -> *const c_char {
    result.name().as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_resource_names_the_callers_language() {
        // What ct_init and ct_init_from_env do with the config they build.
        let config = super::TracingConfig {
            backend: crosstrace::Backend::None,
            ..super::TracingConfig::default()
        };
        assert!(super::install(config).is_ok());
        let t = crosstrace::global();
        let language = t
            .resource()
            .get(&crosstrace::Key::from_static_str("telemetry.sdk.language"))
            .map(|v| v.to_string());
        assert_eq!(language.as_deref(), Some(super::SDK_LANGUAGE));
        let _ = t.shutdown(std::time::Duration::from_secs(1));
    }
}
