//! A config from field values a binding read from its own language's objects, without a serde
//! deserializer: [`TracingConfig::from_values`]. The npm package reads its config objects this
//! way; serde's derived deserializer and serde-wasm-bindgen's were 4.6 KB of its browser
//! download. serde stays what Rust code and the JSON of the other bindings deserialize with; the
//! config vectors hold the two equal (`config_from_values_agrees_with_serde` in
//! tests/vectors.rs, and each binding's run of the vectors). One difference is JS's: a whole
//! double (`5.0`) is a count here, where serde refuses a JSON float for one.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::{
    numeric_expected, Backend, Compression, LogLevel, OtlpProtocol, PropagatorKind, SamplerKind,
    TracingConfig,
};
use crate::error::ConfigError;
use crate::value::FieldValue;

impl TracingConfig {
    /// A config from fields given by name (snake_case), validated: `value(i)` is field `i`'s
    /// value and `given(i)` its text as the caller wrote it, for errors. Starts from the
    /// defaults; an unknown name, a value of the wrong kind or out of bounds is a
    /// [`ConfigError`] naming the field, as [`TracingConfig::from_fields`] gives.
    pub fn from_values(
        names: &[&str],
        value: impl Fn(usize) -> FieldValue,
        given: impl Fn(usize) -> String,
    ) -> Result<TracingConfig, ConfigError> {
        Self::check_known(names, &given)?;
        let mut c = TracingConfig::default();
        for (i, name) in names.iter().enumerate() {
            c.set(name, &value(i)).map_err(|expected| {
                let expected = match expected {
                    NUMBER => numeric_expected(name).unwrap_or_else(|| "a number".into()),
                    text => text.into(),
                };
                ConfigError::new(*name, given(i), expected)
            })?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Sets the field `name` (known: [`TracingConfig::check_known`] ran) to `v`; what the field
    /// takes when `v` is not that ([`NUMBER`] for a number field's words).
    #[inline(never)]
    fn set(&mut self, name: &str, v: &FieldValue) -> Result<(), &'static str> {
        match name {
            "enabled" => self.enabled = boolean(v)?,
            "auto_instrument" => self.auto_instrument = boolean(v)?,
            "instrument_db" => self.instrument_db = boolean(v)?,
            "instrument_http" => self.instrument_http = boolean(v)?,
            "instrument_logging" => self.instrument_logging = boolean(v)?,
            "metrics_enabled" => self.metrics_enabled = boolean(v)?,
            "service_name" => self.service_name = string(v)?,
            "service_version" => self.service_version = string(v)?,
            "environment" => self.environment = string(v)?,
            "endpoint" => self.endpoint = optional(v, string)?,
            "metrics_dir" => self.metrics_dir = optional(v, string)?,
            "backend" => self.backend = named(v, Backend::ACCEPTED, Backend::as_str)?,
            "otlp_protocol" => {
                self.otlp_protocol = optional(v, |v| {
                    named(v, OtlpProtocol::ACCEPTED, OtlpProtocol::as_str)
                })?
            }
            "compression" => {
                self.compression = named(v, Compression::ACCEPTED, Compression::as_str)?
            }
            "sampler" => self.sampler = named(v, SamplerKind::ACCEPTED, SamplerKind::as_str)?,
            "log_level" => self.log_level = named(v, LogLevel::ACCEPTED, LogLevel::as_str)?,
            "sampling_rate" => self.sampling_rate = number(v)?,
            "export_timeout_seconds" => self.export_timeout_seconds = number(v)?,
            "export_attempt_timeout_seconds" => self.export_attempt_timeout_seconds = number(v)?,
            "export_max_batch_size" => self.export_max_batch_size = size(v)?,
            "max_queue_size" => self.max_queue_size = size(v)?,
            "attribute_value_length_limit" => self.attribute_value_length_limit = size(v)?,
            "attribute_count_limit" => self.attribute_count_limit = size(v)?,
            "event_count_limit" => self.event_count_limit = size(v)?,
            "link_count_limit" => self.link_count_limit = size(v)?,
            "metrics_max_series" => self.metrics_max_series = size(v)?,
            "max_body_bytes" => self.max_body_bytes = size(v)?,
            "schedule_delay_millis" => self.schedule_delay_millis = count(v)?,
            "metrics_sync_interval_millis" => self.metrics_sync_interval_millis = count(v)?,
            "headers" => self.headers = strings_by_key(v)?,
            "resource_attributes" => self.resource_attributes = strings_by_key(v)?,
            "redact_keys" => self.redact_keys = list(v, "a list of strings", string)?,
            "metrics_buckets_ms" => self.metrics_buckets_ms = list(v, "a list of numbers", number)?,
            "propagators" => {
                self.propagators = list(v, PropagatorKind::ACCEPTED, |v| {
                    named(v, PropagatorKind::ACCEPTED, PropagatorKind::as_str)
                })?
            }
            // `check_known` refused every other name.
            _ => return Err("a TracingConfig field"),
        }
        Ok(())
    }
}

/// The error of a number field: its words come from [`numeric_expected`].
const NUMBER: &str = "a number";

fn boolean(v: &FieldValue) -> Result<bool, &'static str> {
    v.as_bool().ok_or("a boolean")
}

fn string(v: &FieldValue) -> Result<String, &'static str> {
    v.as_text().map(str::to_owned).ok_or("a string")
}

fn optional<T>(
    v: &FieldValue,
    some: impl FnOnce(&FieldValue) -> Result<T, &'static str>,
) -> Result<Option<T>, &'static str> {
    v.non_null().map(some).transpose()
}

/// A number for a field of `f64`, any value: [`TracingConfig::validate`] checks its bounds.
fn number(v: &FieldValue) -> Result<f64, &'static str> {
    match v {
        FieldValue::Number(n) => Ok(*n),
        FieldValue::Whole(n) => Ok(*n as f64),
        _ => Err(NUMBER),
    }
}

/// 2^53 - 1: JS's `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A whole number for a count: one a double holds exactly (up to 2^53), as serde-wasm-bindgen
/// took them, and JSON's integers (beyond, no count's bounds reach). Its bounds are
/// [`TracingConfig::validate`]'s.
fn count(v: &FieldValue) -> Result<u64, &'static str> {
    match v {
        FieldValue::Number(n) if (0.0..=MAX_SAFE_INTEGER).contains(n) && n.fract() == 0.0 => {
            Ok(*n as u64)
        }
        FieldValue::Whole(n) => Ok(*n),
        _ => Err(NUMBER),
    }
}

/// A count of a `usize` field: one that fits it (on wasm32, 32 bits: 2^32 + 5 is not 5).
fn size(v: &FieldValue) -> Result<usize, &'static str> {
    usize::try_from(count(v)?).map_err(|_| NUMBER)
}

/// One of an enum's names, exactly as it is written (`as_str`; the environment's parser also
/// takes other cases and aliases, serde does not).
fn named<T: FromStr + Copy>(
    v: &FieldValue,
    accepted: &'static str,
    as_str: impl Fn(T) -> &'static str,
) -> Result<T, &'static str> {
    match v {
        FieldValue::Str(s) => s
            .parse::<T>()
            .ok()
            .filter(|t| as_str(*t) == s)
            .ok_or(accepted),
        _ => Err(accepted),
    }
}

fn list<T>(
    v: &FieldValue,
    accepted: &'static str,
    item: impl Fn(&FieldValue) -> Result<T, &'static str>,
) -> Result<Vec<T>, &'static str> {
    match v {
        FieldValue::List(items) => items
            .iter()
            .map(|v| item(v).map_err(|_| accepted))
            .collect(),
        _ => Err(accepted),
    }
}

fn strings_by_key(v: &FieldValue) -> Result<BTreeMap<String, String>, &'static str> {
    v.text_map().ok_or("an object of strings")
}
