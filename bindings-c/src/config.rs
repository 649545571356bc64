//! Configuration and the process's setup: `ct_config_*` (settings by environment variable
//! name), `ct_init*`, `ct_force_flush`, `ct_shutdown`.

use std::ffi::c_char;
use std::time::Duration;

use crosstrace::TracingConfig;

use crate::ffi::{self, ct_result, guard, out, str_arg, to_c_string, FfiError};
use crate::handles::ct_config;
use crate::tracing;

/// A new, empty configuration: every setting at the specification's default. Free it with
/// `ct_config_free`.
#[no_mangle]
pub extern "C" fn ct_config_new() -> *mut ct_config {
    Box::into_raw(Box::default())
}

/// Frees a configuration. NULL is a no-op.
///
/// # Safety
/// `config` must be NULL or a pointer from `ct_config_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ct_config_free(config: *mut ct_config) {
    if !config.is_null() {
        // SAFETY: not NULL (checked): a `Box` from `ct_config_new`, not yet freed (the
        // caller's contract).
        drop(unsafe { Box::from_raw(config) });
    }
}

/// Sets one setting by its environment variable name (`"OTEL_SAMPLING_RATE"`, `"0.25"`): the
/// same names, values and validation as the environment. Checked when the config is used.
///
/// # Safety
/// `config` must come from `ct_config_new`; `name` and `value` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ct_config_set(
    config: *mut ct_config,
    name: *const c_char,
    value: *const c_char,
) -> ct_result {
    guard(|| {
        // SAFETY: NULL or from `ct_config_new` and not freed (the caller's contract); the
        // library keeps no reference to a config, so only this call reaches it (one thread
        // setting a config while another uses it would break the contract).
        let config = unsafe { ffi::handle_mut(config, "config") }?;
        // SAFETY: `name` is NUL-terminated (the caller's contract) and outlives this call.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: as `name`.
        let value = unsafe { str_arg(value, "value") }?;
        if !crosstrace::config::VARIABLES.contains(&name) {
            return Err(ffi::invalid(
                "name",
                name,
                "a variable crosstrace reads (see README's configuration table)",
            ));
        }
        config.vars.insert(name.to_owned(), value.to_owned());
        Ok(())
    })
}

fn build_config(config: &ct_config) -> Result<TracingConfig, FfiError> {
    Ok(TracingConfig::from_lookup(|k| config.vars.get(k).cloned())?)
}

/// `config` fit to show: its endpoint through its redaction policy (userinfo and sensitive
/// query values `REDACTED`), every export header's value `REDACTED` (a header's value is
/// usually a credential: the core's configuration errors name headers without their values).
fn redacted(mut config: TracingConfig) -> TracingConfig {
    use crosstrace::redact::{Policy, REDACTED};
    // Valid: `build_config` checked it.
    let policy = Policy::new(&config.redact_keys).unwrap_or_else(|_| Policy::builtin().clone());
    if let Some(endpoint) = &mut config.endpoint {
        *endpoint = policy.url(endpoint).into_owned();
    }
    for value in config.headers.values_mut() {
        REDACTED.clone_into(value);
    }
    config
}

/// Validates a configuration and writes it, normalised, as JSON to `*out_json` (free with
/// `ct_string_free`). On a bad value returns `CT_ERR_CONFIG` and `ct_last_error()` names it.
/// Credentials are not shown (the README's Secrets; configuration errors hide the same): the
/// endpoint's userinfo is `REDACTED:REDACTED@` and its sensitive query values `REDACTED`, and
/// every export header (`OTEL_EXPORTER_OTLP_HEADERS`) has its name with the value `REDACTED`.
/// The configuration itself keeps them: `ct_init` exports with them.
///
/// # Safety
/// `config` must come from `ct_config_new`; `out_json` must be a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_config_to_json(
    config: *const ct_config,
    out_json: *mut *mut c_char,
) -> ct_result {
    guard(|| {
        // SAFETY: NULL or from `ct_config_new` and not freed (the caller's contract).
        let config = unsafe { ffi::handle(config, "config") }?;
        let cfg = redacted(build_config(config)?);
        let json = serde_json::to_string(&cfg).map_err(|e| ffi::internal(e.to_string()))?;
        let json = to_c_string(json)?;
        // SAFETY: `out_json` is valid for writes (the caller's contract); the string is ours and
        // handed out nowhere else.
        unsafe { out(out_json, json, "out_json") }
    })
}

/// The `telemetry.sdk.language` of programs on this library. The semantic conventions list no
/// `c`; `cpp` is the closest value they allow (C and C++ programs link the library alike).
const SDK_LANGUAGE: &str = "cpp";

/// Installs tracing from `config`, its resource saying the caller's language.
fn install(config: TracingConfig) -> Result<(), FfiError> {
    crosstrace::binding::resource::set_sdk_language(SDK_LANGUAGE);
    crosstrace::init(config)?;
    Ok(())
}

/// Initialises tracing from the process environment (`OTEL_*`). Replaces any earlier setup.
#[no_mangle]
pub extern "C" fn ct_init_from_env() -> ct_result {
    guard(|| install(TracingConfig::from_env()?))
}

/// Initialises tracing from `config` (unset settings take the specification's defaults, not
/// the environment). Replaces any earlier setup.
///
/// # Safety
/// `config` must come from `ct_config_new`.
#[no_mangle]
pub unsafe extern "C" fn ct_init(config: *const ct_config) -> ct_result {
    guard(|| {
        // SAFETY: NULL or from `ct_config_new` and not freed (the caller's contract).
        let config = unsafe { ffi::handle(config, "config") }?;
        install(build_config(config)?)
    })
}

/// Exports everything queued, waiting at most `timeout_ms`. `CT_ERR_EXPORT` when spans could
/// not be exported while it waited (`ct_last_error` says how many and why; they are lost, and
/// health counts them), `CT_ERR_TIMEOUT` when the export took longer.
#[no_mangle]
pub extern "C" fn ct_force_flush(timeout_ms: u32) -> ct_result {
    guard(|| Ok(tracing().force_flush(Duration::from_millis(timeout_ms.into()))?))
}

/// Exports what is queued within `timeout_ms`, then stops; later spans are no-ops. Writes the
/// number of spans it could not send to `*out_unsent` when that is not NULL.
///
/// # Safety
/// `out_unsent` must be NULL or a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn ct_shutdown(timeout_ms: u32, out_unsent: *mut u64) -> ct_result {
    guard(|| {
        let report = tracing().shutdown(Duration::from_millis(timeout_ms.into()))?;
        if !out_unsent.is_null() {
            // SAFETY: not NULL (checked), so valid for a write (the caller's contract).
            unsafe { *out_unsent = report.unsent };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_resource_names_the_callers_language() {
        // What ct_init and ct_init_from_env do with the config they build.
        let config = super::TracingConfig {
            backend: crosstrace::Backend::None,
            ..super::TracingConfig::default()
        };
        assert!(super::install(config).is_ok());
        let t = crosstrace::global();
        let language = t
            .resource()
            .get(&crosstrace::Key::from_static_str("telemetry.sdk.language"))
            .map(|v| v.to_string());
        assert_eq!(language.as_deref(), Some(super::SDK_LANGUAGE));
        let _ = t.shutdown(std::time::Duration::from_secs(1));
    }
}
