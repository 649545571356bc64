//! One error type per family of operations, and the stable error-kind table every binding maps.
//!
//! The table (`ErrorKind`) is pinned by `tests/vectors/error_kinds.json`: each kind has one C code
//! (never renumbered, never reused), one Python exception class and one JavaScript error name.

use std::fmt;

/// The stable kinds of error crosstrace reports across every binding. Exhaustive on purpose:
/// each binding matches every kind with no wildcard, so a new kind fails to compile until each
/// binding maps it (and `tests/vectors/error_kinds.json` lists it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A configuration value (environment variable or `TracingConfig` field) is invalid.
    Config,
    /// The exporter could not be built (bad endpoint scheme, TLS setup, runtime).
    ExporterSetup,
    /// Exporting spans failed (network, server rejection, timeout).
    Export,
    /// An operation ran out of time (flush, shutdown).
    Timeout,
    /// Tracing was already shut down.
    AlreadyShutdown,
    /// An argument was invalid (bad correlation id, bad hex id, bad attribute).
    InvalidArgument,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Config,
        ErrorKind::ExporterSetup,
        ErrorKind::Export,
        ErrorKind::Timeout,
        ErrorKind::AlreadyShutdown,
        ErrorKind::InvalidArgument,
    ];

    /// The stable snake_case name used in JSON (health, vectors).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::ExporterSetup => "exporter_setup",
            ErrorKind::Export => "export",
            ErrorKind::Timeout => "timeout",
            ErrorKind::AlreadyShutdown => "already_shutdown",
            ErrorKind::InvalidArgument => "invalid_argument",
        }
    }

    /// The C error code (`ct_result`); explicit numbers, never reused. 0 is success, 1 a caught
    /// panic and 2..=9 are reserved for the C boundary's own codes (null pointer, bad UTF-8, ...).
    pub fn c_code(self) -> u32 {
        match self {
            ErrorKind::Config => 10,
            ErrorKind::ExporterSetup => 11,
            ErrorKind::Export => 12,
            ErrorKind::Timeout => 13,
            ErrorKind::AlreadyShutdown => 14,
            ErrorKind::InvalidArgument => 15,
        }
    }

    /// The Python exception class (in the `crosstrace` package). None is named like a Python
    /// builtin (`from crosstrace import *` must not shadow one): the timeout is
    /// `CrosstraceTimeoutError`, a subclass of the builtin `TimeoutError`.
    pub fn python_class(self) -> &'static str {
        match self {
            ErrorKind::Config => "ConfigError",
            ErrorKind::ExporterSetup => "ExporterSetupError",
            ErrorKind::Export => "ExportError",
            ErrorKind::Timeout => "CrosstraceTimeoutError",
            ErrorKind::AlreadyShutdown => "AlreadyShutdownError",
            ErrorKind::InvalidArgument => "InvalidArgumentError",
        }
    }

    /// The JavaScript `Error.name`.
    pub fn js_name(self) -> &'static str {
        match self {
            ErrorKind::Config => "CrosstraceConfigError",
            ErrorKind::ExporterSetup => "CrosstraceExporterSetupError",
            ErrorKind::Export => "CrosstraceExportError",
            ErrorKind::Timeout => "CrosstraceTimeoutError",
            ErrorKind::AlreadyShutdown => "CrosstraceAlreadyShutdownError",
            ErrorKind::InvalidArgument => "CrosstraceInvalidArgumentError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration value was rejected. Names the input (environment variable or config field),
/// the value given and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {source_name}={value:?}: expected {expected}")]
pub struct ConfigError {
    /// The environment variable (`OTEL_SAMPLING_RATE`) or config field (`sampling_rate`).
    pub source_name: String,
    /// The rejected value, as given.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl ConfigError {
    pub(crate) fn new(
        source_name: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError {
            source_name: source_name.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// Every fallible crosstrace operation returns this.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter could not be built.
    #[error("cannot set up the {backend} exporter: {message}")]
    ExporterSetup {
        /// The backend name.
        backend: String,
        /// Why.
        message: String,
    },
    /// Export failed.
    #[error("export failed: {0}")]
    Export(String),
    /// Timed out.
    #[error("{operation} did not finish within {timeout_ms} ms")]
    Timeout {
        /// What timed out (`flush`, `shutdown`).
        operation: &'static str,
        /// The limit.
        timeout_ms: u64,
    },
    /// Tracing was shut down already.
    #[error("tracing is already shut down")]
    AlreadyShutdown,
    /// A caller-supplied argument was invalid.
    #[error("invalid {argument}={value:?}: expected {expected}")]
    InvalidArgument {
        /// The argument's name.
        argument: &'static str,
        /// The rejected value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::ExporterSetup { .. } => ErrorKind::ExporterSetup,
            Error::Export(_) => ErrorKind::Export,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::AlreadyShutdown => ErrorKind::AlreadyShutdown,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
