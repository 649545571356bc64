//! Propagation: a context's headers (inject) and a context from headers in any shape
//! (extract), through the configured propagators.

use pyo3::prelude::*;

use crate::context::Context;
use crate::convert::header_text;
use crate::tracing;

/// The propagation headers of `context`, as a dict.
#[pyfunction]
pub(crate) fn inject(context: &Context) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    tracing().inject(&context.inner, &mut headers);
    headers
}

/// A context from headers: any iterable of (name, value) pairs, each `str` or `bytes` (raw
/// ASGI lines are latin-1), a name possibly repeated. Nothing in them makes it raise: text that
/// is not valid Unicode (a lone surrogate) is read with U+FFFD in its place, an item that is not
/// a pair is skipped, and a failing iterator ends the headers there.
#[pyfunction]
pub(crate) fn extract(headers: &Bound<'_, PyAny>) -> Context {
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Ok(iter) = headers.try_iter() {
        for item in iter {
            let Ok(item) = item else { break };
            let Ok((name, value)) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() else {
                continue;
            };
            lines.push((header_text(&name), header_text(&value)));
        }
    }
    Context {
        inner: tracing().extract(&lines),
    }
}

/// The one format `name` (`b3`, `b3multi`, `jaeger`, `tracecontext`, `baggage`), whatever the
/// configured propagators: for the propagator the OpenTelemetry API loads under that name.
fn one_format(name: &str) -> PyResult<crosstrace::Propagators> {
    let kind: crosstrace::PropagatorKind = name.parse().map_err(|()| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "invalid propagator={name:?}: expected {}",
            crosstrace::PropagatorKind::ACCEPTED
        ))
    })?;
    Ok(crosstrace::Propagators::new(&[kind]))
}

/// The headers of `context` in the one format `name`: the core's propagator of it (no
/// `x-correlation-id`, which is crosstrace's own).
#[pyfunction]
pub(crate) fn inject_format(context: &Context, name: &str) -> PyResult<Vec<(String, String)>> {
    let mut headers: Vec<(String, String)> = Vec::new();
    one_format(name)?.inject(&context.inner, &mut headers);
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(crosstrace::context::correlation::HEADER));
    Ok(headers)
}

/// A context from `(name, value)` lines read in the one format `name` only.
#[pyfunction]
pub(crate) fn extract_format(lines: Vec<(String, String)>, name: &str) -> PyResult<Context> {
    Ok(Context {
        inner: one_format(name)?.extract(&lines),
    })
}

/// The headers the configured propagators write (and `x-correlation-id`).
#[pyfunction]
pub(crate) fn propagation_fields() -> Vec<&'static str> {
    tracing().propagators().fields()
}

/// The headers extraction reads, by name (and `x-correlation-id`; `uberctx-*` aside): asked of
/// a carrier whose getter lists none of its keys (Celery's and pika's).
#[pyfunction]
pub(crate) fn extraction_fields() -> Vec<&'static str> {
    tracing().propagators().extract_fields()
}
