//! crosstrace's own diagnostics: stderr lines filtered by `OTEL_LOG_LEVEL`, and "warn once,
//! count always" for repeated conditions (the counters live in health).

use std::sync::atomic::{AtomicU8, Ordering};

use std::str::FromStr;

use serde::{Deserialize, Serialize};

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

pub(crate) fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// A caught panic's message (`panic!`'s text), or "a panic" when it carried something else.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

pub(crate) fn log(level: LogLevel, message: &str) {
    if enabled(level) {
        let tag = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Off => "error",
        };
        #[cfg(not(target_arch = "wasm32"))]
        eprintln!("crosstrace {tag}: {message}");
        #[cfg(target_arch = "wasm32")]
        let _ = (tag, message);
    }
}

/// The severity threshold of crosstrace's own diagnostics (`OTEL_LOG_LEVEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// The default.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    Off,
}

impl LogLevel {
    /// Accepted names.
    pub const ACCEPTED: &'static str = "one of debug, info, warn, error, off";

    /// The name (`OTEL_LOG_LEVEL`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Off => "off",
        }
    }
}

impl FromStr for LogLevel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" | "critical" => LogLevel::Error,
            "off" | "none" => LogLevel::Off,
            _ => return Err(()),
        })
    }
}
