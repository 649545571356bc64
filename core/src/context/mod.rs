//! The context a span is started in: its parent, baggage and correlation fields.
//!
//! crosstrace's [`Context`] is a small immutable value, cheap to clone, that bindings pass
//! explicitly (Python keeps it in a `contextvar`, JS passes it along promises, C holds it on a
//! thread). Rust code may also use the thread-local current context through [`Context::attach`].

pub mod correlation;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};

pub use correlation::{Correlation, CorrelationBuilder};

/// Baggage entries, in order. Correlation fields are kept apart, in [`Correlation`].
pub type Baggage = Vec<(String, String)>;

/// A parent span (local or remote), baggage and the correlation context.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    span: Option<SpanContext>,
    /// Baggage and correlation, shared. `None` when both are empty (most contexts): a clone
    /// is then a copy, and a span that keeps what its children inherit holds one pointer.
    carried: Option<Arc<Carried>>,
}

/// What a context carries besides its parent span. Changed rarely (a correlation scope, an
/// extracted header), read by every child span.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Carried {
    baggage: Baggage,
    correlation: Option<Correlation>,
    propagated: Option<Propagated>,
}

/// What an incoming trace carries that a span context cannot hold, passed on unchanged to
/// every span of that trace: the `tracestate` header as received (crosstrace's own parser,
/// which accepts every key the W3C grammar does; the SDK's `TraceState` rejects some), and the
/// B3 or Jaeger debug flag. Kept with the trace id it came with, so it never reaches a span of
/// another trace (a new root, a parent set by hand).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Propagated {
    pub(crate) trace_id: TraceId,
    /// The members, validated and joined with `,` (no whitespace).
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) debug: bool,
}

impl Carried {
    fn shared(
        baggage: Baggage,
        correlation: Option<Correlation>,
        propagated: Option<Propagated>,
    ) -> Option<Arc<Carried>> {
        (!baggage.is_empty() || correlation.is_some() || propagated.is_some()).then(|| {
            Arc::new(Carried {
                baggage,
                correlation,
                propagated,
            })
        })
    }
}

/// The thread's current context, and the OpenTelemetry API's span that was current when it was
/// made current (see [`API_BRIDGED`]).
#[derive(Debug, Default)]
pub(crate) struct Current {
    cx: Context,
    api_span: Option<(TraceId, SpanId)>,
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::new(Current::default());
}

/// Set once the OpenTelemetry API bridge is used ([`crate::otel`]'s tracers and propagators):
/// from then on, making a context current notes the API's current span, so that the bridge can
/// tell which of the two was made current last (a `tracing` span entered inside an API span is
/// the parent of the API spans started inside it, not a sibling).
pub(crate) static API_BRIDGED: AtomicBool = AtomicBool::new(false);

/// The OpenTelemetry API's current span, when the bridge is in use.
fn api_span_now() -> Option<(TraceId, SpanId)> {
    if !API_BRIDGED.load(Ordering::Relaxed) {
        return None;
    }
    api_current_span(|sc, _| (sc.trace_id(), sc.span_id()))
}

/// `f` of the OpenTelemetry API's current span, if it has a valid one, and of its context. The
/// API's thread-local may be gone while this thread's are torn down (its accessor then
/// panics): no API span then.
fn api_current_span<R>(f: impl FnOnce(&SpanContext, &opentelemetry::Context) -> R) -> Option<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        opentelemetry::Context::map_current(|cx| {
            if !cx.has_active_span() {
                return None;
            }
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid().then(|| f(sc, cx))
        })
    }))
    .unwrap_or(None)
}

impl Current {
    /// Makes `cx` the thread's current context; returns the one it replaces (`None` while the
    /// thread's thread-locals are torn down). A context with the same span as the current one
    /// (the same span with more baggage or a correlation, a future's context polled again)
    /// keeps the note of when that span was made current: it is no more inside an API span
    /// made current since.
    fn replace(cx: Context) -> Option<Current> {
        CURRENT
            .try_with(|c| {
                let mut c = c.borrow_mut();
                let same_span = ids(c.cx.span.as_ref()) == ids(cx.span.as_ref());
                let api_span = if same_span {
                    c.api_span
                } else {
                    api_span_now()
                };
                std::mem::replace(&mut *c, Current { cx, api_span })
            })
            .ok()
    }
}

/// A span context's trace and span ids.
fn ids(sc: Option<&SpanContext>) -> Option<(TraceId, SpanId)> {
    sc.map(|sc| (sc.trace_id(), sc.span_id()))
}

impl Context {
    /// An empty context: no parent, no baggage, no correlation.
    pub fn new() -> Self {
        Context::default()
    }

    /// The thread's current context (set by [`Context::attach`]). While the thread's
    /// thread-locals are torn down (a C library's pthread-key destructor, say), none: an empty
    /// context.
    pub fn current() -> Context {
        Context::with_current(Context::clone)
    }

    /// Runs `f` with the thread's current context borrowed, without cloning it (an empty one
    /// while the thread's thread-locals are torn down).
    pub(crate) fn with_current<R>(f: impl FnOnce(&Context) -> R) -> R {
        match CURRENT.try_with(|c| c as *const RefCell<Current>) {
            // SAFETY: this thread's slot, which lives until the thread's thread-locals are torn
            // down; that does not start during this call. (A pointer rather than a closure for
            // `try_with`: `f` need not be kept aside for the case below.)
            Ok(c) => f(&unsafe { &*c }.borrow().cx),
            Err(_) => f(&Context::default()),
        }
    }

    /// Makes this the thread's current context until the guard drops; the previous one is then
    /// restored. (While the thread's thread-locals are torn down there is no current context
    /// to set: spans started then have no parent from it.)
    pub fn attach(self) -> ContextGuard {
        let previous = Current::replace(self);
        ContextGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Makes `cx` the thread's current context and returns the one it replaces (`None` while
    /// the thread's thread-locals are torn down): for the `tracing` layer, whose enters and
    /// exits are not guards on one stack frame.
    #[cfg(feature = "tracing")]
    pub(crate) fn swap_current(cx: Context) -> Option<Current> {
        Current::replace(cx)
    }

    /// Makes current again what [`Context::swap_current`] returned.
    #[cfg(feature = "tracing")]
    pub(crate) fn restore_current(previous: Current) {
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }

    /// Runs `f` with the context a span started with no parent given starts under: the
    /// thread's current context, or — once the OpenTelemetry API bridge is in use, or always
    /// with `read_api` (the `tracing` layer's spans) — the API's current span, unless
    /// crosstrace's context was made current inside that span. Of the two current contexts, the
    /// one made current last is the parent. Under the API's span, baggage and correlation are
    /// those of a crosstrace context stored in the API's (what `otel::Propagator` extracted),
    /// else the current context's, as for an API span started there.
    pub(crate) fn with_current_parent<R>(read_api: bool, f: impl FnOnce(&Context) -> R) -> R {
        if read_api || API_BRIDGED.load(Ordering::Relaxed) {
            let api = api_current_span(|sc, cx| (sc.clone(), cx.get::<Context>().cloned()))
                .filter(|(sc, _)| !Context::current_is_inside(sc));
            if let Some((sc, stored)) = api {
                let base = stored.unwrap_or_else(Context::current);
                return f(&base.with_span_context(sc));
            }
        }
        Context::with_current(f)
    }

    /// Whether the thread's current context has a span and was made current while `api`, an
    /// OpenTelemetry API span, was the API's current one: then it is the innermost of the two.
    pub(crate) fn current_is_inside(api: &SpanContext) -> bool {
        CURRENT
            .try_with(|c| {
                let c = c.borrow();
                c.cx.span.is_some() && c.api_span == ids(Some(api))
            })
            .unwrap_or(false)
    }

    /// The parent span, if any.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.span.as_ref()
    }

    /// A copy with `span` as the parent.
    pub fn with_span_context(&self, span: SpanContext) -> Context {
        Context::assemble(span, self.carried.clone())
    }

    /// A copy whose parent is `other`'s, with what `other`'s trace was received with
    /// (`tracestate`, debug); baggage and correlation stay this context's.
    pub fn with_parent_of(&self, other: &Context) -> Context {
        let Some(span) = other.span.clone() else {
            return self.without_span();
        };
        let theirs = other.carried.as_deref().and_then(|c| c.propagated.as_ref());
        let ours = self.carried.as_deref().and_then(|c| c.propagated.as_ref());
        if theirs == ours {
            return Context::assemble(span, self.carried.clone());
        }
        Context {
            span: Some(span),
            carried: Carried::shared(
                self.baggage().to_vec(),
                self.correlation().cloned(),
                theirs.cloned(),
            ),
        }
    }

    /// The context a span continuing a caller starts under: one rule for every binding.
    /// `extracted` (read from the caller's headers; `None` when there are none to read)
    /// decides everything — the parent, baggage, `tracestate` and the correlation: its own
    /// correlation, else none. Nothing of `current` (the thread's or task's context) reaches
    /// a continued trace: a server must not give a request that came without a correlation
    /// the one of whatever its thread did before (the FastAPI middleware gives such a request
    /// a new id instead). Without `extracted`, a new trace in `current`'s baggage and
    /// correlation. Pinned by `tests/vectors/extracted_correlation.json`.
    pub fn continuing(extracted: Option<&Context>, current: &Context) -> Context {
        match extracted {
            Some(cx) => cx.clone(),
            None => current.without_span(),
        }
    }

    /// A copy without a parent span (baggage and correlation kept).
    pub fn without_span(&self) -> Context {
        Context {
            span: None,
            carried: self.carried.clone(),
        }
    }

    /// Baggage entries other than correlation fields.
    pub fn baggage(&self) -> &[(String, String)] {
        self.carried
            .as_deref()
            .map_or(&[], |c| c.baggage.as_slice())
    }

    /// A copy with the given baggage.
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        Context {
            span: self.span.clone(),
            carried: Carried::shared(baggage, self.correlation().cloned(), self.propagated()),
        }
    }

    fn propagated(&self) -> Option<Propagated> {
        self.carried.as_deref().and_then(|c| c.propagated.clone())
    }

    /// What was received with the parent's trace, if the parent is of that trace.
    fn propagated_here(&self) -> Option<&Propagated> {
        let p = self.carried.as_deref()?.propagated.as_ref()?;
        (self.span.as_ref()?.trace_id() == p.trace_id).then_some(p)
    }

    /// The `tracestate` to pass on with the parent: as received with its trace, else the span
    /// context's own; `None` when empty.
    pub fn trace_state_header(&self) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(p) = self.propagated_here() {
            return p.trace_state.as_deref().map(std::borrow::Cow::Borrowed);
        }
        let h = self.span.as_ref()?.trace_state().header();
        (!h.is_empty()).then_some(std::borrow::Cow::Owned(h))
    }

    /// Whether the trace was received with a B3 or Jaeger debug flag (passed on unchanged).
    pub fn debug(&self) -> bool {
        self.propagated_here().is_some_and(|p| p.debug)
    }

    /// A copy whose parent's trace carries `trace_state` and `debug` (see
    /// [`Context::with_propagated`], which parses the header). Without a parent, unchanged.
    pub(crate) fn with_trace_state(&self, trace_state: Option<Arc<str>>, debug: bool) -> Context {
        let Some(span) = &self.span else {
            return self.clone();
        };
        let propagated = (trace_state.is_some() || debug).then(|| Propagated {
            trace_id: span.trace_id(),
            trace_state,
            debug,
        });
        Context {
            span: self.span.clone(),
            carried: Carried::shared(
                self.baggage().to_vec(),
                self.correlation().cloned(),
                propagated,
            ),
        }
    }

    /// The correlation context, if any.
    pub fn correlation(&self) -> Option<&Correlation> {
        self.carried.as_deref().and_then(|c| c.correlation.as_ref())
    }

    /// A copy carrying `correlation`.
    pub fn with_correlation(&self, correlation: Correlation) -> Context {
        Context {
            span: self.span.clone(),
            carried: Carried::shared(
                self.baggage().to_vec(),
                Some(correlation),
                self.propagated(),
            ),
        }
    }

    pub(crate) fn from_parts(
        span: Option<SpanContext>,
        baggage: Baggage,
        correlation: Option<Correlation>,
        propagated: Option<Propagated>,
    ) -> Context {
        Context {
            span: span.filter(SpanContext::is_valid),
            carried: Carried::shared(baggage, correlation, propagated),
        }
    }

    /// What children inherit besides the parent span.
    pub(crate) fn carried(&self) -> Option<Arc<Carried>> {
        self.carried.clone()
    }

    /// `span` (if valid) as the parent, with what a context carried.
    pub(crate) fn assemble(span: SpanContext, carried: Option<Arc<Carried>>) -> Context {
        Context {
            span: span.is_valid().then_some(span),
            carried,
        }
    }
}

/// Restores the previous current context when dropped. Not `Send`: it belongs to its thread.
#[derive(Debug)]
#[must_use = "the context is detached again when the guard drops"]
pub struct ContextGuard {
    previous: Option<Current>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            // `try_with`: during thread teardown the slot may be gone; nothing to restore then.
            let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
        }
    }
}

/// The correlation id of the thread's current context.
pub fn correlation_id() -> Option<String> {
    Context::with_current(|c| c.correlation().map(|c| c.id().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_nests_and_restores() {
        assert!(correlation_id().is_none());
        let outer = Correlation::builder().id("outer-1").build().unwrap();
        let g1 = Context::new().with_correlation(outer).attach();
        assert_eq!(correlation_id().as_deref(), Some("outer-1"));
        {
            let inner = Correlation::builder().id("inner-2").build().unwrap();
            let _g2 = Context::current().with_correlation(inner).attach();
            assert_eq!(correlation_id().as_deref(), Some("inner-2"));
        }
        assert_eq!(correlation_id().as_deref(), Some("outer-1"));
        drop(g1);
        assert!(correlation_id().is_none());
    }
}

pin_project_lite::pin_project! {
    /// A future that runs with a context attached on every poll; see [`FutureExt`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        cx: Context,
    }
}

impl<F: std::future::Future> std::future::Future for WithContext<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _guard = this.cx.clone().attach();
        this.inner.poll(task)
    }
}

/// Carries a crosstrace [`Context`] into a future, across `.await` points and executor threads.
pub trait FutureExt: std::future::Future + Sized {
    /// Polls the future with `cx` as the current context.
    fn with_context(self, cx: Context) -> WithContext<Self> {
        WithContext { inner: self, cx }
    }
    /// Polls the future with the context that is current now.
    fn in_current_context(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }
}

impl<F: std::future::Future> FutureExt for F {}
