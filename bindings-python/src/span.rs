//! `Span`: the span object itself, what Python code and the OpenTelemetry API see (the API's
//! whole `Span` interface, natively: no Python object wraps it).

use std::borrow::Cow;
use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use crate::context::Context;
use crate::convert::{self, as_dict, key_value, links_of, unix_nanos};
use crate::errors::{guard, invalid_argument};

/// A span: what ``create_span`` yields and what the OpenTelemetry API's tracers return — an
/// ``opentelemetry.trace.Span`` (registered as one by the package). Thread-safe; ending is
/// idempotent.
#[pyclass(frozen, weakref, module = "crosstrace._native")]
pub(crate) struct Span {
    /// Small on purpose (the span, its name and kind): the object is moved a few times on its
    /// way to Python, and the ids and the context for children are read from the span when
    /// asked for (most spans never are).
    inner: Mutex<Inner>,
    kind: crosstrace::SpanKind,
}

struct Inner {
    span: crosstrace::Span,
    /// What `name` shows (the core keeps the name only in recorded spans).
    name: Cow<'static, str>,
    /// What `with span:` does with an `Exception` leaving the block: record its event, set
    /// the error status (the OpenTelemetry API's `start_span` flags; both by default).
    on_exit: (bool, bool),
}

impl Span {
    /// The object of the core's span `span`, named `name`, of kind `kind`.
    pub(crate) fn new(
        span: crosstrace::Span,
        name: Cow<'static, str>,
        kind: crosstrace::SpanKind,
    ) -> Span {
        Span {
            inner: Mutex::new(Inner {
                span,
                name,
                on_exit: (true, true),
            }),
            kind,
        }
    }

    /// Starts the span `b` describes.
    pub(crate) fn from_builder(b: crosstrace::SpanBuilder<'_>) -> Span {
        let (name, kind) = (b.name().clone(), b.span_kind().clone());
        Span::new(b.start(), name, kind)
    }

    /// Runs `f` on the core's span.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut crosstrace::Span) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).span)
    }

    pub(crate) fn span_context(&self) -> crosstrace::SpanContext {
        self.with(|s| s.span_context().clone())
    }

    /// Records `exception` (a Python exception): its `exception` event (type, message, stack
    /// trace), and with `set_status` the error status with its message.
    pub(crate) fn record_exception_of(
        &self,
        exception: &Bound<'_, PyAny>,
        set_status: bool,
    ) -> PyResult<()> {
        let (type_name, message, stack) = exception_parts(exception)?;
        self.with(|s| match set_status {
            true => s.record_exception(&type_name, &message, Some(&stack)),
            false => s.add_exception_event(&type_name, &message, Some(&stack)),
        });
        Ok(())
    }

    /// The `tracestate` this span passes on, if any.
    fn trace_state_header(&self) -> Option<String> {
        self.with(|s| s.context().trace_state_header().map(Cow::into_owned))
    }
}

/// An exception's type (module-qualified outside `builtins`, as opentelemetry-sdk writes it),
/// message and formatted stack trace.
fn exception_parts(exception: &Bound<'_, PyAny>) -> PyResult<(String, String, String)> {
    let py = exception.py();
    let ty = exception.get_type();
    let qualname = ty.qualname()?.to_string();
    let type_name = match ty.module() {
        Ok(m) if m.to_str()? != "builtins" && !m.to_str()?.is_empty() => format!("{m}.{qualname}"),
        _ => qualname,
    };
    let message = exception.str()?.to_string();
    let format = otel_attr(py, &FORMAT_EXCEPTION, "traceback", "format_exception")?;
    let lines = format.call1((&ty, exception, exception.getattr("__traceback__")?))?;
    let stack: String = PyString::new(py, "")
        .call_method1("join", (lines,))?
        .extract()?;
    Ok((type_name, message, stack))
}

/// An attribute of a module of the OpenTelemetry API, imported once.
fn otel_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    Ok(cell
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import(module)?.getattr(name)?.unbind())
        })?
        .bind(py))
}

static SPAN_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TRACE_FLAGS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static SPAN_KIND: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static FORMAT_EXCEPTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static STATUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static STATUS_CODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl Span {
    /// Sets an attribute: str, int, float, bool, or a list or tuple of one of them; None is
    /// ignored, and a value (or key) of another type is left out with a warning in health.
    fn set_attribute(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let Ok(key) = key.cast::<pyo3::types::PyString>() else {
                return convert::left_out_key(key);
            };
            if let Some(kv) = key_value(&key.to_string_lossy(), value)? {
                self.with(|s| s.set_attribute(kv));
            }
            Ok(())
        })
    }

    /// Sets several attributes (a mapping).
    fn set_attributes(&self, attributes: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let kvs = convert::attributes(Some(&as_dict(attributes)?))?;
            self.with(|s| s.set_attributes(kvs));
            Ok(())
        })
    }

    /// Adds an event, now or at `timestamp` (ns since the Unix epoch).
    #[pyo3(signature = (name, attributes=None, timestamp=None))]
    fn add_event(
        &self,
        name: &str,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        guard(|| {
            let a = match attributes {
                Some(a) if !a.is_none() => convert::attributes(Some(&as_dict(a)?))?,
                _ => Vec::new(),
            };
            let name = crosstrace::binding::intern::string(name);
            match timestamp {
                Some(ns) => self.with(|s| s.add_event_at(name, unix_nanos(ns), a)),
                None => self.with(|s| s.add_event(name, a)),
            }
            Ok(())
        })
    }

    /// Adds a link to the span of `context` (an OpenTelemetry `SpanContext`) after the start,
    /// with `attributes` (the sampler saw only the links given at start).
    #[pyo3(signature = (context, attributes=None))]
    fn add_link(
        &self,
        context: &Bound<'_, PyAny>,
        attributes: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        guard(|| {
            let trace_id: u128 = context.getattr("trace_id")?.extract()?;
            let span_id: u64 = context.getattr("span_id")?.extract()?;
            let flags: u8 = context
                .getattr("trace_flags")?
                .call_method0("__int__")?
                .extract()?;
            let tracestate: Option<String> = match context.getattr("trace_state")? {
                ts if ts.is_none() => None,
                ts => Some(ts.call_method0("to_header")?.extract()?),
            };
            let remote: bool = context.getattr("is_remote")?.extract()?;
            let link = (
                format!("{trace_id:032x}"),
                format!("{span_id:016x}"),
                flags,
                tracestate,
                remote,
                attributes,
            );
            for l in links_of(vec![link])? {
                self.with(|s| s.add_link(l));
            }
            Ok(())
        })
    }

    /// Records `exception` as an `exception` event (type, message, stack trace; with
    /// `escaped`, `exception.escaped`; `attributes` added, replacing those by key), at
    /// `timestamp` (ns since the Unix epoch) or now, and sets error status.
    #[pyo3(signature = (exception, attributes=None, timestamp=None, escaped=false))]
    fn record_exception(
        &self,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
        escaped: bool,
    ) -> PyResult<()> {
        guard(|| {
            let mut extra = match attributes {
                Some(a) if !a.is_none() => convert::attributes(Some(&as_dict(a)?))?,
                _ => Vec::new(),
            };
            let escaped_key = crosstrace::span::exception::ESCAPED;
            if escaped && !extra.iter().any(|kv| kv.key.as_str() == escaped_key) {
                extra.insert(0, crosstrace::KeyValue::new(escaped_key, true));
            }
            let (type_name, message, stack) = exception_parts(exception)?;
            let at = timestamp.map(unix_nanos);
            self.with(|s| {
                s.add_exception_event_with(&type_name, &message, Some(&stack), extra, at);
                s.set_status(crosstrace::Status::error(message));
            });
            Ok(())
        })
    }

    /// Sets the status: "ok", "error" or "unset" (the specification), or the API's `Status`
    /// or `StatusCode`.
    #[pyo3(signature = (status, description=None))]
    fn set_status(&self, status: &Bound<'_, PyAny>, description: Option<String>) -> PyResult<()> {
        guard(|| {
            let py = status.py();
            let status_class = otel_attr(py, &STATUS, "opentelemetry.trace", "Status")?;
            let code_class = otel_attr(py, &STATUS_CODE, "opentelemetry.trace", "StatusCode")?;
            let (code, description) = if let Ok(s) = status.cast::<PyString>() {
                (s.to_str()?.to_ascii_lowercase(), description)
            } else if status.is_instance(status_class)? {
                let code = status.getattr("status_code")?;
                // A Status: its code, and its description unless one is given.
                let description = match description {
                    Some(d) if !d.is_empty() => Some(d),
                    _ => status.getattr("description")?.extract()?,
                };
                (
                    code.getattr("name")?
                        .extract::<String>()?
                        .to_ascii_lowercase(),
                    description,
                )
            } else if status.is_instance(code_class)? {
                let name = status.getattr("name")?;
                (name.extract::<String>()?.to_ascii_lowercase(), description)
            } else {
                return Err(PyTypeError::new_err(format!(
                    "status: expected \"ok\", \"error\", \"unset\", a Status or a StatusCode, got {}",
                    status.get_type().name()?
                )));
            };
            let status =
                crosstrace::binding::span::parse_status(&code, description).ok_or_else(|| {
                    invalid_argument(format!(
                        "invalid status={code:?}: expected \"ok\", \"error\" or \"unset\""
                    ))
                })?;
            self.with(|s| s.set_status(status));
            Ok(())
        })
    }

    /// Renames the span.
    fn update_name(&self, name: String) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.name = Cow::Owned(name.clone());
        inner.span.update_name(name);
    }

    /// Ends the span (idempotent), now or at `end_time` (ns since the Unix epoch, as the
    /// OpenTelemetry API passes it).
    #[pyo3(signature = (end_time=None))]
    fn end(&self, end_time: Option<u64>) {
        match end_time {
            Some(ns) => self.with(|s| s.end_at(unix_nanos(ns))),
            None => self.with(|s| s.end()),
        }
    }

    /// Whether the span records (sampled, or measured for the span metrics; not ended).
    fn is_recording(&self) -> bool {
        self.with(|s| s.is_recording())
    }

    /// The span's name.
    #[getter]
    fn name(&self) -> String {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .name
            .to_string()
    }

    /// The span's kind, an `opentelemetry.trace.SpanKind` (instrumentations read it, as on
    /// SDK spans).
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let name = crosstrace::binding::span::kind_name(&self.kind).to_ascii_uppercase();
        otel_attr(py, &SPAN_KIND, "opentelemetry.trace", "SpanKind")?.getattr(name)
    }

    /// The ids as the API's `SpanContext`.
    fn get_span_context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sc = self.span_context();
        let flags = otel_attr(py, &TRACE_FLAGS, "opentelemetry.trace", "TraceFlags")?
            .call1((sc.trace_flags().to_u8(),))?;
        let span_context = otel_attr(py, &SPAN_CONTEXT, "opentelemetry.trace", "SpanContext")?;
        let (trace_id, span_id) = (
            u128::from_be_bytes(sc.trace_id().to_bytes()),
            u64::from_be_bytes(sc.span_id().to_bytes()),
        );
        match self.trace_state_header() {
            // The tracestate as received with the trace, as OpenTelemetry's TraceState.
            Some(h) => {
                let ts = py
                    .import("crosstrace._api")?
                    .getattr("_otel_trace_state")?
                    .call1((h,))?;
                span_context.call1((trace_id, span_id, false, flags, ts))
            }
            None => span_context.call1((trace_id, span_id, false, flags)),
        }
    }

    /// The trace id, 32 hex digits.
    #[getter]
    fn trace_id(&self) -> String {
        self.with(|s| s.trace_id_hex())
    }

    /// The span id, 16 hex digits.
    #[getter]
    fn span_id(&self) -> String {
        self.with(|s| s.span_id_hex())
    }

    /// Whether the sampler kept this span (its trace flags).
    #[getter]
    fn sampled(&self) -> bool {
        self.with(|s| s.span_context().is_sampled())
    }

    /// The context for children of this span.
    fn context(&self) -> Context {
        Context {
            inner: self.with(|s| s.context()),
        }
    }

    /// `with span:` ends the span at the end of the block (as the API's spans do).
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Ends the span; an `Exception` leaving the block is recorded first (its event, and the
    /// error status "Type: message"), as opentelemetry-sdk's spans do, unless the API's
    /// `start_span` was given `record_exception=False` or `set_status_on_exception=False`.
    #[pyo3(signature = (_exc_type=None, exc=None, _tb=None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let this = slf.get();
        let (record, set_status) = this.inner.lock().unwrap_or_else(|e| e.into_inner()).on_exit;
        let recorded = match exc {
            Some(e) if crate::current::recorded(e) && (record || set_status) => {
                crate::current::on_exception(slf.as_any(), e, record, set_status)
            }
            _ => Ok(()),
        };
        this.with(|s| s.end());
        recorded
    }

    /// What `with span:` does with an escaping exception (the API's `start_span` flags).
    fn _on_exit(&self, record_exception: bool, set_status_on_exception: bool) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).on_exit =
            (record_exception, set_status_on_exception);
    }

    fn __repr__(&self) -> String {
        let sc = self.span_context();
        format!(
            "Span(name={:?}, trace_id={}, span_id={})",
            self.name(),
            sc.trace_id(),
            sc.span_id()
        )
    }
}
