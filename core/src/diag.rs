//! crosstrace's own diagnostics: stderr lines filtered by `OTEL_LOG_LEVEL`, and "warn once,
//! count always" for repeated conditions (the counters live in health).

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

pub(crate) fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && level as u8 >= LEVEL.load(Ordering::Relaxed)
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
