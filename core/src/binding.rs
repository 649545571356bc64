//! What the bindings (C, Python, wasm) need from the core beyond its API: hot-path entry
//! points that skip the builder, the process-wide instance without its lock, interned strings,
//! the JSON form of contexts, and the kind and status names bindings accept.
//!
//! Not part of crosstrace's API: hidden from the docs and changed without notice. Everything
//! here is a re-export or a thin entry point; the logic stays in its own module.

use std::borrow::Cow;

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

use crate::context::Context;
use crate::scope::Scope;
use crate::span::Span;

pub use crate::global::{global_generation, with_global, GlobalCopy};
pub use crate::platform::number_text;
pub use crate::propagation::parse_span_context;

/// [`Tracing`](crate::Tracing)'s entry points for bindings.
pub trait TracingBinding {
    /// Starts a span now under `parent`, or under the thread's current context when `None`: a
    /// [`SpanBuilder`](crate::SpanBuilder)'s common case, for bindings that start one per call from another
    /// language (no builder to fill and move).
    fn start_now(
        &self,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span;

    /// [`TracingBinding::start_now`] in `scope` (a tracer's): for bindings whose tracers have names.
    fn start_now_in(
        &self,
        scope: Scope,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span;

    /// Whether a span of `kind` under `parent` will neither be recorded nor take a metrics
    /// label from its attributes, whatever they are: then a binding need not convert them
    /// (Python's dict of attributes costs more than the rest of a sampled-out span). Decided
    /// as the span's start decides: tracing off or shut down, a parent-based sampler under an
    /// unsampled parent, or a sampler that drops every root; a ratio decides by trace id, so
    /// it says `false`.
    fn ignores_attributes(&self, parent: &Context, kind: &SpanKind) -> bool;

    /// Takes up to one batch of ended spans from the queue, for hosts without threads (wasm32)
    /// that export on their own event loop; report what became of them with
    /// [`TracingBinding::report_export`]. Natively the export thread does this.
    fn take_batch(&self) -> crate::record::Batch;

    /// Records the outcome of exporting `spans` spans taken with [`TracingBinding::take_batch`].
    fn report_export(&self, spans: usize, outcome: crate::export::Outcome);
}

// Forwards to `Tracing`'s crate-private methods (`Type::method` finds those first).
impl TracingBinding for crate::Tracing {
    fn start_now(
        &self,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        crate::Tracing::start_now(self, parent, name, kind, attributes)
    }
    fn start_now_in(
        &self,
        scope: Scope,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        crate::Tracing::start_now_in(self, scope, parent, name, kind, attributes)
    }
    fn ignores_attributes(&self, parent: &Context, kind: &SpanKind) -> bool {
        crate::Tracing::ignores_attributes(self, parent, kind)
    }
    fn take_batch(&self) -> crate::record::Batch {
        crate::Tracing::take_batch(self)
    }
    fn report_export(&self, spans: usize, outcome: crate::export::Outcome) {
        crate::Tracing::report_export(self, spans, outcome)
    }
}

/// A config from a parsed JSON object (`TracingConfig::from_json` without the text): for a
/// binding that builds the object itself.
pub fn config_from_json_value(
    value: serde_json::Value,
) -> Result<crate::TracingConfig, crate::ConfigError> {
    crate::TracingConfig::from_json_value(value)
}

/// Interned attribute keys and strings (see the module's own docs in the source).
pub mod intern {
    pub use crate::intern::{
        global, key, key_from_bytes, string, string_from_bytes, with_keys, Keys, MAX_LEN,
    };
}

/// Contexts and correlations as JSON, the form the bindings' tests and the C API exchange.
pub mod interop {
    pub use crate::interop::{
        context_from_input, context_from_json, context_shape, context_to_json, correlation_shape,
        correlation_to_json, ContextInput, ContextShape, CorrelationShape, SpanShape,
    };
}

/// The resource's process facts a binding sets or reads.
pub mod resource {
    pub use crate::resource::{instance_id, set_host_name, set_sdk_language};
}

/// The wire policy with no I/O: which wire and endpoint a config's backend gets, the encoded
/// batch, and what a response's status and body mean. The wasm binding sends the bytes.
pub mod wire {
    pub use crate::export::wire::{route, Encoder, Payload, Route, Unsupported, Verdict, Wire};
}

/// Span kinds and statuses by the names and numbers bindings accept.
pub mod span {
    pub use crate::span::{kind_from_number, kind_name, parse_kind, parse_status};
}
