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

/// An attribute from a Python value: str, bool, int, float; a list or tuple of them becomes
/// its text (as the OpenTelemetry API allows sequences); `None` is no attribute.
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
        Ok(Some(KeyValue::new(k(), s.to_str()?.to_owned())))
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
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        Ok(Some(KeyValue::new(k(), value.str()?.to_string())))
    } else {
        Err(PyTypeError::new_err(format!(
            "attribute {key:?}: expected str, int, float or bool, got {}",
            value.get_type().name()?
        )))
    }
}

/// The attributes of a dict (its keys must be `str`); `None` values are left out.
pub(crate) fn attributes(attrs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<KeyValue>> {
    let Some(attrs) = attrs else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(attrs.len());
    // The thread's interned keys reached once for the dict, not once per key.
    crosstrace::binding::intern::with_keys(|keys| {
        for (k, v) in attrs.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("attribute keys must be str".to_owned()))?;
            out.extend(key_value_in(keys, key.to_str()?, &v)?);
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
