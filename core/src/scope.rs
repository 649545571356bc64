//! Instrumentation scopes: the library (tracer) a span was made by, interned for the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use opentelemetry::InstrumentationScope;

use crate::platform::fork::Rank;

/// The instrumentation scope of spans crosstrace creates.
pub const SCOPE_NAME: &str = "crosstrace";

/// Most distinct scopes [`Scope::new`] keeps; past them a new one is crosstrace's own.
pub const MAX_SCOPES: usize = 1024;

/// An instrumentation scope spans start in: the name, version and schema URL of the library
/// (a tracer) that made them, which OTLP groups spans by. Interned for the process: a span
/// copies two pointers, not the strings (a tracer chooses its scope once, its spans on the hot
/// path take it for free). At most [`MAX_SCOPES`] distinct scopes; past them (a program making
/// tracers from request data) new ones are crosstrace's own, with a warning on stderr.
/// Scope attributes are not kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scope(pub(crate) &'static InstrumentationScope);

/// Scopes made so far, by (name, version, schema URL).
type ScopeKey = (String, Option<String>, Option<String>);
static SCOPES: Mutex<Option<HashMap<ScopeKey, &'static InstrumentationScope>>> = Mutex::new(None);

impl Scope {
    /// The scope named `name`, at `version`, with `schema_url` (the same one for the same
    /// three).
    pub fn new(name: &str, version: Option<&str>, schema_url: Option<&str>) -> Scope {
        let key: ScopeKey = (
            name.to_owned(),
            version.map(str::to_owned),
            schema_url.map(str::to_owned),
        );
        let mut g = scopes();
        // The table starts with crosstrace's own scope: asked for by name (a tracer named
        // after it), it is the same pointer, as every scope is (exporters group spans by it).
        let all = g.get_or_insert_with(|| {
            let own = (
                SCOPE_NAME.to_owned(),
                Some(env!("CARGO_PKG_VERSION").to_owned()),
                None,
            );
            HashMap::from([(own, Scope::crosstrace().0)])
        });
        if let Some(s) = all.get(&key) {
            return Scope(s);
        }
        // Past the own scope, MAX_SCOPES of the program's.
        if all.len() > MAX_SCOPES {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                crate::diag::log(
                    crate::diag::LogLevel::Warn,
                    &format!(
                        "more than {MAX_SCOPES} instrumentation scopes (tracer names): spans of \
                         further ones are given crosstrace's scope"
                    ),
                );
            }
            return Scope::crosstrace();
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let mut b = InstrumentationScope::builder(leak(name));
        if let Some(v) = version {
            b = b.with_version(leak(v));
        }
        if let Some(u) = schema_url {
            b = b.with_schema_url(leak(u));
        }
        let scope: &'static InstrumentationScope = Box::leak(Box::new(b.build()));
        all.insert(key, scope);
        Scope(scope)
    }

    /// crosstrace's own scope ([`SCOPE_NAME`], the crate's version): what spans start in
    /// unless given another.
    pub fn crosstrace() -> Scope {
        static OWN: OnceLock<InstrumentationScope> = OnceLock::new();
        Scope(OWN.get_or_init(|| {
            InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build()
        }))
    }

    /// The scope as OpenTelemetry's type.
    pub fn instrumentation_scope(&self) -> &'static InstrumentationScope {
        self.0
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::crosstrace()
    }
}

/// The registry's lock, taken here only: registered with the fork handlers before its first
/// use (see [`crate::platform::fork`]).
fn scopes(
) -> std::sync::MutexGuard<'static, Option<HashMap<ScopeKey, &'static InstrumentationScope>>> {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::platform::fork::register_static(&REGISTERED, Rank::Scopes, || {
        Box::new(SCOPES.lock().unwrap_or_else(|e| e.into_inner()))
    });
    SCOPES.lock().unwrap_or_else(|e| e.into_inner())
}
