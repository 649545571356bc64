//! crosstrace: one tracing core for a polyglot pipeline.
#![warn(missing_docs)]

pub mod config;
pub mod error;

pub use config::{
    Backend, Compression, LogLevel, OtlpProtocol, PropagatorKind, SamplerKind, TracingConfig,
    TracingConfigBuilder,
};
pub use error::{ConfigError, Error, ErrorKind, Result};
