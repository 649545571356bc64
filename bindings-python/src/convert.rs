//! Python values into the core's: attributes, links, span kinds, times, header text.

use std::time::Duration;

use crosstrace::KeyValue;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::invalid_argument;

/// A link as the package passes it: trace id and span id (hex), trace flags, the `tracestate`
/// header (or None), whether the context is remote, and attributes (a dict, or None).
pub(crate) type LinkArg<'py> = (
    String,
    String,
    u8,
    Option<String>,
    bool,
    Option<Bound<'py, PyAny>>,
);

/// The core's links of `links`. Ids that are not hex give an invalid span context (kept only
/// with attributes or a tracestate, as the core keeps links); a tracestate OpenTelemetry's
/// `TraceState` refuses is left out.
pub(crate) fn links_of(links: Vec<LinkArg<'_>>) -> PyResult<Vec<crosstrace::Link>> {
    use std::str::FromStr;
    links
        .into_iter()
        .map(|(trace_id, span_id, flags, tracestate, remote, attrs)| {
            let sc = crosstrace::SpanContext::new(
                crosstrace::TraceId::from_hex(&trace_id).unwrap_or(crosstrace::TraceId::INVALID),
                crosstrace::SpanId::from_hex(&span_id).unwrap_or(crosstrace::SpanId::INVALID),
                crosstrace::TraceFlags::new(flags),
                remote,
                tracestate
                    .as_deref()
                    .and_then(|h| crosstrace::TraceState::from_str(h).ok())
                    .unwrap_or_default(),
            );
            let attrs = match attrs {
                Some(a) if !a.is_none() => attributes(Some(&as_dict(&a)?))?,
                _ => Vec::new(),
            };
            Ok(crosstrace::Link::new(sc, attrs, 0))
        })
        .collect()
}

/// An attribute from a Python value: str, bool, int, float, or a sequence (list or tuple) of
/// one of them, as the OpenTelemetry API allows. `None` is no attribute. A value of any other
/// type is left out with a warning in health, as the SDK leaves it out with a logged warning:
/// setting an attribute never raises into the program.
pub(crate) fn key_value(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<KeyValue>> {
    crosstrace::binding::intern::with_keys(|keys| key_value_in(keys, key, value))
}

/// [`key_value`] with the thread's interned keys at hand.
#[inline]
fn key_value_in(
    keys: &crosstrace::binding::intern::Keys<'_>,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<Option<KeyValue>> {
    let k = || keys.key(key);
    // Most common first; bool before int (Python's bool is an int).
    if let Ok(s) = value.cast::<PyString>() {
        // Lossy: a lone surrogate (a file name `os.fsdecode` could not decode) becomes U+FFFD
        // rather than an exception out of setting an attribute.
        Ok(Some(KeyValue::new(k(), s.to_string_lossy().into_owned())))
    } else if let Ok(b) = value.cast::<PyBool>() {
        Ok(Some(KeyValue::new(k(), b.is_true())))
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(i) => Ok(Some(KeyValue::new(k(), i))),
            Err(_) => Ok(Some(KeyValue::new(k(), value.str()?.to_string()))),
        }
    } else if value.is_instance_of::<PyFloat>() {
        Ok(Some(KeyValue::new(k(), value.extract::<f64>()?)))
    } else if value.is_none() {
        Ok(None)
    } else {
        match sequence(value)? {
            Ok(array) => Ok(Some(KeyValue::new(k(), crosstrace::Value::Array(array)))),
            Err(what) => {
                left_out(&what);
                Ok(None)
            }
        }
    }
}

/// A list or tuple of one type (str, bool, int within 64 bits, or float) as an array; else
/// what the value is, for the warning.
fn sequence(value: &Bound<'_, PyAny>) -> PyResult<Result<crosstrace::Array, String>> {
    use crosstrace::Array;
    let type_name =
        |v: &Bound<'_, PyAny>| -> PyResult<String> { Ok(v.get_type().name()?.to_string()) };
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = value.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = value.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Ok(Err(type_name(value)?));
    };
    let Some(first) = items.first() else {
        return Ok(Ok(Array::String(Vec::new())));
    };
    let mixed = |v: &Bound<'_, PyAny>| -> PyResult<String> {
        Ok(format!(
            "a sequence mixing {} and {}",
            type_name(first)?,
            type_name(v)?
        ))
    };
    if first.is_instance_of::<PyString>() {
        let text = |v: &Bound<'_, PyAny>| {
            let s = v.cast::<PyString>().ok()?;
            Some(Ok(s.to_string_lossy().into_owned().into()))
        };
        Ok(all(&items, mixed, text)?.map(Array::String))
    } else if first.is_instance_of::<PyBool>() {
        let flag = |v: &Bound<'_, PyAny>| Some(Ok(v.cast::<PyBool>().ok()?.is_true()));
        Ok(all(&items, mixed, flag)?.map(Array::Bool))
    } else if first.is_instance_of::<PyInt>() {
        let int = |v: &Bound<'_, PyAny>| {
            (v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>()).then(|| {
                v.extract::<i64>()
                    .map_err(|_| "a sequence with an int beyond 64 bits".to_owned())
            })
        };
        Ok(all(&items, mixed, int)?.map(Array::I64))
    } else if first.is_instance_of::<PyFloat>() {
        let float = |v: &Bound<'_, PyAny>| {
            v.is_instance_of::<PyFloat>()
                .then(|| v.extract::<f64>().map_err(|e| e.to_string()))
        };
        Ok(all(&items, mixed, float)?.map(Array::F64))
    } else {
        Ok(Err(format!("a sequence of {}", type_name(first)?)))
    }
}

/// Every item through `one` (`None`: not of the sequence's type, then `mixed` says what the
/// sequence was; `Some(Err(why))`: of its type but not representable); what stopped it if any.
fn all<'py, T>(
    items: &[Bound<'py, PyAny>],
    mixed: impl Fn(&Bound<'py, PyAny>) -> PyResult<String>,
    one: impl Fn(&Bound<'py, PyAny>) -> Option<Result<T, String>>,
) -> PyResult<Result<Vec<T>, String>> {
    let mut out = Vec::with_capacity(items.len());
    for v in items {
        match one(v) {
            Some(Ok(x)) => out.push(x),
            Some(Err(why)) => return Ok(Err(why)),
            None => return Ok(Err(mixed(v)?)),
        }
    }
    Ok(Ok(out))
}

/// Warns, as [`left_out`] does, of an attribute whose key is not a `str`.
pub(crate) fn left_out_key(key: &Bound<'_, PyAny>) -> PyResult<()> {
    crate::export::add_warning(&format!(
        "an attribute was left out: its key was of type {}, where str is expected",
        key.get_type().name()?
    ));
    Ok(())
}

/// Warns, in health and on stderr, once per kind of value, that an attribute was left out.
fn left_out(what: &str) {
    crate::export::add_warning(&format!(
        "an attribute was left out: its value was {what}, where str, int, float, bool or a list \
         or tuple of one of them is expected"
    ));
}

/// The attributes of a dict; `None` values are left out, and so (with a warning, see
/// [`key_value`]) are keys that are not `str` and values of other types.
pub(crate) fn attributes(attrs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<KeyValue>> {
    let Some(attrs) = attrs else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(attrs.len());
    // The thread's interned keys reached once for the dict, not once per key.
    crosstrace::binding::intern::with_keys(|keys| {
        for (k, v) in attrs.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                left_out_key(&k)?;
                continue;
            };
            out.extend(key_value_in(keys, &key.to_string_lossy(), &v)?);
        }
        Ok::<_, PyErr>(())
    })?;
    Ok(out)
}

/// `attributes` as a dict: a dict as it is, any other mapping through `dict()`; anything else
/// is a TypeError naming `attributes`.
pub(crate) fn as_dict<'py>(attributes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    if let Ok(d) = attributes.cast::<PyDict>() {
        return Ok(d.clone());
    }
    if attributes.cast::<pyo3::types::PyMapping>().is_err() {
        return Err(PyTypeError::new_err(format!(
            "attributes: expected a mapping of str to str, int, float or bool, got {}",
            attributes.get_type().name()?
        )));
    }
    Ok(attributes
        .py()
        .get_type::<PyDict>()
        .call1((attributes,))?
        .cast_into::<PyDict>()?)
}

/// A span kind by its name: internal, server, client, producer or consumer.
pub(crate) fn span_kind(k: &str) -> PyResult<crosstrace::SpanKind> {
    crosstrace::binding::span::parse_kind(k).ok_or_else(|| {
        invalid_argument(format!(
            "invalid kind={k:?}: expected internal, server, client, producer or consumer"
        ))
    })
}

/// A header name or value as text: `str` (lossy where it is not valid Unicode), `bytes` as
/// latin-1 (what HTTP servers hand over), anything else through `str()`.
pub(crate) fn header_text(v: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = v.cast::<PyString>() {
        return s.to_string_lossy().into_owned();
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return b.as_bytes().iter().map(|&c| char::from(c)).collect();
    }
    v.str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A time given as nanoseconds since the Unix epoch (as the OpenTelemetry API passes it).
pub(crate) fn unix_nanos(ns: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_nanos(ns)
}
