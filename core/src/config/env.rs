//! Reading `TracingConfig` from `OTEL_*` variables (and crosstrace's own `CROSSTRACE_*` ones
//! for what no standard variable covers: span metrics).
//!
//! Precedence, when a specification variable and a standard OpenTelemetry variable say the same
//! thing: the specification's variable wins (`OTEL_EXPORTER_ENDPOINT` over
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` over `OTEL_EXPORTER_OTLP_ENDPOINT`; `OTEL_SAMPLING_RATE`
//! over `OTEL_TRACES_SAMPLER_ARG`; `OTEL_BACKEND` over `OTEL_TRACES_EXPORTER`; explicit
//! `OTEL_SERVICE_NAME` over `service.name` in `OTEL_RESOURCE_ATTRIBUTES`). Signal-specific standard
//! variables (`*_TRACES_*`) win over general ones. Disabling wins: tracing is off when
//! `OTEL_ENABLED=false` or `OTEL_SDK_DISABLED=true`. A variable set to the empty string counts as
//! unset, as the OpenTelemetry specification says. Every other bad value is an error naming the
//! variable; nothing is silently replaced.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::{
    bounds, Backend, Compression, LogLevel, OtlpProtocol, PropagatorKind, SamplerKind,
    TracingConfig,
};
use crate::error::ConfigError;

/// Every variable `from_env` reads, for documentation and for bindings that forward an
/// environment object (edge runtimes).
pub const VARIABLES: &[&str] = &[
    "OTEL_ENABLED",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_VERSION",
    "ENVIRONMENT",
    "OTEL_BACKEND",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_SAMPLING_RATE",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_AUTO_INSTRUMENT",
    "OTEL_INSTRUMENT_DB",
    "OTEL_INSTRUMENT_HTTP",
    "OTEL_INSTRUMENT_LOGGING",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_LOG_LEVEL",
    "CROSSTRACE_METRICS",
    "CROSSTRACE_METRICS_BUCKETS_MS",
    "CROSSTRACE_METRICS_MAX_SERIES",
    "CROSSTRACE_EXPORT_ATTEMPT_TIMEOUT",
    "CROSSTRACE_REDACT_KEYS",
    "CROSSTRACE_MAX_BODY_BYTES",
    "CROSSTRACE_METRICS_DIR",
    "CROSSTRACE_METRICS_SYNC_INTERVAL",
];

struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, `None` when unset or empty.
    fn get(&self, name: &str) -> Option<(&'static str, String)> {
        let name: &'static str = VARIABLES.iter().copied().find(|v| *v == name)?;
        (self.lookup)(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    }

    /// The first of several variables that is set.
    fn first(&self, names: &[&str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|n| self.get(n))
    }

    fn parse<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some((var, raw)) => raw
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| ConfigError::new(var, raw, expected)),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some((var, raw)) => parse_bool(&raw)
                .map(Some)
                .ok_or_else(|| ConfigError::new(var, raw, "true or false")),
        }
    }

    /// A whole number of `unit` from 1 to `max` (anything else, `-1`, `NaN`, `1e300` or
    /// `18446744073709551616` included, is an error naming the variable and the bound).
    fn whole(&self, names: &[&str], max: u64, unit: &str) -> Result<Option<u64>, ConfigError> {
        self.whole_from(names, 1, max, unit)
    }

    /// A whole number of `unit` from `min` to `max` (see [`Env::whole`]).
    fn whole_from(
        &self,
        names: &[&str],
        min: u64,
        max: u64,
        unit: &str,
    ) -> Result<Option<u64>, ConfigError> {
        match self.first(names) {
            None => Ok(None),
            Some((var, raw)) => match raw.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ConfigError::new(var, raw, super::whole(unit, min, max))),
            },
        }
    }

    fn millis(&self, names: &[&str], max: u64) -> Result<Option<u64>, ConfigError> {
        self.whole(names, max, "milliseconds")
    }

    fn count(&self, names: &[&str], max: usize, unit: &str) -> Result<Option<usize>, ConfigError> {
        Ok(self.whole(names, max as u64, unit)?.map(|n| n as usize))
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_rate(var: &'static str, raw: &str) -> Result<f64, ConfigError> {
    match raw.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ConfigError::new(var, raw, "a number from 0.0 to 1.0")),
    }
}

/// Parses `k=v,k=v` with percent-decoded keys and values (the W3C baggage / OTel format used by
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`).
pub(crate) fn parse_key_values(
    var: &str,
    raw: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    const EXPECTED: &str =
        "comma-separated key=value pairs with non-empty keys, percent-encoded where needed";
    // A resource attribute may hold a secret (`db.password=…`): not repeated in the error.
    let shown = || crate::redact::Policy::builtin().text(raw).into_owned();
    let mut out = BTreeMap::new();
    for item in raw.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| ConfigError::new(var, shown(), EXPECTED))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s.trim())
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| ConfigError::new(var, shown(), EXPECTED))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if k.is_empty() || k.chars().any(char::is_whitespace) {
            return Err(ConfigError::new(var, shown(), EXPECTED));
        }
        out.insert(k, v);
    }
    Ok(out)
}

impl TracingConfig {
    /// Reads the process environment. See the module docs of `config::env` for precedence.
    pub fn from_env() -> Result<TracingConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads a config from any key→value lookup (an edge runtime's env bindings, a test map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TracingConfig, ConfigError> {
        let env = Env { lookup };
        let mut c = TracingConfig::default();

        let enabled = env.bool("OTEL_ENABLED")?.unwrap_or(true);
        let sdk_disabled = env.bool("OTEL_SDK_DISABLED")?.unwrap_or(false);
        c.enabled = enabled && !sdk_disabled;

        if let Some((var, raw)) = env.get("OTEL_RESOURCE_ATTRIBUTES") {
            c.resource_attributes = parse_key_values(var, &raw)?;
        }
        c.service_name = env
            .get("OTEL_SERVICE_NAME")
            .map(|(_, v)| v.trim().to_owned())
            .or_else(|| c.resource_attributes.get("service.name").cloned())
            .unwrap_or(c.service_name);
        c.service_version = env
            .get("OTEL_SERVICE_VERSION")
            .map(|(_, v)| v.trim().to_owned())
            .or_else(|| c.resource_attributes.get("service.version").cloned())
            .unwrap_or(c.service_version);
        c.environment = env
            .get("ENVIRONMENT")
            .map(|(_, v)| v.trim().to_owned())
            .or_else(|| c.resource_attributes.get("deployment.environment").cloned())
            .or_else(|| {
                c.resource_attributes
                    .get("deployment.environment.name")
                    .cloned()
            })
            .unwrap_or(c.environment);
        // Config fields of their own; keep one source of truth.
        for k in super::FROM_FIELDS {
            c.resource_attributes.remove(k);
        }

        if let Some((var, raw)) = env.get("OTEL_BACKEND") {
            c.backend = raw
                .parse()
                .map_err(|_| ConfigError::new(var, &raw, Backend::ACCEPTED))?;
        } else if let Some((var, raw)) = env.get("OTEL_TRACES_EXPORTER") {
            c.backend = parse_traces_exporter(var, &raw)?;
        }

        let zipkin_endpoint = if c.backend == Backend::Zipkin {
            &["OTEL_EXPORTER_ENDPOINT", "OTEL_EXPORTER_ZIPKIN_ENDPOINT"][..]
        } else {
            &[
                "OTEL_EXPORTER_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ][..]
        };
        let mut base_url = false;
        if let Some((var, raw)) = env.first(zipkin_endpoint) {
            let url = raw.trim().to_owned();
            super::validate_url(&url).map_err(|expected| {
                ConfigError::new(var, crate::redact::endpoint_shown(&raw), expected)
            })?;
            base_url = var == "OTEL_EXPORTER_OTLP_ENDPOINT";
            c.endpoint = Some(url);
        }

        if let Some((var, raw)) = env.first(&[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]) {
            c.otlp_protocol = Some(
                raw.parse::<OtlpProtocol>()
                    .map_err(|_| ConfigError::new(var, &raw, OtlpProtocol::ACCEPTED))?,
            );
        }

        // `OTEL_EXPORTER_OTLP_ENDPOINT` is the base URL of every signal, as OpenTelemetry
        // specifies it: over HTTP, traces go to its path + `/v1/traces` (a collector behind a
        // gateway's `/otlp` prefix), not to the base itself.
        if let Some(url) = c.endpoint.as_deref().filter(|_| base_url) {
            c.endpoint = Some(super::traces_url_of_base(url, &c));
        }

        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some((var, raw)) = env.get(var) {
                // Header values are credentials: an error shows the names only.
                let parsed = parse_key_values(var, &raw).map_err(|e| ConfigError {
                    value: raw
                        .split(',')
                        .map(|item| match item.split_once('=') {
                            Some((k, _)) => format!("{k}={}", crate::redact::REDACTED),
                            None => crate::redact::REDACTED.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    ..e
                })?;
                super::check_headers(var, &parsed)?;
                // Header names are case-insensitive: lowercased, so the traces variable (read
                // second) replaces the general one's `Authorization` as well as `authorization`.
                c.headers
                    .extend(parsed.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
            }
        }

        if let Some((var, raw)) = env.first(&[
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ]) {
            c.compression = raw
                .parse::<Compression>()
                .map_err(|()| ConfigError::new(var, raw.as_str(), "gzip or none"))?;
        }

        if let Some(ms) = env.millis(
            &[
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "OTEL_BSP_EXPORT_TIMEOUT",
            ],
            bounds::MAX_TIMEOUT_MILLIS,
        )? {
            c.export_timeout_seconds = ms as f64 / 1000.0;
        }
        if let Some(ms) = env.millis(
            &["CROSSTRACE_EXPORT_ATTEMPT_TIMEOUT"],
            bounds::MAX_TIMEOUT_MILLIS,
        )? {
            c.export_attempt_timeout_seconds = ms as f64 / 1000.0;
        }

        if let Some(kind) =
            env.parse::<SamplerKind>("OTEL_TRACES_SAMPLER", SamplerKind::ACCEPTED)?
        {
            c.sampler = kind;
        }
        match (
            env.get("OTEL_SAMPLING_RATE"),
            env.get("OTEL_TRACES_SAMPLER_ARG"),
        ) {
            (Some((var, raw)), _) => {
                let rate = parse_rate(var, &raw)?;
                if !c.sampler.uses_ratio() && rate != 1.0 {
                    return Err(ConfigError::new(
                        var,
                        raw,
                        format!(
                            "no ratio with OTEL_TRACES_SAMPLER={} (use a traceidratio sampler)",
                            c.sampler.as_str()
                        ),
                    ));
                }
                c.sampling_rate = rate;
            }
            (None, Some((var, raw))) if c.sampler.uses_ratio() => {
                c.sampling_rate = parse_rate(var, &raw)?;
            }
            _ => {}
        }

        if let Some(ms) = env.millis(
            &["OTEL_BSP_SCHEDULE_DELAY"],
            bounds::MAX_SCHEDULE_DELAY_MILLIS,
        )? {
            c.schedule_delay_millis = ms;
        }
        if let Some(n) = env.count(
            &["OTEL_BSP_MAX_QUEUE_SIZE"],
            bounds::MAX_QUEUE_SIZE,
            "spans",
        )? {
            c.max_queue_size = n;
        }
        if let Some(n) = env.count(
            &["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
            bounds::MAX_EXPORT_BATCH_SIZE,
            "spans",
        )? {
            c.export_max_batch_size = n;
        }
        if let Some(n) = env.count(
            &[
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ],
            bounds::MAX_ATTRIBUTE_VALUE_LENGTH,
            "bytes",
        )? {
            c.attribute_value_length_limit = n;
        }
        if let Some(n) = env.count(
            &[
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
            ],
            bounds::MAX_ATTRIBUTE_COUNT,
            "attributes",
        )? {
            c.attribute_count_limit = n;
        }
        let max = bounds::MAX_EVENT_OR_LINK_COUNT as u64;
        if let Some(n) = env.whole_from(&["OTEL_SPAN_EVENT_COUNT_LIMIT"], 0, max, "events")? {
            c.event_count_limit = n as usize;
        }
        if let Some(n) = env.whole_from(&["OTEL_SPAN_LINK_COUNT_LIMIT"], 0, max, "links")? {
            c.link_count_limit = n as usize;
        }

        c.metrics_enabled = env.bool("CROSSTRACE_METRICS")?.unwrap_or(c.metrics_enabled);
        if let Some((var, raw)) = env.get("CROSSTRACE_METRICS_BUCKETS_MS") {
            let bounds: Option<Vec<f64>> = raw
                .split(',')
                .map(|v| v.trim().parse::<f64>().ok())
                .collect();
            match bounds {
                Some(b) if super::check_buckets(&b).is_none() => c.metrics_buckets_ms = b,
                _ => {
                    return Err(ConfigError::new(
                        var,
                        raw,
                        "comma-separated, strictly increasing milliseconds, 1 to 64 of them, each \
                     above 0 and at most 86400000, like 5,50,500",
                    ))
                }
            }
        }
        if let Some(n) = env.count(
            &["CROSSTRACE_METRICS_MAX_SERIES"],
            bounds::MAX_METRICS_SERIES,
            "label sets",
        )? {
            c.metrics_max_series = n;
        }

        if let Some((var, raw)) = env.get("CROSSTRACE_REDACT_KEYS") {
            let names: Vec<String> = raw
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            crate::redact::Policy::new(&names).map_err(|wrong| {
                ConfigError::new(var, &raw, format!("{} ({wrong})", crate::redact::ACCEPTED))
            })?;
            c.redact_keys = names;
        }
        if let Some((var, raw)) = env.get("CROSSTRACE_MAX_BODY_BYTES") {
            let max = super::bounds::MAX_BODY_BYTES as u64;
            c.max_body_bytes = match raw.trim().parse::<u64>() {
                Ok(n) if n <= max => n as usize,
                _ => return Err(ConfigError::new(var, raw, super::whole("bytes", 0, max))),
            };
        }

        if let Some((var, raw)) = env.get("CROSSTRACE_METRICS_DIR") {
            let dir = raw.trim();
            if let Some(expected) = super::check_metrics_dir(dir) {
                return Err(ConfigError::new(var, &raw, expected));
            }
            c.metrics_dir = Some(dir.to_owned());
        }
        if let Some(ms) = env.whole_from(
            &["CROSSTRACE_METRICS_SYNC_INTERVAL"],
            bounds::MIN_METRICS_SYNC_MILLIS,
            bounds::MAX_METRICS_SYNC_MILLIS,
            "milliseconds",
        )? {
            c.metrics_sync_interval_millis = ms;
        }

        c.auto_instrument = env
            .bool("OTEL_AUTO_INSTRUMENT")?
            .unwrap_or(c.auto_instrument);
        c.instrument_db = env.bool("OTEL_INSTRUMENT_DB")?.unwrap_or(c.instrument_db);
        c.instrument_http = env
            .bool("OTEL_INSTRUMENT_HTTP")?
            .unwrap_or(c.instrument_http);
        c.instrument_logging = env
            .bool("OTEL_INSTRUMENT_LOGGING")?
            .unwrap_or(c.instrument_logging);

        // Kept for the error of a format this build leaves out, which names the variable as set.
        let propagators_given = env.get("OTEL_PROPAGATORS");
        if let Some((var, raw)) = &propagators_given {
            c.propagators = parse_propagators(var, raw)?;
        }
        if let Some(level) = env.parse::<LogLevel>("OTEL_LOG_LEVEL", LogLevel::ACCEPTED)? {
            c.log_level = level;
        }

        // Cross-field rules (batch <= queue, ...) name the variables involved.
        c.validate().map_err(|e| match e.source_name.as_str() {
            "export_max_batch_size" => ConfigError {
                source_name: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE".into(),
                expected: e
                    .expected
                    .replace("max_queue_size", "OTEL_BSP_MAX_QUEUE_SIZE"),
                ..e
            },
            "service_name" => ConfigError {
                source_name: "OTEL_SERVICE_NAME".into(),
                ..e
            },
            "propagators" => ConfigError {
                source_name: "OTEL_PROPAGATORS".into(),
                value: propagators_given.map_or(e.value, |(_, raw)| raw),
                ..e
            },
            _ => e,
        })?;
        Ok(c)
    }
}

/// `OTEL_TRACES_EXPORTER` by the OpenTelemetry specification: a comma-separated list of
/// exporters (`otlp`, `console`, `zipkin`, `jaeger`, `none`: no export). crosstrace sends a
/// pipeline's spans to one backend, so a list naming several different exporters is refused
/// (naming the variable) rather than cut to its first: spans would silently miss the others.
/// A name repeated counts once.
fn parse_traces_exporter(var: &'static str, raw: &str) -> Result<Backend, ConfigError> {
    const EXPECTED: &str = "one exporter of console, otlp, jaeger, zipkin, none (crosstrace sends \
                            spans to one backend: a list may name only one)";
    let mut chosen: Option<Backend> = None;
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let b = name
            .parse::<Backend>()
            .map_err(|_| ConfigError::new(var, raw, EXPECTED))?;
        match chosen {
            Some(c) if c != b => return Err(ConfigError::new(var, raw, EXPECTED)),
            _ => chosen = Some(b),
        }
    }
    chosen.ok_or_else(|| ConfigError::new(var, raw, EXPECTED))
}

fn parse_propagators(var: &'static str, raw: &str) -> Result<Vec<PropagatorKind>, ConfigError> {
    let names: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.len() == 1 && names[0].eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in names {
        let p = name
            .parse::<PropagatorKind>()
            .map_err(|_| ConfigError::new(var, raw, PropagatorKind::ACCEPTED))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<TracingConfig, ConfigError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TracingConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn event_and_link_count_limits_come_from_their_variables() {
        let c = cfg(&[
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "0"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "32"),
        ])
        .unwrap();
        assert_eq!((c.event_count_limit, c.link_count_limit), (0, 32));
        let d = TracingConfig::default();
        assert_eq!((d.event_count_limit, d.link_count_limit), (128, 128));
        let e = cfg(&[("OTEL_SPAN_LINK_COUNT_LIMIT", "-1")]).unwrap_err();
        assert_eq!(e.source_name, "OTEL_SPAN_LINK_COUNT_LIMIT");
        assert!(e.to_string().contains("links from 0 to 65536"), "{e}");
    }

    #[test]
    fn the_traces_headers_win_over_the_general_ones_whatever_their_case() {
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=A,X-Tenant=t"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization=B"),
        ])
        .unwrap();
        assert_eq!(c.headers.len(), 2, "{:?}", c.headers);
        assert_eq!(c.headers["authorization"], "B");
        assert_eq!(c.headers["x-tenant"], "t");
    }

    /// A value too malformed to parse is repeated in the error, but not the secret in it: an
    /// endpoint's userinfo without `://`, a resource attribute named like a secret.
    #[test]
    fn a_malformed_value_is_shown_without_its_secret() {
        for (var, raw) in [
            ("OTEL_EXPORTER_ENDPOINT", "user:S3CR3T07@collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http//u:S3CR3T07@collector:4318",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https:/u:S3CR3T07@collector",
            ),
            ("OTEL_RESOURCE_ATTRIBUTES", "db.password=S3CR3T07,broken"),
        ] {
            let e = cfg(&[(var, raw)]).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.source_name, var, "{text}");
            assert!(!text.contains("S3CR3T07"), "{text}");
            assert!(text.contains("REDACTED"), "{text}");
        }
    }

    #[test]
    fn a_bad_header_names_its_variable_never_its_value() {
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            let e = cfg(&[(var, "x-api-key=abc,x-key/1=SECRET")]).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.source_name, var, "{text}");
            assert!(text.contains("x-key/1=REDACTED"), "{text}");
            assert!(!text.contains("SECRET"), "{text}");
        }
        // Dots are header-name characters.
        let c = cfg(&[("OTEL_EXPORTER_OTLP_HEADERS", "x.tenant=a")]).unwrap();
        assert_eq!(c.headers["x.tenant"], "a");
    }

    #[test]
    fn defaults_are_the_specifications() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c, TracingConfig::default());
        assert_eq!(c.service_name, "retail-etl-pipeline");
        assert_eq!(c.backend, Backend::Console);
        assert_eq!(c.propagators.len(), 4);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, val) in [
            ("OTEL_SAMPLING_RATE", "abc"),
            ("OTEL_SAMPLING_RATE", "1.5"),
            ("OTEL_BACKEND", "kafka"),
            ("OTEL_PROPAGATORS", "tracecontext,xray"),
            ("OTEL_EXPORTER_ENDPOINT", "localhost:4317"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_ENABLED", "maybe"),
        ] {
            let e = cfg(&[(var, val)]).unwrap_err();
            assert_eq!(e.source_name, var);
            assert_eq!(e.value, val);
            assert!(!e.expected.is_empty());
        }
    }

    #[test]
    fn spec_variables_win_over_standard_ones() {
        let c = cfg(&[
            ("OTEL_BACKEND", "otlp"),
            ("OTEL_EXPORTER_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:4317"),
            ("OTEL_SAMPLING_RATE", "0.25"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ])
        .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://a:4317"));
        assert_eq!(c.sampling_rate, 0.25);
    }

    #[test]
    fn a_metrics_dir_is_a_path() {
        let c = cfg(&[("CROSSTRACE_METRICS_DIR", " /run/m ")]).unwrap();
        assert_eq!(c.metrics_dir.as_deref(), Some("/run/m"));
        for bad in ["/tmp/a\tb", "/tmp/\u{0}", &"x".repeat(4097)] {
            let e = cfg(&[("CROSSTRACE_METRICS_DIR", bad)]).unwrap_err();
            assert_eq!(e.source_name, "CROSSTRACE_METRICS_DIR");
            assert!(e.expected.contains("directory"), "{}", e.expected);
        }
        assert_eq!(cfg(&[]).unwrap().metrics_dir, None);
    }

    #[test]
    fn either_switch_disables() {
        assert!(!cfg(&[("OTEL_SDK_DISABLED", "true")]).unwrap().enabled);
        assert!(!cfg(&[("OTEL_ENABLED", "false")]).unwrap().enabled);
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let c = cfg(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "k8s.cluster.name=retail%20cluster,service.name=from-attrs",
        )])
        .unwrap();
        assert_eq!(c.resource_attributes["k8s.cluster.name"], "retail cluster");
        assert_eq!(c.service_name, "from-attrs");
    }
}
