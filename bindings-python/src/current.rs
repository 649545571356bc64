//! The package's `start_span`: a span under OpenTelemetry's current context (crosstrace's
//! context and the current span read from its dict), started here whole in the common case; the
//! parent derived from the last context object is kept per thread, beside the thread's copy of
//! the tracing instance. Every other case is handed back to the package's Python
//! (`start_in_python`).

use std::cell::RefCell;

use crosstrace::binding::GlobalCopy;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::context::Context;
use crate::errors::{crosstrace_error, guard};
use crate::scope::Scope;
use crate::span::Span;
use crate::start::{make_span, StartOptions};

/// What `start_span` reads OpenTelemetry's context with, and hands the other cases to
/// (`set_context_keys`).
struct ContextKeys {
    crosstrace: Py<PyAny>,
    span: Py<PyAny>,
    /// The API's `INVALID_SPAN`: no current span.
    invalid_span: Py<PyAny>,
    /// Returns OpenTelemetry's current context (a dict).
    get_current: Py<PyAny>,
    /// The package's `_start_span_in_python`, which starts the span in every case this module
    /// does not (an explicit parent, a start time, another tracer's current span), with
    /// `start_span`'s arguments. (Not the package's `start_span`, which is this module's and
    /// would call itself.)
    start_in_python: Py<PyAny>,
    /// Whether `get_current` reads the API's own contextvars runtime, whose context objects are
    /// never changed once made: then the parent derived from one is kept ([`LastParent`]).
    cache_parent: bool,
    /// How a [`SpanBlock`] makes its span current and lets it go.
    attach: Attach,
}

/// How a [`SpanBlock`] makes its span current: with the API's own contextvars runtime, here
/// (its context variable set to a copy of the current context with the span in it, as the
/// package's `_attach_span` does); with another runtime, through the package's `_attach_span`
/// and `_detach`, which go through the API.
struct Attach {
    /// The `set` and `reset` methods of the API runtime's context variable (bound once: a
    /// method looked up per call is an object made and freed), when it is its own contextvars
    /// runtime.
    current_var: Option<(Py<PyAny>, Py<PyAny>)>,
    /// `opentelemetry.context.Context`.
    context_type: Py<PyAny>,
    /// The package's `_attach_span(span, own_context)`, returning the token.
    attach_span: Py<PyAny>,
    /// The package's `_detach(token)`.
    detach: Py<PyAny>,
    /// The package's `_decorate_block(block, func)`: what a `create_span` used as a decorator
    /// does (`contextlib.ContextDecorator`'s call, a coroutine's or generator's body included).
    decorate: Py<PyAny>,
}

static CONTEXT_KEYS: PyOnceLock<ContextKeys> = PyOnceLock::new();

/// Tells `start_span` how to read OpenTelemetry's context (its keys, the API's
/// `INVALID_SPAN`, the function returning the current context) and what to call in the other
/// cases, and `SpanBlock` how to make a span current (once, at import).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_context_keys(
    py: Python<'_>,
    crosstrace_key: Py<PyAny>,
    span_key: Py<PyAny>,
    invalid_span: Py<PyAny>,
    get_current: Py<PyAny>,
    start_in_python: Py<PyAny>,
    cache_parent: bool,
    current_var: Option<Py<PyAny>>,
    context_type: Py<PyAny>,
    attach_span: Py<PyAny>,
    detach: Py<PyAny>,
    decorate: Py<PyAny>,
) -> PyResult<()> {
    let current_var = match current_var {
        Some(var) => {
            let var = var.bind(py);
            Some((var.getattr("set")?.unbind(), var.getattr("reset")?.unbind()))
        }
        None => None,
    };
    CONTEXT_KEYS
        .set(
            py,
            ContextKeys {
                crosstrace: crosstrace_key,
                span: span_key,
                invalid_span,
                get_current,
                start_in_python,
                cache_parent,
                attach: Attach {
                    current_var,
                    context_type,
                    attach_span,
                    detach,
                    decorate,
                },
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
fn start_under_current<'py>(
    keys: &ContextKeys,
    name: &str,
    current: &Bound<'py, PyDict>,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    scope: Option<crosstrace::Scope>,
) -> PyResult<Option<Bound<'py, Span>>> {
    let py = current.py();
    if keys.cache_parent {
        if let Some(started) = start_under_cached_parent(current, name, kind, attributes, scope) {
            return started;
        }
    }
    let parent = parent_in_context(keys, current)?;
    if keys.cache_parent {
        remember_parent(current, &parent);
    }
    match parent {
        Some(parent) => crosstrace::binding::with_global(|t| {
            make_span(
                t,
                py,
                name,
                kind,
                attributes,
                &parent,
                StartOptions::in_scope(scope),
            )
        })
        .map(Some),
        None => Ok(None),
    }
}

/// [`start_under_current`] from the thread's [`LastParent`] when `current` is the context object it
/// holds, with the thread's copy of the tracing instance: `None` on a miss. The span starts
/// while the cache is borrowed (shared): Python code it runs (a mapping's attributes) may start
/// spans here, which then find the cache borrowed and do not replace it ([`remember_parent`]).
fn start_under_cached_parent<'py>(
    current: &Bound<'py, PyDict>,
    name: &str,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    scope: Option<crosstrace::Scope>,
) -> Option<PyResult<Option<Bound<'py, Span>>>> {
    LOCAL
        .try_with(|l| {
            let last = l.last.try_borrow().ok()?;
            let e = last.as_ref().filter(|e| e.current.is(current))?;
            Some(match &e.parent {
                Some(parent) => l
                    .tracing
                    .with(|t| {
                        make_span(
                            t,
                            current.py(),
                            name,
                            kind,
                            attributes,
                            parent,
                            StartOptions::in_scope(scope),
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
fn remember_parent(current: &Bound<'_, PyDict>, parent: &Option<crosstrace::Context>) {
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
fn parent_in_context(
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

/// What a thread keeps for `start_span`, in one thread-local (a native extension reaches
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
pub(crate) fn start_span<'py>(
    py: Python<'py>,
    name: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    kind: &str,
    parent: Option<&Bound<'py, PyAny>>,
    start_time: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    start_with(py, keys(py)?, name, attributes, kind, parent, start_time)
}

/// ``func(*args, **kwargs)`` inside a new span ``name`` of ``kind`` made current (under the
/// current span): what a function decorated with ``trace_function`` does per call. An exception
/// escaping ``func`` is recorded on the span as a with-block records it, and re-raised; if the
/// span cannot be started, ``func`` runs untraced (tracing never fails the traced call).
#[pyfunction]
#[pyo3(signature = (name, kind, func, args, kwargs=None))]
pub(crate) fn call_traced<'py>(
    py: Python<'py>,
    name: &str,
    kind: &str,
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let span = keys(py).and_then(|k| start_with(py, k, name, None, kind, None, None));
    match span {
        Ok(span) => call_in_span(py, &span, func, args, kwargs),
        // An `Exception` is tracing's own failure; a `KeyboardInterrupt` meanwhile is the
        // user's, and goes up.
        Err(e) if e.is_instance_of::<PyException>(py) => func.call(args, kwargs),
        Err(e) => Err(e),
    }
}

/// ``func(*args, **kwargs)`` with ``span`` (started by the caller) made current, then ended:
/// what the ETL and database decorators do per call, and [`call_traced`] once it started its
/// span. What goes wrong in tracing itself (making the span current, recording, letting it go)
/// never replaces the call's own result or exception: the package's `_detach` logs a token it
/// cannot reset, as the API does.
#[pyfunction]
#[pyo3(signature = (span, func, args, kwargs=None))]
pub(crate) fn call_in_span<'py>(
    py: Python<'py>,
    span: &Bound<'py, PyAny>,
    func: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let token = keys(py).and_then(|k| attach(py, &k.attach, span, false));
    let Ok(token) = token else {
        let _ = end(span);
        return func.call(args, kwargs);
    };
    let result = func.call(args, kwargs);
    if let Err(err) = &result {
        let e = err.value(py);
        // The traceback travels beside the exception until it is raised again: the recorded
        // stack trace reads it from the exception, as after Python's own `except`.
        if let Some(tb) = err.traceback(py) {
            let _ = e.setattr(intern!(py, "__traceback__"), tb);
        }
        if recorded(e) {
            let _ = span.call_method1(intern!(py, "record_exception"), (e,));
        }
    }
    if let Ok(k) = keys(py) {
        let _ = detach(py, &k.attach, token.bind(py));
    }
    let _ = end(span);
    result
}

fn keys(py: Python<'_>) -> PyResult<&ContextKeys> {
    CONTEXT_KEYS
        .get(py)
        .ok_or_else(|| crosstrace_error("set_context_keys was not called"))
}

/// [`start_span`] with the keys read.
fn start_with<'py>(
    py: Python<'py>,
    keys: &ContextKeys,
    name: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    kind: &str,
    parent: Option<&Bound<'py, PyAny>>,
    start_time: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    // The common call, whole in here: under the current span, now.
    if parent.is_none_or(|p| p.is_none()) && start_time.is_none_or(|s| s.is_none()) {
        let current = keys.get_current.bind(py).call0()?;
        if let Ok(current) = current.cast::<PyDict>() {
            if let Some(span) =
                guard(|| start_under_current(keys, name, current, kind, attributes, None))?
            {
                return Ok(span.into_any());
            }
        }
    }
    keys.start_in_python
        .bind(py)
        .call1((name, attributes, kind, parent, start_time))
}

/// Lets go of this thread's last parent and its copy of the tracing instance (`init`: the copy
/// holds the instance just replaced; other threads let theirs go at their next span, or when
/// they exit).
pub(crate) fn let_go_of_this_thread() {
    let _ = LOCAL.try_with(|l| {
        let old = l.last.try_borrow_mut().ok().and_then(|mut l| l.take());
        drop(old);
        l.tracing.clear();
    });
}

/// A span that is current inside a with-block: started when the block is entered (under
/// ``parent``, a span or a context such as ``extract`` gives, else the current span and
/// context; at ``start_time``, ns since the Unix epoch, else now), ended when it is left. An
/// exception escaping the block is recorded on the span (an ``Exception``: not
/// ``GeneratorExit``, ``KeyboardInterrupt``, ``SystemExit`` or ``CancelledError``) and
/// re-raised. One block at a time per object.
/// Also a decorator: a new span per call.
//
// (Native because a with-block is how Python code most often makes a span: in Python, entering
// and leaving cost as much as the span itself.)
#[pyclass(module = "crosstrace._native", name = "create_span")]
pub(crate) struct SpanBlock {
    name: Py<PyAny>,
    attributes: Option<Py<PyAny>>,
    kind: Option<Py<PyAny>>,
    parent: Option<Py<PyAny>>,
    start_time: Option<Py<PyAny>>,
    entered: Option<Entered>,
}

#[pymethods]
impl SpanBlock {
    #[new]
    #[pyo3(signature = (name, attributes=None, kind=None, parent=None, start_time=None))]
    fn new(
        name: Py<PyAny>,
        attributes: Option<Py<PyAny>>,
        kind: Option<Py<PyAny>>,
        parent: Option<Py<PyAny>>,
        start_time: Option<Py<PyAny>>,
    ) -> SpanBlock {
        SpanBlock {
            name,
            attributes,
            kind,
            parent,
            start_time,
            entered: None,
        }
    }

    /// As a decorator: each call of `func` runs in a block of its own (what
    /// `contextlib.ContextDecorator` does).
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        keys(py)?.attach.decorate.bind(py).call1((slf, func))
    }

    /// A new block with the same arguments (`contextlib.ContextDecorator`'s hook: a decorated
    /// function gets a fresh span per call).
    fn _recreate_cm<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let b = borrow(slf)?;
        let args = (
            b.name.clone_ref(py),
            b.attributes.as_ref().map(|a| a.clone_ref(py)),
            b.kind.as_ref().map(|k| k.clone_ref(py)),
            b.parent.as_ref().map(|p| p.clone_ref(py)),
            b.start_time.as_ref().map(|t| t.clone_ref(py)),
        );
        drop(b);
        slf.get_type().call1(args)
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let keys = keys(py)?;
        // The arguments are read and the borrow let go before the span starts: starting can
        // run Python code (a mapping's items).
        let (name, attributes, kind, parent, start_time) = {
            let b = borrow(slf)?;
            if b.entered.is_some() {
                // A second entry would overwrite the first one's span and token (use a new
                // create_span per block, or it as a decorator).
                let name = b.name.clone_ref(py);
                drop(b);
                return Err(in_use::<Self>(name.bind(py)));
            }
            (
                b.name.clone_ref(py).into_bound(py),
                b.attributes
                    .as_ref()
                    .map(|a| a.clone_ref(py).into_bound(py)),
                b.kind.as_ref().map(|k| k.clone_ref(py).into_bound(py)),
                b.parent.as_ref().map(|p| p.clone_ref(py).into_bound(py)),
                b.start_time
                    .as_ref()
                    .map(|t| t.clone_ref(py).into_bound(py)),
            )
        };
        let name = text(&name, "create_span", "name")?;
        let kind = match &kind {
            Some(k) => text(k, "create_span", "kind")?,
            None => "internal",
        };
        let parent = parent.filter(|p| !p.is_none());
        let span = start_with(
            py,
            keys,
            name,
            attributes.as_ref(),
            kind,
            parent.as_ref(),
            start_time.as_ref(),
        )?;
        enter_with(slf, keys, span, parent.is_some())
    }

    #[pyo3(signature = (_exc_type=None, exc=None, _tb=None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        // Taken: the block may be entered again afterwards.
        let Some((span, token)) = borrow_mut(slf)?.entered.take() else {
            return Ok(());
        };
        let span = span.into_bound(py);
        let recorded = match exc {
            Some(e) if !e.is_none() && recorded(e) => span
                .call_method1(intern!(py, "record_exception"), (e,))
                .map(drop),
            _ => Ok(()),
        };
        let detached = detach(py, &keys(py)?.attach, token.bind(py));
        let ended = end(&span);
        recorded.and(detached).and(ended)
    }
}

/// What `use_span` does with an `Exception` leaving its block, on a recording `span`: the
/// exception's event with `record`, the error status ("Type: message") with `set_status`.
pub(crate) fn on_exception(
    span: &Bound<'_, PyAny>,
    e: &Bound<'_, PyAny>,
    record: bool,
    set_status: bool,
) -> PyResult<()> {
    let py = span.py();
    let own = span.cast::<Span>().ok();
    let recording = match &own {
        Some(s) => s.get().with(|s| s.is_recording()),
        None => span
            .call_method0(intern!(py, "is_recording"))?
            .is_truthy()?,
    };
    if !recording {
        return Ok(());
    }
    let recorded = match (record, &own) {
        (false, _) => Ok(()),
        // The event alone: the status is `set_status`'s.
        (true, Some(s)) => guard(|| s.get().record_exception_of(e, false)),
        (true, None) => span
            .call_method1(intern!(py, "record_exception"), (e,))
            .map(drop),
    };
    if set_status {
        let description = format!("{}: {}", e.get_type().name()?, e.str()?.to_string_lossy());
        match &own {
            Some(s) => s
                .get()
                .with(|s| s.set_status(crosstrace::Status::error(description))),
            None => {
                span.call_method1(intern!(py, "set_status"), ("error", description))?;
            }
        }
    }
    recorded
}

/// A block's fields, shared; a conflicting use (Python code the block ran using the same
/// block) is an error, not a panic.
fn borrow<'py, T: pyo3::PyClass>(slf: &Bound<'py, T>) -> PyResult<PyRef<'py, T>> {
    slf.try_borrow()
        .map_err(|_| PyRuntimeError::new_err("the span block is in use by another call"))
}

/// [`borrow`], exclusive.
fn borrow_mut<'py, T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False>>(
    slf: &Bound<'py, T>,
) -> PyResult<PyRefMut<'py, T>> {
    slf.try_borrow_mut()
        .map_err(|_| PyRuntimeError::new_err("the span block is in use by another call"))
}

/// A span and the token that detaches it, while a block is entered.
type Entered = (Py<PyAny>, Py<PyAny>);

/// What `create_span` and `ApiSpanBlock` share: one entry at a time.
trait Block: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False> {
    /// What error messages call the block.
    const WHO: &'static str;
    fn entered(&mut self) -> &mut Option<Entered>;
}

impl Block for SpanBlock {
    const WHO: &'static str = "create_span";
    fn entered(&mut self) -> &mut Option<Entered> {
        &mut self.entered
    }
}

impl Block for ApiSpanBlock {
    const WHO: &'static str = "start_as_current_span";
    fn entered(&mut self) -> &mut Option<Entered> {
        &mut self.entered
    }
}

/// The end of a block's `__enter__`, its span started: makes `span` current and keeps it with
/// its token in the block. If the Python code the start ran entered the same block meanwhile,
/// this entry's span is let go and the entry refused.
fn enter_with<'py, B: Block>(
    slf: &Bound<'py, B>,
    keys: &ContextKeys,
    span: Bound<'py, PyAny>,
    own_context: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let token = attach(py, &keys.attach, &span, own_context)?;
    let mut b = borrow_mut(slf)?;
    if b.entered().is_some() {
        drop(b);
        let detached = detach(py, &keys.attach, token.bind(py));
        end(&span).and(detached)?;
        return Err(PyRuntimeError::new_err(format!(
            "{} is already in use",
            B::WHO
        )));
    }
    *b.entered() = Some((span.clone().unbind(), token));
    Ok(span)
}

/// "`B::WHO`(`name`) is already in use", with the name's repr (no borrow held while it runs).
fn in_use<B: Block>(name: &Bound<'_, PyAny>) -> PyErr {
    match name.repr() {
        Ok(r) => PyRuntimeError::new_err(format!("{}({r}) is already in use", B::WHO)),
        Err(e) => e,
    }
}

/// Whether an exception leaving a with-block or a decorated call is recorded on its span: an
/// `Exception`, as the OpenTelemetry API's `use_span` takes it. Not the `BaseException`s that
/// end a generator, the program, a wait or a task (`GeneratorExit`, `SystemExit`,
/// `KeyboardInterrupt`, asyncio's `CancelledError`: a cancelled request is no failure).
pub(crate) fn recorded(e: &Bound<'_, PyAny>) -> bool {
    e.is_instance_of::<PyException>()
}

/// Ends a span `start_span` returned (this module's, ended here; another kind through its
/// `end`).
fn end(span: &Bound<'_, PyAny>) -> PyResult<()> {
    match span.cast::<Span>() {
        Ok(s) => {
            s.get().with(|s| s.end());
            Ok(())
        }
        Err(_) => span.call_method0(intern!(span.py(), "end")).map(drop),
    }
}

/// An argument of `who` that must be a `str`.
fn text<'a>(value: &'a Bound<'_, PyAny>, who: &str, what: &str) -> PyResult<&'a str> {
    match value.cast::<PyString>() {
        Ok(s) => s.to_str(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{who}: {what} must be a str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// Makes `span` current; returns the token that [`detach`] takes. With `own_context` (a span
/// under an explicit parent), the span's own context becomes current too.
fn attach(
    py: Python<'_>,
    a: &Attach,
    span: &Bound<'_, PyAny>,
    own_context: bool,
) -> PyResult<Py<PyAny>> {
    let Some((set, _)) = &a.current_var else {
        return Ok(a.attach_span.bind(py).call1((span, own_context))?.unbind());
    };
    let keys = keys(py)?;
    // A copy of the current context (contexts are never changed once made: this one is new),
    // with the span in it. (`get_current` is the variable's `get`.)
    let current = keys.get_current.bind(py).call0()?;
    let ctx = a.context_type.bind(py).call1((current,))?;
    let d = ctx.cast::<PyDict>()?;
    d.set_item(keys.span.bind(py), span)?;
    if own_context {
        d.set_item(
            keys.crosstrace.bind(py),
            span.call_method0(intern!(py, "context"))?,
        )?;
    }
    Ok(set.bind(py).call1((ctx,))?.unbind())
}

/// Restores the context that was current before [`attach`] returned `token`. A token from
/// another context (a generator resumed elsewhere), or one used twice, goes to the package's
/// `_detach` (and the API, which logs it).
fn detach(py: Python<'_>, a: &Attach, token: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Some((_, reset)) = &a.current_var {
        if reset.bind(py).call1((token,)).is_ok() {
            return Ok(());
        }
    }
    a.detach.bind(py).call1((token,)).map(drop)
}

/// A flag of the OpenTelemetry API, read as Python reads it (`if flag:`): any object's truth.
pub(crate) struct Truthy(bool);

impl FromPyObject<'_, '_> for Truthy {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        obj.is_truthy().map(Truthy)
    }
}

/// What the OpenTelemetry API's `start_as_current_span` needs besides the context keys: the
/// API's span kinds by name, and the package's start for the cases this module does not take
/// (`set_api_hooks`, once, when `crosstrace.otel` is imported).
struct ApiHooks {
    /// `opentelemetry.trace.SpanKind` members and crosstrace's names of them.
    kinds: Vec<(Py<PyAny>, &'static str)>,
    /// `crosstrace.otel._start(name, context, kind, attributes, links, start_time, scope)`.
    start_in_python: Py<PyAny>,
    /// `crosstrace.otel._decorate(block, func)`: as the API's own decorator, a coroutine
    /// function gets a coroutine wrapper (its span covers the awaited body).
    decorate: Py<PyAny>,
}

static API_HOOKS: PyOnceLock<ApiHooks> = PyOnceLock::new();

/// Tells `ApiSpanBlock` the API's span kinds (pairs of a `SpanKind` and its name here), the
/// package's start for an explicit context, links or a start time, and its decorator (once).
#[pyfunction]
pub(crate) fn set_api_hooks(
    py: Python<'_>,
    kinds: Vec<(Py<PyAny>, String)>,
    start_in_python: Py<PyAny>,
    decorate: Py<PyAny>,
) -> PyResult<()> {
    let kinds = kinds
        .into_iter()
        .map(|(k, name)| {
            let kind = crate::convert::span_kind(&name)?;
            Ok((k, crosstrace::binding::span::kind_name(&kind)))
        })
        .collect::<PyResult<Vec<_>>>()?;
    API_HOOKS
        .set(
            py,
            ApiHooks {
                kinds,
                start_in_python,
                decorate,
            },
        )
        .map_err(|_| crosstrace_error("set_api_hooks: already set (crosstrace.otel loaded twice)"))
}

/// What crosstrace's OpenTelemetry tracer's `start_as_current_span` returns: a span started
/// on entry and current inside, as the API's `use_span` makes it (an `Exception` leaving the
/// block is recorded with `record_exception` and sets the error status with
/// `set_status_on_exception`; the span ends on exit with `end_on_exit`). One block at a time;
/// also a decorator, a new span per call.
#[pyclass(module = "crosstrace._native")]
pub(crate) struct ApiSpanBlock {
    name: Py<PyAny>,
    context: Option<Py<PyAny>>,
    kind: Option<Py<PyAny>>,
    attributes: Option<Py<PyAny>>,
    links: Option<Py<PyAny>>,
    start_time: Option<Py<PyAny>>,
    scope: Option<Py<Scope>>,
    end_on_exit: bool,
    record_exception: bool,
    set_status_on_exception: bool,
    entered: Option<Entered>,
}

#[pymethods]
impl ApiSpanBlock {
    #[new]
    #[pyo3(signature = (name, context=None, kind=None, attributes=None, links=None, start_time=None, scope=None, end_on_exit=Truthy(true), record_exception=Truthy(true), set_status_on_exception=Truthy(true)),
        text_signature = "(name, context=None, kind=None, attributes=None, links=None, start_time=None, scope=None, end_on_exit=True, record_exception=True, set_status_on_exception=True)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: Py<PyAny>,
        context: Option<Py<PyAny>>,
        kind: Option<Py<PyAny>>,
        attributes: Option<Py<PyAny>>,
        links: Option<Py<PyAny>>,
        start_time: Option<Py<PyAny>>,
        scope: Option<Py<Scope>>,
        end_on_exit: Truthy,
        record_exception: Truthy,
        set_status_on_exception: Truthy,
    ) -> ApiSpanBlock {
        ApiSpanBlock {
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            scope,
            end_on_exit: end_on_exit.0,
            record_exception: record_exception.0,
            set_status_on_exception: set_status_on_exception.0,
            entered: None,
        }
    }

    /// As a decorator: each call of `func` runs in a block of its own (a coroutine function's
    /// await included).
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let Some(hooks) = API_HOOKS.get(py) else {
            return Err(crosstrace_error("set_api_hooks was not called"));
        };
        hooks.decorate.bind(py).call1((slf, func))
    }

    /// A new block with the same arguments (a decorated function's call).
    fn _recreate_cm<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let b = borrow(slf)?;
        let o = |v: &Option<Py<PyAny>>| v.as_ref().map(|v| v.clone_ref(py));
        let copy = ApiSpanBlock {
            name: b.name.clone_ref(py),
            context: o(&b.context),
            kind: o(&b.kind),
            attributes: o(&b.attributes),
            links: o(&b.links),
            start_time: o(&b.start_time),
            scope: b.scope.as_ref().map(|s| s.clone_ref(py)),
            end_on_exit: b.end_on_exit,
            record_exception: b.record_exception,
            set_status_on_exception: b.set_status_on_exception,
            entered: None,
        };
        drop(b);
        Bound::new(py, copy)
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let keys = keys(py)?;
        let Some(hooks) = API_HOOKS.get(py) else {
            return Err(crosstrace_error("set_api_hooks was not called"));
        };
        // Read, and the borrow let go, before the span starts (starting can run Python code).
        let b = borrow(slf)?;
        if b.entered.is_some() {
            let name = b.name.clone_ref(py);
            drop(b);
            return Err(in_use::<Self>(name.bind(py)));
        }
        let bind = |v: &Option<Py<PyAny>>| {
            v.as_ref()
                .map(|v| v.clone_ref(py).into_bound(py))
                .filter(|v| !v.is_none())
        };
        let (name, context, kind, attributes, links, start_time) = (
            b.name.clone_ref(py).into_bound(py),
            bind(&b.context),
            bind(&b.kind),
            bind(&b.attributes),
            bind(&b.links),
            bind(&b.start_time),
        );
        let scope = b.scope.as_ref().map(|s| s.clone_ref(py).into_bound(py));
        drop(b);
        // The common call, whole here: the current context, now, no links, a known kind.
        let kind_name = match &kind {
            None => Some("internal"),
            Some(k) => hooks
                .kinds
                .iter()
                .find(|(member, _)| member.bind(py).is(k))
                .map(|(_, n)| *n),
        };
        let mut span = None;
        if let (None, None, Some(kind_name), Ok(name)) =
            (&context, &start_time, kind_name, name.cast::<PyString>())
        {
            let no_links = match &links {
                None => true,
                Some(l) => !l.is_truthy()?,
            };
            if no_links {
                let current = keys.get_current.bind(py).call0()?;
                if let Ok(current) = current.cast::<PyDict>() {
                    let scope = scope.as_ref().map(|s| s.get().inner);
                    span = guard(|| {
                        start_under_current(
                            keys,
                            name.to_str()?,
                            current,
                            kind_name,
                            attributes.as_ref(),
                            scope,
                        )
                    })?
                    .map(Bound::into_any);
                }
            }
        }
        // Under an explicit context (one `propagate.extract` made), the span's own context
        // becomes current with it, as `create_span(parent=...)` does: the correlation and
        // baggage the caller's headers brought reach what runs inside the block.
        let own_context = context.is_some();
        let span = match span {
            Some(s) => s,
            None => hooks
                .start_in_python
                .bind(py)
                .call1((&name, context, kind, attributes, links, start_time, scope))?,
        };
        enter_with(slf, keys, span, own_context)
    }

    #[pyo3(signature = (_exc_type=None, exc=None, _tb=None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let (entered, end_on_exit, record, set_status) = {
            let mut b = borrow_mut(slf)?;
            (
                b.entered.take(),
                b.end_on_exit,
                b.record_exception,
                b.set_status_on_exception,
            )
        };
        let Some((span, token)) = entered else {
            return Ok(());
        };
        let span = span.into_bound(py);
        let detached = detach(py, &keys(py)?.attach, token.bind(py));
        // As use_span: only an Exception (not GeneratorExit and the like) is an error. What
        // fails here (an exception whose `__str__` raises) is reported after the span ends.
        let recorded = match exc.filter(|e| recorded(e)) {
            Some(e) => on_exception(&span, e, record, set_status),
            None => Ok(()),
        };
        let ended = if end_on_exit { end(&span) } else { Ok(()) };
        detached.and(recorded).and(ended)
    }
}
