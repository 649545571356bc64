//! The only place that knows native from wasm32: the clock, randomness and whether a background
//! export thread exists.

use std::time::SystemTime;

use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// Wall-clock now, with the best precision the platform offers.
#[cfg(not(all(target_arch = "wasm32", not(target_os = "wasi"))))]
#[inline]
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Wall-clock now. On wasm32 `SystemTime::now()` panics; the SDK's own fallback is
/// millisecond-only `Date.now()`. `performance.timeOrigin + performance.now()` gives
/// sub-millisecond precision where it exists (browsers, workers, Node, most edge runtimes).
#[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
pub fn now() -> SystemTime {
    use std::time::Duration;
    let ms = wasm::now_ms();
    SystemTime::UNIX_EPOCH + Duration::from_nanos((ms * 1_000_000.0) as u64)
}

#[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
mod wasm {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        type Performance;
        #[wasm_bindgen(thread_local_v2, js_namespace = globalThis, js_name = performance)]
        static PERFORMANCE: Option<Performance>;
        #[wasm_bindgen(method, getter, js_name = timeOrigin)]
        fn time_origin(this: &Performance) -> f64;
        #[wasm_bindgen(method)]
        fn now(this: &Performance) -> f64;
    }

    thread_local! {
        /// `performance.timeOrigin` never changes: read it once, not on every clock read.
        static ORIGIN: Option<f64> = PERFORMANCE.with(|p| {
            p.as_ref().map(|p| p.time_origin()).filter(|o| o.is_finite() && *o > 0.0)
        });
    }

    pub(super) fn now_ms() -> f64 {
        ORIGIN
            .with(|o| *o)
            .and_then(|origin| PERFORMANCE.with(|p| p.as_ref().map(|p| origin + p.now())))
            .unwrap_or_else(js_sys::Date::now)
    }
}

/// 128 random bits (the SDK's id generator: a thread-local fast RNG seeded from the OS).
pub fn random_u128() -> u128 {
    u128::from_be_bytes(RandomIdGenerator::default().new_trace_id().to_bytes())
}

/// Whether spans are exported from a background thread here (native) or by the host's event
/// loop (wasm32, which has no threads).
pub const HAS_THREADS: bool = cfg!(not(target_arch = "wasm32"));
