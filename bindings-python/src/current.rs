//! The package's `start_span`: a span under OpenTelemetry's current context (crosstrace's
//! context and the current span read from its dict), started here whole in the common case; the
//! parent derived from the last context object is kept per thread, beside the thread's copy of
//! the tracing instance. Every other case is handed back to the package's Python
//! (`start_in_python`).

use std::cell::RefCell;

use crosstrace::binding::GlobalCopy;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::context::Context;
use crate::errors::{crosstrace_error, guard};
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
}

static CONTEXT_KEYS: PyOnceLock<ContextKeys> = PyOnceLock::new();

/// Tells `start_span` how to read OpenTelemetry's context (its keys, the API's
/// `INVALID_SPAN`, the function returning the current context) and what to call in the other
/// cases (once, at import).
#[pyfunction]
pub(crate) fn set_context_keys(
    py: Python<'_>,
    crosstrace_key: Py<PyAny>,
    span_key: Py<PyAny>,
    invalid_span: Py<PyAny>,
    get_current: Py<PyAny>,
    start_in_python: Py<PyAny>,
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
                start_in_python,
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
fn start_under_current<'py>(
    keys: &ContextKeys,
    name: &str,
    current: &Bound<'py, PyDict>,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, Span>>> {
    let py = current.py();
    if keys.cache_parent {
        if let Some(started) = start_under_cached_parent(current, name, kind, attributes) {
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
                StartOptions::default(),
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
                            StartOptions::default(),
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
    let Some(keys) = CONTEXT_KEYS.get(py) else {
        return Err(crosstrace_error("set_context_keys was not called"));
    };
    // The common call, whole in here: under the current span, now.
    if parent.is_none_or(|p| p.is_none()) && start_time.is_none_or(|s| s.is_none()) {
        let current = keys.get_current.bind(py).call0()?;
        if let Ok(current) = current.cast::<PyDict>() {
            if let Some(span) =
                guard(|| start_under_current(keys, name, current, kind, attributes))?
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
