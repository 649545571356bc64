//! Starting a span under an explicit parent: `start_span_under` (the OpenTelemetry API's
//! tracers, and the package's `start_span` when its parent is not the current context's), and
//! [`make_span`], where every span object but the ETL and database ones is made.

use crosstrace::binding::TracingBinding;
use crosstrace::Tracing;
use pyo3::prelude::*;

use crate::context::Context;
use crate::convert::{self, as_dict, links_of, span_kind, unix_nanos, LinkArg};
use crate::errors::guard;
use crate::scope::Scope;
use crate::span::Span;

/// Starts a span under the explicit `parent` (a `Context`), now or at `start_time` (ns since
/// the Unix epoch), in `scope` (a tracer's; crosstrace's own when None), with `links` (see
/// [`LinkArg`]).
#[pyfunction]
#[pyo3(signature = (name, parent, kind="internal", attributes=None, start_time=None, scope=None, links=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_span_under<'py>(
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
        let options = StartOptions {
            start_time_ns: start_time,
            scope: scope.map(|s| s.inner),
            links: match links {
                Some(l) if !l.is_empty() => links_of(l)?,
                _ => Vec::new(),
            },
        };
        crosstrace::binding::with_global(|t| {
            make_span(t, py, name, kind, attributes, &parent.inner, options)
        })
    })
}

/// What a span may start with besides its name, kind, attributes and parent: a start time
/// (ns since the Unix epoch), a tracer's scope, links.
#[derive(Default)]
pub(crate) struct StartOptions {
    start_time_ns: Option<u64>,
    scope: Option<crosstrace::Scope>,
    links: Vec<crosstrace::Link>,
}

impl StartOptions {
    /// Now, no links, in `scope` (crosstrace's own when None).
    pub(crate) fn in_scope(scope: Option<crosstrace::Scope>) -> StartOptions {
        StartOptions {
            scope,
            ..StartOptions::default()
        }
    }
}

/// Starts a span under `parent` with the tracing instance `t`, as its Python object: the one
/// place where the span is written (it is moved as little as possible on the way).
pub(crate) fn make_span<'py>(
    t: &Tracing,
    py: Python<'py>,
    name: &str,
    kind: &str,
    attributes: Option<&Bound<'py, PyAny>>,
    parent: &crosstrace::Context,
    options: StartOptions,
) -> PyResult<Bound<'py, Span>> {
    let kind = span_kind(kind)?;
    let name = crosstrace::binding::intern::string(name);
    // Attributes a sampled-out span would drop unread are not converted (nor checked: the SDK
    // does not check them for such a span either).
    let attrs = match attributes {
        Some(a) if !a.is_none() && !t.ignores_attributes(parent, &kind) => {
            convert::attributes(Some(&as_dict(a)?))?
        }
        _ => Vec::new(),
    };
    let span = match options {
        StartOptions {
            start_time_ns: None,
            scope,
            links,
        } if links.is_empty() => match scope {
            None => t.start_now(Some(parent), name.clone(), kind.clone(), attrs),
            Some(scope) => t.start_now_in(scope, Some(parent), name.clone(), kind.clone(), attrs),
        },
        StartOptions {
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
    Bound::new(py, Span::new(span, name, kind))
}
