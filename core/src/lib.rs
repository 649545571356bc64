//! crosstrace: one tracing core for a polyglot pipeline, on the OpenTelemetry SDK.
//!
//! Build a [`Tracing`] from a [`TracingConfig`] (or the `OTEL_*` environment), start [`Span`]s
//! with an explicit or the current [`Context`], propagate with [`Tracing::inject`] /
//! [`Tracing::extract`], and read [`Tracing::health`].
#![warn(missing_docs, unreachable_pub)]

#[doc(hidden)]
pub mod binding;
pub mod config;
pub mod context;
mod diag;
pub mod domain;
pub mod error;
pub mod export;
mod global;
pub mod health;
mod intern;
mod interop;
#[cfg(feature = "tracing")]
pub mod layer;
mod limits;
mod metrics;
pub mod otel;
mod pipeline;
mod platform;
pub mod propagation;
mod record;
pub mod redact;
mod resource;
mod sampling;
mod scope;
mod sort;
pub mod span;
mod tracing;
mod value;

pub use config::{
    Backend, Compression, LogLevel, OtlpProtocol, PropagatorKind, SamplerKind, TracingConfig,
    TracingConfigBuilder,
};
pub use context::{correlation_id, Context, ContextGuard, Correlation, FutureExt};
pub use error::{ConfigError, Error, ErrorKind, Result};
pub use global::{global, init};
pub use health::Health;
#[cfg(feature = "tracing")]
pub use layer::{CrosstraceLayer, SpanExt};
pub use limits::{MAX_EVENTS_PER_SPAN, MAX_LINKS_PER_SPAN};
pub use metrics::{MetricsSnapshot, SeriesKey, SeriesStats, Sketch, RELATIVE_ACCURACY};
pub use propagation::{Carrier, Propagators};
pub use record::{Batch, SpanRecord};
pub use scope::{Scope, MAX_SCOPES, SCOPE_NAME};
pub use span::{Parent, Span};
pub use tracing::{SpanBuilder, Tracing};
pub use value::FieldValue;

/// Re-exports of the OpenTelemetry types in crosstrace's API.
pub use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
pub use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
pub use opentelemetry_sdk::trace::SpanData;

/// The crate README's Rust examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The repository README's Rust examples too (outside the package: only in the repository,
/// where `scripts/test.sh` sets `--cfg crosstrace_repo`).
#[cfg(all(doctest, crosstrace_repo))]
#[doc = include_str!("../../README.md")]
pub struct RepositoryReadmeDoctests;
