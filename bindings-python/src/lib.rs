//! `crosstrace._native`: the Python boundary over the core: conversion, ownership and error
//! mapping, and the span object itself (the OpenTelemetry API's Span interface, so that no
//! Python object wraps it); the pure-Python package `crosstrace` builds the specification's
//! API on it.
//! Export runs on the core's own thread, which never needs the GIL; `force_flush` and
//! `shutdown` release the GIL while they wait.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Mutex;
use std::time::Duration;

/// See Cargo.toml: cross-thread frees without an arena lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crosstrace::{Correlation, ErrorKind, GlobalCopy, KeyValue, Tracing, TracingConfig};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// The exception classes, made when the module is imported (`make_exceptions`): the error
/// kinds of `tests/vectors/error_kinds.json`, each shown as `crosstrace.<name>` (the package
/// re-exports them), under `CrosstraceError`, and under the builtin whose meaning it shares:
/// a bad configuration value is a `ValueError`, a timeout a `TimeoutError` (so `except
/// ValueError` around a `TracingConfig(...)` catches it). No class is named like a builtin.
struct Exceptions {
    base: Py<PyType>,
    config: Py<PyType>,
    exporter_setup: Py<PyType>,
    export: Py<PyType>,
    timeout: Py<PyType>,
    already_shutdown: Py<PyType>,
    invalid_argument: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Makes the exception classes (with `type(name, bases, namespace)`: PyO3's own exceptions take
/// one base) and adds them to `m`.
fn make_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let builtins = py.import("builtins")?;
    let make = |name: &str, bases: Vec<Bound<'_, PyAny>>, doc: &str| -> PyResult<Py<PyType>> {
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "crosstrace")?;
        namespace.set_item("__qualname__", name)?;
        namespace.set_item("__doc__", doc)?;
        let class = builtins
            .getattr("type")?
            .call1((name, PyTuple::new(py, bases)?, namespace))?
            .cast_into::<PyType>()?;
        m.add(name, &class)?;
        Ok(class.unbind())
    };
    let base = make(
        "CrosstraceError",
        vec![py.get_type::<PyException>().into_any()],
        "Base of every crosstrace error.",
    )?;
    let under = |also: Option<&str>| -> PyResult<Vec<Bound<'_, PyAny>>> {
        let mut bases = vec![base.bind(py).clone().into_any()];
        if let Some(b) = also {
            bases.push(builtins.getattr(b)?);
        }
        Ok(bases)
    };
    let exceptions = Exceptions {
        config: make(
            "ConfigError",
            under(Some("ValueError"))?,
            "A configuration value is invalid (also a ValueError).",
        )?,
        exporter_setup: make(
            "ExporterSetupError",
            under(None)?,
            "The exporter could not be set up.",
        )?,
        export: make("ExportError", under(None)?, "Exporting failed.")?,
        timeout: make(
            "CrosstraceTimeoutError",
            under(Some("TimeoutError"))?,
            "An operation (a flush, a shutdown) ran out of time (also the builtin TimeoutError).",
        )?,
        already_shutdown: make(
            "AlreadyShutdownError",
            under(None)?,
            "Tracing was already shut down.",
        )?,
        invalid_argument: make(
            "InvalidArgumentError",
            under(None)?,
            "An argument was invalid.",
        )?,
        base,
    };
    // A second import of the module (a subinterpreter) keeps the first classes.
    let _ = EXCEPTIONS.set(py, exceptions);
    Ok(())
}

/// An exception of the class `pick` chooses, with `msg`.
fn raise(pick: impl FnOnce(&Exceptions) -> &Py<PyType>, msg: String) -> PyErr {
    Python::attach(|py| match EXCEPTIONS.get(py) {
        Some(e) => PyErr::from_type(pick(e).bind(py).clone(), msg),
        None => PyException::new_err(msg),
    })
}

/// `CrosstraceError(msg)`.
fn crosstrace_error(msg: impl Into<String>) -> PyErr {
    raise(|e| &e.base, msg.into())
}

/// `InvalidArgumentError(msg)`.
fn invalid_argument(msg: impl Into<String>) -> PyErr {
    raise(|e| &e.invalid_argument, msg.into())
}

/// The one place where core errors become Python exceptions (the table of
/// `tests/vectors/error_kinds.json`).
fn py_err(e: crosstrace::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::Config => raise(|e| &e.config, msg),
        ErrorKind::ExporterSetup => raise(|e| &e.exporter_setup, msg),
        ErrorKind::Export => raise(|e| &e.export, msg),
        ErrorKind::Timeout => raise(|e| &e.timeout, msg),
        ErrorKind::AlreadyShutdown => raise(|e| &e.already_shutdown, msg),
        ErrorKind::InvalidArgument => invalid_argument(msg),
    }
}

/// Runs `f`, turning a panic (a bug in crosstrace) into `CrosstraceError`: PyO3 would raise
/// `PanicException`, a `BaseException` that `except Exception` does not catch.
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(crosstrace_error(format!(
                "internal error in crosstrace (please report it): {msg}"
            )))
        }
    }
}

fn config_err(e: crosstrace::ConfigError) -> PyErr {
    py_err(e.into())
}

fn tracing() -> Tracing {
    crosstrace::global()
}

/// The configuration read from the environment, normalised, as JSON.
#[pyfunction]
fn config_from_env() -> PyResult<String> {
    guard(|| {
        let c = TracingConfig::from_env().map_err(config_err)?;
        Ok(serde_json::to_string(&c).unwrap_or_default())
    })
}

/// The core's default configuration, as JSON (the Python dataclass's defaults).
#[pyfunction]
fn config_defaults() -> String {
    serde_json::to_string(&TracingConfig::default()).unwrap_or_default()
}

/// Validates a configuration given as JSON (the TracingConfig field names) and returns it
/// normalised; a bad field raises ConfigError naming it.
#[pyfunction]
fn config_normalize(config_json: &str) -> PyResult<String> {
    guard(|| {
        let c = TracingConfig::from_json(config_json).map_err(config_err)?;
        Ok(serde_json::to_string(&c).unwrap_or_default())
    })
}

/// Configures tracing from a normalised configuration (JSON), replacing any earlier setup.
#[pyfunction]
fn init(config_json: &str) -> PyResult<()> {
    guard(|| {
        let c = TracingConfig::from_json(config_json).map_err(config_err)?;
        crosstrace::init(c).map_err(py_err)?;
        // This thread's copy holds the instance just replaced: let it go now (other threads
        // let theirs go at their next span, or when they exit).
        let _ = LOCAL.try_with(|l| {
            let old = l.last.try_borrow_mut().ok().and_then(|mut l| l.take());
            drop(old);
            l.tracing.clear();
        });
        Ok(())
    })
}

/// An immutable propagation context: parent span, baggage, correlation.
#[pyclass(frozen, module = "crosstrace._native")]
#[derive(Clone, Default)]
struct Context {
    inner: crosstrace::Context,
}

#[pymethods]
impl Context {
    /// An empty context (spans under it start new traces).
    #[new]
    fn new() -> Self {
        Context::default()
    }

    /// The correlation id, or None.
    #[getter]
    fn correlation_id(&self) -> Option<String> {
        self.inner.correlation().map(|c| c.id().to_owned())
    }

    /// The correlation context as a dict (id, user_id, operation, fields), or None.
    fn correlation(&self) -> Option<String> {
        self.inner
            .correlation()
            .map(|c| crosstrace::binding::interop::correlation_to_json(Some(c)).to_string())
    }

    /// The parent trace id, or None.
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.trace_id().to_string())
    }

    /// The parent span id, or None.
    #[getter]
    fn span_id(&self) -> Option<String> {
        self.inner.span_context().map(|s| s.span_id().to_string())
    }

    /// Whether the parent is sampled (False without a parent).
    #[getter]
    fn sampled(&self) -> bool {
        self.inner.span_context().is_some_and(|s| s.is_sampled())
    }

    /// The parent's trace flags (sampled 0x01, random 0x02); 0 without a parent.
    #[getter]
    fn trace_flags(&self) -> u8 {
        self.inner
            .span_context()
            .map_or(0, |s| s.trace_flags().to_u8())
    }

    /// The `tracestate` passed on with the parent (as received with its trace), or None.
    #[getter]
    fn tracestate(&self) -> Option<String> {
        self.inner.trace_state_header().map(|h| h.into_owned())
    }

    /// Whether the parent's trace came with a B3 or Jaeger debug flag.
    #[getter]
    fn debug(&self) -> bool {
        self.inner.debug()
    }

    /// A copy carrying a correlation context (a UUID v4 when `id` is None).
    #[pyo3(signature = (id=None, user_id=None, operation=None, fields=None))]
    fn with_correlation(
        &self,
        id: Option<String>,
        user_id: Option<String>,
        operation: Option<String>,
        fields: Option<Vec<(String, String)>>,
    ) -> PyResult<Context> {
        guard(|| {
            let c = Correlation::new(id, user_id, operation, fields.unwrap_or_default())
                .map_err(py_err)?;
            Ok(Context {
                inner: self.inner.with_correlation(c),
            })
        })
    }

    /// A copy whose parent span is `other`'s, with its trace's tracestate and debug flag
    /// (baggage and correlation kept from this one).
    fn with_parent_of(&self, other: &Context) -> Context {
        Context {
            inner: self.inner.with_parent_of(&other.inner),
        }
    }

    /// A copy with a remote parent given as OpenTelemetry's API carries it: ids, the sampled
    /// bit, the whole flags byte (the random flag is kept) and its `tracestate` header.
    #[pyo3(signature = (trace_id, span_id, sampled, trace_flags=None, tracestate=None))]
    fn with_remote_parent(
        &self,
        trace_id: &str,
        span_id: &str,
        sampled: bool,
        trace_flags: Option<u8>,
        tracestate: Option<&str>,
    ) -> PyResult<Context> {
        let sc =
            crosstrace::binding::parse_span_context(trace_id, span_id, sampled).map_err(py_err)?;
        let flags =
            crosstrace::TraceFlags::new((trace_flags.unwrap_or(0) & !1) | u8::from(sampled));
        let sc = crosstrace::SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            flags,
            true,
            Default::default(),
        );
        Ok(Context {
            inner: self
                .inner
                .with_span_context(sc)
                .with_propagated(tracestate, false),
        })
    }

    /// The shared vectors' JSON shape of this context.
    fn to_json(&self) -> String {
        crosstrace::binding::interop::context_to_json(&self.inner).to_string()
    }

    /// A context from the shared vectors' JSON shape.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Context> {
        guard(|| {
            let v: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| invalid_argument(format!("context json: {e}")))?;
            crosstrace::binding::interop::context_from_json(&v)
                .map(|inner| Context { inner })
                .map_err(py_err)
        })
    }
}

/// An instrumentation scope: the name, version and schema URL of a tracer, which its spans
/// are exported under (OTLP groups spans by it). Made once per tracer; interned by the core
/// (the same three give the same scope), so a span takes it for free.
#[pyclass(frozen, module = "crosstrace._native")]
struct Scope {
    inner: crosstrace::Scope,
}

#[pymethods]
impl Scope {
    #[new]
    #[pyo3(signature = (name, version=None, schema_url=None))]
    fn new(name: &str, version: Option<&str>, schema_url: Option<&str>) -> Self {
        Scope {
            inner: crosstrace::Scope::new(name, version, schema_url),
        }
    }

    /// The tracer's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.instrumentation_scope().name()
    }

    /// The tracer's version, or None.
    #[getter]
    fn version(&self) -> Option<&'static str> {
        self.inner.instrumentation_scope().version()
    }

    /// The schema URL, or None.
    #[getter]
    fn schema_url(&self) -> Option<&'static str> {
        self.inner.instrumentation_scope().schema_url()
    }

    fn __repr__(&self) -> String {
        format!(
            "Scope(name={:?}, version={:?}, schema_url={:?})",
            self.name(),
            self.version(),
            self.schema_url()
        )
    }
}

/// A link as the package passes it: trace id and span id (hex), trace flags, the `tracestate`
/// header (or None), whether the context is remote, and attributes (a dict, or None).
type LinkArg<'py> = (
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
fn links_of(links: Vec<LinkArg<'_>>) -> PyResult<Vec<crosstrace::Link>> {
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
fn key_value(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<KeyValue>> {
    let k = || crosstrace::binding::intern::key(key);
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

fn attributes(attrs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<KeyValue>> {
    let Some(attrs) = attrs else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(attrs.len());
    for (k, v) in attrs.iter() {
        let key = k
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("attribute keys must be str".to_owned()))?;
        out.extend(key_value(key.to_str()?, &v)?);
    }
    Ok(out)
}

/// A span: what ``create_span`` yields and what the OpenTelemetry API's tracers return — an
/// ``opentelemetry.trace.Span`` (registered as one by the package). Thread-safe; ending is
/// idempotent.
#[pyclass(frozen, weakref, module = "crosstrace._native")]
struct Span {
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
}

impl Span {
    fn with<R>(&self, f: impl FnOnce(&mut crosstrace::Span) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).span)
    }

    fn span_context(&self) -> crosstrace::SpanContext {
        self.with(|s| s.span_context().clone())
    }

    /// The `tracestate` this span passes on, if any.
    fn trace_state_header(&self) -> Option<String> {
        self.with(|s| s.context().trace_state_header().map(Cow::into_owned))
    }
}

/// `attributes` as a dict: a dict as it is, any other mapping through `dict()`; anything else
/// is a TypeError naming `attributes`.
fn as_dict<'py>(attributes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
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
    /// Sets an attribute (str, int, float or bool; None is ignored).
    fn set_attribute(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            if let Some(kv) = key_value(key, value)? {
                self.with(|s| s.set_attribute(kv));
            }
            Ok(())
        })
    }

    /// Sets several attributes (a mapping).
    fn set_attributes(&self, attributes: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let kvs = self::attributes(Some(&as_dict(attributes)?))?;
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
                Some(a) if !a.is_none() => self::attributes(Some(&as_dict(a)?))?,
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

    /// Records `exception` as an event (type, message, stack trace) and sets error status.
    #[pyo3(signature = (exception, attributes=None, timestamp=None, escaped=false))]
    fn record_exception(
        &self,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
        escaped: bool,
    ) -> PyResult<()> {
        let _ = (attributes, timestamp, escaped);
        guard(|| {
            let py = exception.py();
            let ty = exception.get_type();
            let type_name = ty.qualname()?.to_string();
            let message = exception.str()?.to_string();
            let format = otel_attr(py, &FORMAT_EXCEPTION, "traceback", "format_exception")?;
            let lines = format.call1((&ty, exception, exception.getattr("__traceback__")?))?;
            let stack: String = PyString::new(py, "")
                .call_method1("join", (lines,))?
                .extract()?;
            self.with(|s| s.record_exception(&type_name, &message, Some(&stack)));
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

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) {
        self.with(|s| s.end());
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

/// Starts the span `b` describes.
fn start(b: crosstrace::SpanBuilder<'_>) -> Span {
    let (name, kind) = (b.name().clone(), b.span_kind().clone());
    let span = b.start();
    Span {
        inner: Mutex::new(Inner { span, name }),
        kind,
    }
}

fn kind(k: &str) -> PyResult<crosstrace::SpanKind> {
    crosstrace::binding::span::parse_kind(k).ok_or_else(|| {
        invalid_argument(format!(
            "invalid kind={k:?}: expected internal, server, client, producer or consumer"
        ))
    })
}

/// Starts a span under `parent`, now or at `start_time` (ns since the Unix epoch), in `scope`
/// (a tracer's; crosstrace's own when None), with `links` (see [`LinkArg`]).
#[pyfunction]
#[pyo3(signature = (name, parent, kind="internal", attributes=None, start_time=None, scope=None, links=None))]
#[allow(clippy::too_many_arguments)]
fn start_span<'py>(
    py: Python<'py>,
    name: &str,
    parent: &Context,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    start_time: Option<u64>,
    scope: Option<&Scope>,
    links: Option<Vec<LinkArg<'py>>>,
) -> PyResult<Bound<'py, Span>> {
    guard(|| {
        let more = More {
            start_time_ns: start_time,
            scope: scope.map(|s| s.inner),
            links: match links {
                Some(l) if !l.is_empty() => links_of(l)?,
                _ => Vec::new(),
            },
        };
        crosstrace::binding::with_global(|t| {
            start_with(t, py, name, kind, attributes, &parent.inner, more)
        })
    })
}

/// What a span may start with besides its name, kind, attributes and parent: a start time
/// (ns since the Unix epoch), a tracer's scope, links.
#[derive(Default)]
struct More {
    start_time_ns: Option<u64>,
    scope: Option<crosstrace::Scope>,
    links: Vec<crosstrace::Link>,
}

/// Starts a span under `parent`, now, as its Python object.
fn start_under<'py>(
    py: Python<'py>,
    name: &str,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    parent: &crosstrace::Context,
) -> PyResult<Bound<'py, Span>> {
    crosstrace::binding::with_global(|t| {
        start_with(t, py, name, kind, attributes, parent, More::default())
    })
}

/// [`start_under`] with the tracing instance `t`, and `more`. (The span is written once, where
/// its object is made: it is moved as little as possible on the way.)
fn start_with<'py>(
    t: &Tracing,
    py: Python<'py>,
    name: &str,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    parent: &crosstrace::Context,
    more: More,
) -> PyResult<Bound<'py, Span>> {
    let kind = self::kind(kind)?;
    let name = crosstrace::binding::intern::string(name);
    // Attributes a sampled-out span would drop unread are not converted (nor checked: the SDK
    // does not check them for such a span either).
    let attrs = match attributes {
        Some(a) if !a.is_none() && !t.ignores_attributes(parent, &kind) => {
            self::attributes(Some(&as_dict(a)?))?
        }
        _ => Vec::new(),
    };
    let span = match more {
        More {
            start_time_ns: None,
            scope,
            links,
        } if links.is_empty() => match scope {
            None => t.start_now(Some(parent), name.clone(), kind.clone(), attrs),
            Some(scope) => t.start_now_in(scope, Some(parent), name.clone(), kind.clone(), attrs),
        },
        More {
            start_time_ns,
            scope,
            links,
        } => {
            let mut b = t
                .span(name.clone())
                .kind(kind.clone())
                .attributes(attrs)
                .parent_context(parent)
                .scope(scope.unwrap_or_default())
                .links(links);
            if let Some(ns) = start_time_ns {
                b = b.start_time(unix_nanos(ns));
            }
            b.start()
        }
    };
    Bound::new(
        py,
        Span {
            inner: Mutex::new(Inner { span, name }),
            kind,
        },
    )
}

/// What `start_span_here` reads OpenTelemetry's context with, and falls back to
/// (`set_context_keys`).
struct ContextKeys {
    crosstrace: Py<PyAny>,
    span: Py<PyAny>,
    /// The API's `INVALID_SPAN`: no current span.
    invalid_span: Py<PyAny>,
    /// Returns OpenTelemetry's current context (a dict).
    get_current: Py<PyAny>,
    /// The package's `_start_span_elsewhere`, for every other case (an explicit parent, a
    /// start time, another tracer's current span), with `start_span_here`'s arguments. (Not
    /// `start_span_here` itself, which would call itself.)
    general: Py<PyAny>,
    /// Whether `get_current` reads the API's own contextvars runtime, whose context objects are
    /// never changed once made: then the parent derived from one is kept ([`LastParent`]).
    cache_parent: bool,
}

static CONTEXT_KEYS: PyOnceLock<ContextKeys> = PyOnceLock::new();

/// Tells `start_span_here` how to read OpenTelemetry's context (its keys, the API's
/// `INVALID_SPAN`, the function returning the current context) and what to call in the other
/// cases (once, at import).
#[pyfunction]
fn set_context_keys(
    py: Python<'_>,
    crosstrace_key: Py<PyAny>,
    span_key: Py<PyAny>,
    invalid_span: Py<PyAny>,
    get_current: Py<PyAny>,
    general: Py<PyAny>,
    cache_parent: bool,
) -> PyResult<()> {
    CONTEXT_KEYS
        .set(
            py,
            ContextKeys {
                crosstrace: crosstrace_key,
                span: span_key,
                invalid_span,
                get_current,
                general,
                cache_parent,
            },
        )
        // A second call (the package's module reloaded) would make new keys that spans
        // started here never read: refused, not ignored.
        .map_err(|_| {
            crosstrace_error(
                "set_context_keys: already set (crosstrace._api was loaded twice in this process)",
            )
        })
}

/// A span under the current one, from OpenTelemetry's current context `current`: its
/// crosstrace context and its current span (a crosstrace span, `INVALID_SPAN` or none) are the
/// parent. `None` when the current span is another tracer's.
fn start_current<'py>(
    keys: &ContextKeys,
    name: &str,
    current: &Bound<'py, PyDict>,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, Span>>> {
    let py = current.py();
    if keys.cache_parent {
        if let Some(started) = start_cached(current, name, kind, attributes) {
            return started;
        }
    }
    let parent = parent_in(keys, current)?;
    if keys.cache_parent {
        remember(current, &parent);
    }
    match parent {
        Some(parent) => start_under(py, name, kind, attributes, &parent).map(Some),
        None => Ok(None),
    }
}

/// [`start_current`] from the thread's [`LastParent`] when `current` is the context object it
/// holds, with the thread's copy of the tracing instance: `None` on a miss. The span starts
/// while the cache is borrowed (shared): Python code it runs (a mapping's attributes) may start
/// spans here, which then find the cache borrowed and do not replace it ([`remember`]).
fn start_cached<'py>(
    current: &Bound<'py, PyDict>,
    name: &str,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
) -> Option<PyResult<Option<Bound<'py, Span>>>> {
    LOCAL
        .try_with(|l| {
            let last = l.last.try_borrow().ok()?;
            let e = last.as_ref().filter(|e| e.current.is(current))?;
            Some(match &e.parent {
                Some(parent) => l
                    .tracing
                    .with(|t| {
                        start_with(
                            t,
                            current.py(),
                            name,
                            kind,
                            attributes,
                            parent,
                            More::default(),
                        )
                    })
                    .map(Some),
                None => Ok(None),
            })
        })
        .ok()
        .flatten()
}

/// Makes `current` and the `parent` derived from it this thread's [`LastParent`] (unless a
/// caller further up holds the cache).
fn remember(current: &Bound<'_, PyDict>, parent: &Option<crosstrace::Context>) {
    let replaced = LOCAL.try_with(|l| {
        let mut last = l.last.try_borrow_mut().ok()?;
        last.replace(LastParent {
            current: current.clone().into_any().unbind(),
            parent: parent.clone(),
        })
    });
    // Dropped once the cache is no longer borrowed: dropping a context can run Python code (a
    // `__del__`, a weakref callback) that starts a span.
    drop(replaced);
}

/// The parent context that OpenTelemetry's context `current` gives a span: its crosstrace
/// context with its current span (a crosstrace span, `INVALID_SPAN` or none). `None` when the
/// current span is another tracer's.
fn parent_in(
    keys: &ContextKeys,
    current: &Bound<'_, PyDict>,
) -> PyResult<Option<crosstrace::Context>> {
    let py = current.py();
    let span = current.get_item(keys.span.bind(py))?;
    let parent_span = match &span {
        None => None,
        Some(s) if s.is(keys.invalid_span.bind(py)) => None,
        Some(s) => match s.cast::<Span>() {
            Ok(s) => Some(s.get().span_context()),
            Err(_) => return Ok(None),
        },
    };
    let cx = current.get_item(keys.crosstrace.bind(py))?;
    let base = cx.as_ref().and_then(|c| c.cast::<Context>().ok());
    let base = base.map_or_else(crosstrace::Context::default, |c| c.get().inner.clone());
    Ok(Some(match parent_span {
        Some(sc) if sc.is_valid() => base.with_span_context(sc),
        _ => base,
    }))
}

/// The parent that spans started under one OpenTelemetry context object get, kept for the
/// next span under the same object (spans in a loop, a request's spans): the context's two
/// dict lookups and the merge happen once per context, not once per span. Only with the API's
/// own contextvars runtime, whose contexts are not changed once made (`set_value` copies); the
/// object is held while cached, so it is the same context while its address is. (The last
/// context a thread started a span under, and what it holds, stay alive until the thread starts
/// a span under another context or exits; `init` lets go of the calling thread's.)
struct LastParent {
    current: Py<PyAny>,
    /// `None`: the current span is another tracer's.
    parent: Option<crosstrace::Context>,
}

/// What a thread keeps for `start_span_here`, in one thread-local (a native extension reaches
/// each thread-local through a call): the last parent, and the thread's copy of the tracing
/// instance, which a hit starts its span with (an instance replaced by `init` finishes
/// exporting what it queued once every thread has let go of its copy).
struct Local {
    last: RefCell<Option<LastParent>>,
    tracing: GlobalCopy,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            last: RefCell::new(None),
            tracing: GlobalCopy::new(),
        }
    };
}

/// Starts a span (not made current), now or at ``start_time`` (ns since the Unix epoch); end
/// it with ``span.end()``. Its parent is ``parent`` (a span or a context), or else the current
/// span and context.
#[pyfunction]
#[pyo3(signature = (name, attributes=None, kind="internal", parent=None, start_time=None))]
fn start_span_here<'py>(
    py: Python<'py>,
    name: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    kind: &str,
    parent: Option<&Bound<'py, PyAny>>,
    start_time: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(keys) = CONTEXT_KEYS.get(py) else {
        return Err(crosstrace_error("set_context_keys was not called"));
    };
    // The common call, whole in here: under the current span, now.
    if parent.is_none_or(|p| p.is_none()) && start_time.is_none_or(|s| s.is_none()) {
        let current = keys.get_current.bind(py).call0()?;
        if let Ok(current) = current.cast::<PyDict>() {
            if let Some(span) = guard(|| start_current(keys, name, current, kind, attributes))? {
                return Ok(span.into_any());
            }
        }
    }
    keys.general
        .bind(py)
        .call1((name, attributes, kind, parent, start_time))
}

/// Starts an ETL operation span (`etl.operation`, `etl.stage`).
#[pyfunction]
fn start_etl_span(operation: &str, stage: &str, parent: &Context) -> Span {
    crosstrace::binding::with_global(|t| {
        start(t.etl_span(operation, stage).parent_context(&parent.inner))
    })
}

/// Starts a database client span named `"{operation} {table}"`.
#[pyfunction]
fn start_db_span(system: &str, operation: &str, table: &str, parent: &Context) -> Span {
    crosstrace::binding::with_global(|t| {
        start(
            t.db_span(system, operation, table)
                .parent_context(&parent.inner),
        )
    })
}

/// Sets ETL record counts on a span.
#[pyfunction]
#[pyo3(signature = (span, input=None, output=None, rejected=None))]
fn set_etl_records(span: &Span, input: Option<u64>, output: Option<u64>, rejected: Option<u64>) {
    span.with(|s| s.set_etl_records(input, output, rejected));
}

/// The propagation headers of `context`, as a dict.
#[pyfunction]
fn inject(context: &Context) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    tracing().inject(&context.inner, &mut headers);
    headers
}

/// A context from headers: any iterable of (name, value) pairs, each `str` or `bytes` (raw
/// ASGI lines are latin-1), a name possibly repeated. Nothing in them makes it raise: text that
/// is not valid Unicode (a lone surrogate) is read with U+FFFD in its place, an item that is not
/// a pair is skipped, and a failing iterator ends the headers there.
#[pyfunction]
fn extract(headers: &Bound<'_, PyAny>) -> Context {
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

/// A header name or value as text: `str` (lossy where it is not valid Unicode), `bytes` as
/// latin-1 (what HTTP servers hand over), anything else through `str()`.
fn header_text(v: &Bound<'_, PyAny>) -> String {
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

fn unix_nanos(ns: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_nanos(ns)
}

/// The span-derived metrics in the Prometheus text format (empty when metrics are off).
#[pyfunction]
fn metrics_text() -> String {
    tracing().metrics_text()
}

/// The headers the configured propagators write (and `x-correlation-id`).
#[pyfunction]
fn propagation_fields() -> Vec<&'static str> {
    tracing().propagators().fields()
}

/// `url` as crosstrace records it: userinfo and secret query values redacted (the policy of
/// the configuration in force, `redact_keys`).
#[pyfunction]
fn redact_url(url: &str) -> String {
    tracing().redaction().url(url).into_owned()
}

/// A query string with its secret parameters' values redacted.
#[pyfunction]
fn redact_query(query: &str) -> String {
    tracing().redaction().query(query).into_owned()
}

/// Free text (a message) with the secrets in it redacted: URLs, `key=value` pairs, tokens.
#[pyfunction]
fn redact_text(text: &str) -> String {
    tracing().redaction().text(text).into_owned()
}

/// A request or response body as crosstrace records it: secret fields of JSON, form and
/// multipart bodies redacted, then cut to `max_bytes` (the configuration's `max_body_bytes`
/// when None); None for a body that is not recorded (binary, or a cap of 0).
#[pyfunction]
#[pyo3(signature = (content_type, body, max_bytes=None))]
fn redact_body(content_type: &str, body: &[u8], max_bytes: Option<usize>) -> Option<String> {
    let t = tracing();
    let max = max_bytes
        .unwrap_or(t.config().max_body_bytes)
        .min(crosstrace::config::bounds::MAX_BODY_BYTES);
    t.redaction().body(content_type, body, max)
}

/// The health report as JSON.
#[pyfunction]
fn health() -> String {
    tracing().health().to_json()
}

/// Adds a warning to the health report's `warnings` and logs it on stderr, once per message
/// (a problem found while running: another SDK took the OpenTelemetry API's provider, say).
/// Whether it was new.
#[pyfunction]
fn add_warning(message: &str) -> bool {
    tracing().add_warning(message)
}

/// Exports everything queued (the GIL is released while waiting).
#[pyfunction]
fn force_flush(py: Python<'_>, timeout_seconds: f64) -> PyResult<()> {
    guard(|| {
        let timeout = timeout_arg(timeout_seconds)?;
        let t = tracing();
        py.detach(|| t.force_flush(timeout)).map_err(py_err)
    })
}

/// A call's timeout: 0 to an hour of seconds (NaN, negative or infinite refused, naming it).
fn timeout_arg(seconds: f64) -> PyResult<Duration> {
    if (0.0..=3600.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(invalid_argument(format!(
            "invalid timeout={seconds:?}: expected a number of seconds from 0 to 3600"
        )))
    }
}

/// Exports what is queued within the timeout, then stops; returns how many spans could not be
/// sent. Idempotent: a second call returns 0.
#[pyfunction]
fn shutdown(py: Python<'_>, timeout_seconds: f64) -> PyResult<u64> {
    guard(|| {
        let timeout = timeout_arg(timeout_seconds)?;
        let t = tracing();
        match py.detach(|| t.shutdown(timeout)) {
            Ok(report) => Ok(report.unsent),
            Err(crosstrace::Error::AlreadyShutdown) => Ok(0),
            Err(e) => Err(py_err(e)),
        }
    })
}

/// Panics inside the native module, to prove the boundary: raises CrosstraceError (an
/// `Exception`), never a `BaseException`.
#[pyfunction]
fn _debug_panic() -> PyResult<()> {
    guard(|| panic!("_debug_panic was called"))
}

/// The current correlation context of the thread is Python's business (contextvars); this
/// module only offers validation.
#[pyfunction]
fn validate_correlation_id(id: &str) -> PyResult<()> {
    crosstrace::context::correlation::validate_id(id).map_err(py_err)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The runtime calling the core, for the resource (`telemetry.sdk.language`).
    crosstrace::binding::resource::set_sdk_language("python");
    make_exceptions(m)?;
    m.add_class::<Context>()?;
    m.add_class::<Scope>()?;
    m.add_class::<Span>()?;
    m.add_function(wrap_pyfunction!(config_from_env, m)?)?;
    m.add_function(wrap_pyfunction!(config_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_function(wrap_pyfunction!(start_span, m)?)?;
    m.add_function(wrap_pyfunction!(start_span_here, m)?)?;
    m.add_function(wrap_pyfunction!(set_context_keys, m)?)?;
    m.add_function(wrap_pyfunction!(start_etl_span, m)?)?;
    m.add_function(wrap_pyfunction!(start_db_span, m)?)?;
    m.add_function(wrap_pyfunction!(set_etl_records, m)?)?;
    m.add_function(wrap_pyfunction!(inject, m)?)?;
    m.add_function(wrap_pyfunction!(extract, m)?)?;
    m.add_function(wrap_pyfunction!(health, m)?)?;
    m.add_function(wrap_pyfunction!(add_warning, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(propagation_fields, m)?)?;
    m.add_function(wrap_pyfunction!(force_flush, m)?)?;
    m.add_function(wrap_pyfunction!(config_defaults, m)?)?;
    for f in [
        wrap_pyfunction!(redact_url, m)?,
        wrap_pyfunction!(redact_query, m)?,
        wrap_pyfunction!(redact_text, m)?,
        wrap_pyfunction!(redact_body, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(validate_correlation_id, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
