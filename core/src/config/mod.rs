//! `TracingConfig`: every option of the specification, its defaults, validation and the
//! environment (see [`env`]).

mod env;
mod fields;

pub use env::VARIABLES;

pub use crate::diag::LogLevel;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Where finished spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Human-readable output on stderr (the default; no server needed).
    #[default]
    Console,
    /// OTLP over gRPC or HTTP.
    Otlp,
    /// Jaeger (Thrift over HTTP on its collector port, or OTLP when the endpoint is an OTLP one).
    Jaeger,
    /// Zipkin v2 JSON.
    Zipkin,
    /// Spans are created and counted, never exported.
    None,
}

impl Backend {
    /// Every backend, for error messages.
    pub const ACCEPTED: &'static str = "one of console, otlp, jaeger, zipkin, none";

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Console => "console",
            Backend::Otlp => "otlp",
            Backend::Jaeger => "jaeger",
            Backend::Zipkin => "zipkin",
            Backend::None => "none",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "console" => Backend::Console,
            "otlp" => Backend::Otlp,
            "jaeger" => Backend::Jaeger,
            "zipkin" => Backend::Zipkin,
            "none" => Backend::None,
            _ => return Err(()),
        })
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318, path `/v1/traces`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl OtlpProtocol {
    /// Accepted spellings, for error messages.
    pub const ACCEPTED: &'static str = "one of grpc, http/protobuf, http/json";

    /// The standard spelling (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

impl FromStr for OtlpProtocol {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" | "http" => OtlpProtocol::HttpProtobuf,
            "http/json" => OtlpProtocol::HttpJson,
            _ => return Err(()),
        })
    }
}

/// A propagation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropagatorKind {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// B3, injected as the single `b3` header (extraction accepts both forms).
    B3,
    /// B3, injected as `X-B3-*` headers (extraction accepts both forms).
    B3Multi,
    /// Jaeger `uber-trace-id` with `uberctx-*` baggage.
    Jaeger,
}

impl PropagatorKind {
    /// Accepted names, for error messages.
    pub const ACCEPTED: &'static str =
        "a comma-separated list of tracecontext, baggage, b3, b3multi, jaeger (or none)";

    /// The standard name (`OTEL_PROPAGATORS`).
    pub fn as_str(self) -> &'static str {
        match self {
            PropagatorKind::TraceContext => "tracecontext",
            PropagatorKind::Baggage => "baggage",
            PropagatorKind::B3 => "b3",
            PropagatorKind::B3Multi => "b3multi",
            PropagatorKind::Jaeger => "jaeger",
        }
    }

    /// Whether this build has the format: B3 and Jaeger are features (`propagator-b3`,
    /// `propagator-jaeger`, default on), which the browser build of the npm package leaves out.
    pub fn is_built(self) -> bool {
        match self {
            PropagatorKind::TraceContext | PropagatorKind::Baggage => true,
            PropagatorKind::B3 | PropagatorKind::B3Multi => cfg!(feature = "propagator-b3"),
            PropagatorKind::Jaeger => cfg!(feature = "propagator-jaeger"),
        }
    }

    /// The default formats (`OTEL_PROPAGATORS` unset): tracecontext, baggage, b3 and jaeger,
    /// those this build has.
    pub fn defaults() -> Vec<PropagatorKind> {
        [
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::B3,
            PropagatorKind::Jaeger,
        ]
        .into_iter()
        .filter(|k| k.is_built())
        .collect()
    }
}

impl FromStr for PropagatorKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "tracecontext" => PropagatorKind::TraceContext,
            "baggage" => PropagatorKind::Baggage,
            "b3" => PropagatorKind::B3,
            "b3multi" => PropagatorKind::B3Multi,
            "jaeger" => PropagatorKind::Jaeger,
            _ => return Err(()),
        })
    }
}

/// The sampler (`OTEL_TRACES_SAMPLER`); the ratio comes from `sampling_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SamplerKind {
    /// Keep everything.
    #[serde(rename = "always_on")]
    AlwaysOn,
    /// Keep nothing.
    #[serde(rename = "always_off")]
    AlwaysOff,
    /// Keep `sampling_rate` of traces by trace id, ignoring the parent.
    #[serde(rename = "traceidratio")]
    TraceIdRatio,
    /// Follow the parent; roots always kept.
    #[serde(rename = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    /// Follow the parent; roots never kept.
    #[serde(rename = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    /// Follow the parent; roots kept at `sampling_rate` (the default, as in the specification).
    #[default]
    #[serde(rename = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

impl SamplerKind {
    /// Accepted names, for error messages.
    pub const ACCEPTED: &'static str = "one of always_on, always_off, traceidratio, \
         parentbased_always_on, parentbased_always_off, parentbased_traceidratio";

    /// The standard name.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerKind::AlwaysOn => "always_on",
            SamplerKind::AlwaysOff => "always_off",
            SamplerKind::TraceIdRatio => "traceidratio",
            SamplerKind::ParentBasedAlwaysOn => "parentbased_always_on",
            SamplerKind::ParentBasedAlwaysOff => "parentbased_always_off",
            SamplerKind::ParentBasedTraceIdRatio => "parentbased_traceidratio",
        }
    }

    /// Whether the ratio (`sampling_rate`) is used by this sampler.
    pub fn uses_ratio(self) -> bool {
        matches!(
            self,
            SamplerKind::TraceIdRatio | SamplerKind::ParentBasedTraceIdRatio
        )
    }
}

impl FromStr for SamplerKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "always_on" => SamplerKind::AlwaysOn,
            "always_off" => SamplerKind::AlwaysOff,
            "traceidratio" => SamplerKind::TraceIdRatio,
            "parentbased_always_on" => SamplerKind::ParentBasedAlwaysOn,
            "parentbased_always_off" => SamplerKind::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => SamplerKind::ParentBasedTraceIdRatio,
            _ => return Err(()),
        })
    }
}

/// Export compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip, where the protocol allows it.
    Gzip,
}

impl Compression {
    /// Accepted names, for error messages.
    pub const ACCEPTED: &'static str = "one of none, gzip";

    /// The name (`OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }
}

impl FromStr for Compression {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            _ => return Err(()),
        })
    }
}

/// The whole configuration. Build it with [`TracingConfig::builder`], [`TracingConfig::from_env`],
/// or deserialize it (serde); [`TracingConfig::validate`] checks it and
/// [`crate::Tracing::new`] validates before use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// Tracing on or off (`OTEL_ENABLED`, `OTEL_SDK_DISABLED`).
    pub enabled: bool,
    /// `service.name` (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// `service.version` (`OTEL_SERVICE_VERSION`).
    pub service_version: String,
    /// `deployment.environment` (`ENVIRONMENT`).
    pub environment: String,
    /// Where spans go (`OTEL_BACKEND`).
    pub backend: Backend,
    /// The backend's URL (`OTEL_EXPORTER_ENDPOINT`); `None` means the backend's default.
    pub endpoint: Option<String>,
    /// OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`); `None` means: from the endpoint.
    pub otlp_protocol: Option<OtlpProtocol>,
    /// Extra export headers (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// Export compression (`OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub compression: Compression,
    /// The sampler (`OTEL_TRACES_SAMPLER`).
    pub sampler: SamplerKind,
    /// The ratio for ratio samplers, 0.0..=1.0 (`OTEL_SAMPLING_RATE`, `OTEL_TRACES_SAMPLER_ARG`).
    pub sampling_rate: f64,
    /// Time allowed for one export batch, retries included (`OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// `OTEL_BSP_EXPORT_TIMEOUT`).
    pub export_timeout_seconds: f64,
    /// Time allowed for one attempt within it: an attempt that gets no answer in time is
    /// abandoned and retried on a fresh connection, so a backend that hangs costs one attempt,
    /// not the whole batch deadline (`CROSSTRACE_EXPORT_ATTEMPT_TIMEOUT`, ms).
    pub export_attempt_timeout_seconds: f64,
    /// Spans per export batch (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub export_max_batch_size: usize,
    /// Spans waiting for export before new ones are dropped (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub max_queue_size: usize,
    /// Longest wait before a partial batch is exported, ms (`OTEL_BSP_SCHEDULE_DELAY`).
    pub schedule_delay_millis: u64,
    /// Enable library auto-instrumentation in bindings that have it (`OTEL_AUTO_INSTRUMENT`).
    pub auto_instrument: bool,
    /// Instrument database drivers (`OTEL_INSTRUMENT_DB`).
    pub instrument_db: bool,
    /// Instrument HTTP clients and servers (`OTEL_INSTRUMENT_HTTP`).
    pub instrument_http: bool,
    /// Put trace ids in log records (`OTEL_INSTRUMENT_LOGGING`).
    pub instrument_logging: bool,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`). `service.name`,
    /// `service.version` and `deployment.environment` (`.name`) here are not exported: the
    /// fields above are (from the environment, these entries fill a field no variable set).
    pub resource_attributes: BTreeMap<String, String>,
    /// Propagation formats, in order (`OTEL_PROPAGATORS`).
    pub propagators: Vec<PropagatorKind>,
    /// Longest attribute value in bytes; longer strings are truncated and counted
    /// (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub attribute_value_length_limit: usize,
    /// Most attributes per span; further ones are dropped and counted
    /// (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`).
    pub attribute_count_limit: usize,
    /// Most events per span; further ones are dropped and counted
    /// (`OTEL_SPAN_EVENT_COUNT_LIMIT`; 0 keeps none).
    pub event_count_limit: usize,
    /// Most links per span; further ones are dropped and counted
    /// (`OTEL_SPAN_LINK_COUNT_LIMIT`; 0 keeps none).
    pub link_count_limit: usize,
    /// crosstrace's own diagnostics threshold (`OTEL_LOG_LEVEL`).
    pub log_level: LogLevel,
    /// Span-derived metrics from every span, sampled or not (`CROSSTRACE_METRICS`); read with
    /// [`Tracing::metrics`](crate::Tracing::metrics). Only with the `span-metrics` feature (on by
    /// default): without it there are none, and health says so (`metrics_enabled: false`).
    pub metrics_enabled: bool,
    /// Duration histogram bucket upper bounds in ms, ascending (`CROSSTRACE_METRICS_BUCKETS_MS`).
    pub metrics_buckets_ms: Vec<f64>,
    /// Most metric label sets; further ones are counted in overflow series
    /// (`CROSSTRACE_METRICS_MAX_SERIES`).
    pub metrics_max_series: usize,
    /// The sensitive names of the redaction policy ([`crate::redact`]): query parameters,
    /// body fields and headers whose values are recorded as `REDACTED`. `default` stands for
    /// the built-in list ([`crate::redact::DEFAULT_NAMES`]), so `["default", "ssn"]` adds a name;
    /// a list without it replaces the list; `["none"]` keeps none (userinfo in URLs and the
    /// credential headers are redacted whatever the list) (`CROSSTRACE_REDACT_KEYS`).
    pub redact_keys: Vec<String>,
    /// The most bytes of a request body a binding records (after redaction); 0 records none
    /// (`CROSSTRACE_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// A directory the processes of one host share for their span metrics
    /// (`CROSSTRACE_METRICS_DIR`): each process writes a snapshot of its table there (a file
    /// per process, replaced atomically), and rendering the metrics merges every file in it,
    /// those of exited processes included, so a scrape that reaches any worker of a
    /// multi-process server sees the totals of all of them. `None` (the default): the metrics
    /// are this process's alone. Native only (a wasm instance is one process: ignored there).
    pub metrics_dir: Option<String>,
    /// How often, in ms, a process writes its metrics file into `metrics_dir` (also at flush,
    /// shutdown and before rendering) (`CROSSTRACE_METRICS_SYNC_INTERVAL`).
    pub metrics_sync_interval_millis: u64,
}

/// The documented, inclusive bounds of the numeric settings: a value outside them is a
/// [`ConfigError`] naming the setting, the value and the bound (never a huge allocation, a
/// panic converting a time, or a busy export thread).
pub mod bounds {
    /// `max_queue_size`, spans.
    pub const MAX_QUEUE_SIZE: usize = 1 << 20;
    /// `export_max_batch_size`, spans (and at most `max_queue_size`).
    pub const MAX_EXPORT_BATCH_SIZE: usize = 1 << 16;
    /// `schedule_delay_millis`, ms (at least 1).
    pub const MAX_SCHEDULE_DELAY_MILLIS: u64 = 3_600_000;
    /// The export and attempt timeouts, ms: from 1 ms to one hour.
    pub const MAX_TIMEOUT_MILLIS: u64 = 3_600_000;
    /// `attribute_value_length_limit`, bytes.
    pub const MAX_ATTRIBUTE_VALUE_LENGTH: usize = 1 << 20;
    /// `attribute_count_limit`, attributes.
    pub const MAX_ATTRIBUTE_COUNT: usize = 1 << 16;
    /// `event_count_limit` and `link_count_limit`, events and links per span.
    pub const MAX_EVENT_OR_LINK_COUNT: usize = 1 << 16;
    /// `metrics_max_series`, label sets.
    pub const MAX_METRICS_SERIES: usize = 20_000;
    /// `metrics_buckets_ms`: bounds per histogram.
    pub const MAX_METRICS_BUCKETS: usize = 64;
    /// `metrics_buckets_ms`: the largest bound, ms (a day).
    pub const MAX_METRICS_BUCKET_MS: f64 = 86_400_000.0;
    /// `max_body_bytes`, bytes (0 records no body).
    pub const MAX_BODY_BYTES: usize = 1 << 16;
    /// `metrics_sync_interval_millis`: the shortest interval, ms.
    pub const MIN_METRICS_SYNC_MILLIS: u64 = 10;
    /// `metrics_sync_interval_millis`: the longest interval, ms (an hour).
    pub const MAX_METRICS_SYNC_MILLIS: u64 = 3_600_000;
    /// `metrics_dir`: the longest path, bytes.
    pub const MAX_METRICS_DIR_BYTES: usize = 4096;
}

/// "a whole number of {unit} from {min} to {max}": what a bounded count accepts.
pub(crate) fn whole(unit: &str, min: u64, max: u64) -> String {
    format!("a whole number of {unit} from {min} to {max}")
}

/// A bounded count of a config field.
fn check_whole(field: &str, v: u64, min: u64, max: u64, unit: &str) -> Result<(), ConfigError> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            v.to_string(),
            whole(unit, min, max),
        ))
    }
}

/// A timeout field in seconds: 1 ms to [`bounds::MAX_TIMEOUT_MILLIS`] (NaN and infinities
/// fail the range check too).
fn check_seconds(field: &str, v: f64) -> Result<(), ConfigError> {
    let max = bounds::MAX_TIMEOUT_MILLIS as f64 / 1000.0;
    if (0.001..=max).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            crate::platform::number_text(v),
            seconds_expected(),
        ))
    }
}

/// What a timeout in seconds accepts (its bound a whole number of seconds: no float printing).
fn seconds_expected() -> String {
    format!(
        "a number of seconds from 0.001 to {}",
        bounds::MAX_TIMEOUT_MILLIS / 1000
    )
}

/// Defaults of the specification.
pub mod defaults {
    /// `OTEL_SERVICE_NAME`.
    pub const SERVICE_NAME: &str = "retail-etl-pipeline";
    /// `OTEL_SERVICE_VERSION`.
    pub const SERVICE_VERSION: &str = "1.0.0";
    /// `ENVIRONMENT`.
    pub const ENVIRONMENT: &str = "development";
    /// Export timeout, seconds.
    pub const EXPORT_TIMEOUT_SECONDS: f64 = 30.0;
    /// One export attempt's timeout, seconds.
    pub const EXPORT_ATTEMPT_TIMEOUT_SECONDS: f64 = 5.0;
    /// Batch size.
    pub const MAX_EXPORT_BATCH_SIZE: usize = 512;
    /// Queue size.
    pub const MAX_QUEUE_SIZE: usize = 2048;
    /// Schedule delay, ms.
    pub const SCHEDULE_DELAY_MILLIS: u64 = 5000;
    /// Attribute value length limit (the specification advises < 1 KB).
    pub const ATTRIBUTE_VALUE_LENGTH_LIMIT: usize = 1024;
    /// Attribute count limit (the OpenTelemetry default).
    pub const ATTRIBUTE_COUNT_LIMIT: usize = 128;
    /// Recorded request body, bytes.
    pub const MAX_BODY_BYTES: usize = 1024;
    /// How often a process writes its metrics file (`metrics_dir`), ms.
    pub const METRICS_SYNC_INTERVAL_MILLIS: u64 = 1000;
    /// Jaeger's Thrift-over-HTTP collector.
    pub const JAEGER_ENDPOINT: &str = "http://localhost:14268/api/traces";
    /// OTLP/gRPC.
    pub const OTLP_GRPC_ENDPOINT: &str = "http://localhost:4317";
    /// OTLP/HTTP.
    pub const OTLP_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";
    /// Zipkin v2.
    pub const ZIPKIN_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            enabled: true,
            service_name: defaults::SERVICE_NAME.into(),
            service_version: defaults::SERVICE_VERSION.into(),
            environment: defaults::ENVIRONMENT.into(),
            backend: Backend::Console,
            endpoint: None,
            otlp_protocol: None,
            headers: BTreeMap::new(),
            compression: Compression::None,
            sampler: SamplerKind::ParentBasedTraceIdRatio,
            sampling_rate: 1.0,
            export_timeout_seconds: defaults::EXPORT_TIMEOUT_SECONDS,
            export_attempt_timeout_seconds: defaults::EXPORT_ATTEMPT_TIMEOUT_SECONDS,
            export_max_batch_size: defaults::MAX_EXPORT_BATCH_SIZE,
            max_queue_size: defaults::MAX_QUEUE_SIZE,
            schedule_delay_millis: defaults::SCHEDULE_DELAY_MILLIS,
            auto_instrument: true,
            instrument_db: true,
            instrument_http: true,
            instrument_logging: true,
            resource_attributes: BTreeMap::new(),
            propagators: PropagatorKind::defaults(),
            attribute_value_length_limit: defaults::ATTRIBUTE_VALUE_LENGTH_LIMIT,
            attribute_count_limit: defaults::ATTRIBUTE_COUNT_LIMIT,
            event_count_limit: crate::limits::MAX_EVENTS_PER_SPAN,
            link_count_limit: crate::limits::MAX_LINKS_PER_SPAN,
            log_level: LogLevel::Info,
            metrics_enabled: true,
            metrics_buckets_ms: crate::metrics::DEFAULT_BUCKETS_MS.to_vec(),
            metrics_max_series: crate::metrics::DEFAULT_MAX_SERIES,
            redact_keys: vec!["default".into()],
            max_body_bytes: defaults::MAX_BODY_BYTES,
            metrics_dir: None,
            metrics_sync_interval_millis: defaults::METRICS_SYNC_INTERVAL_MILLIS,
        }
    }
}

/// The OTLP transport and URL actually used for a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEndpoint {
    /// The full URL.
    pub url: String,
    /// For OTLP (and Jaeger pointed at OTLP): the transport.
    pub otlp_protocol: Option<OtlpProtocol>,
}

impl TracingConfig {
    /// The ratio of root spans the sampler keeps: `sampling_rate` for ratio samplers, 1 or 0
    /// for the always-on and always-off ones.
    pub fn sampling_rate_in_effect(&self) -> f64 {
        match self.sampler {
            SamplerKind::AlwaysOn | SamplerKind::ParentBasedAlwaysOn => 1.0,
            SamplerKind::AlwaysOff | SamplerKind::ParentBasedAlwaysOff => 0.0,
            _ => self.sampling_rate,
        }
    }

    /// A config from a JSON object of its fields (what the Python and wasm bindings send),
    /// validated. A field of the wrong type is an error naming the field and the value as
    /// given: a bindings passes what JSON cannot hold (NaN, infinities, integers beyond 64
    /// bits) as a string, which such a field then names.
    pub fn from_json(text: &str) -> Result<TracingConfig, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            ConfigError::new(
                "config",
                text.chars().take(80).collect::<String>(),
                format!("a JSON object of TracingConfig fields ({e})"),
            )
        })?;
        Self::from_json_value(value)
    }

    /// [`TracingConfig::from_json`] from a parsed value.
    pub(crate) fn from_json_value(value: serde_json::Value) -> Result<TracingConfig, ConfigError> {
        use serde_json::Value;
        let Value::Object(fields) = value else {
            return Err(ConfigError::new(
                "config",
                value.to_string().chars().take(80).collect::<String>(),
                "a JSON object of TracingConfig fields",
            ));
        };
        let fields: Vec<(String, Value)> = fields.into_iter().collect();
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        let object = |fields: &[(String, Value)]| Value::Object(fields.iter().cloned().collect());
        Self::from_fields(
            &names,
            || serde_json::from_value::<TracingConfig>(object(&fields)),
            |i| serde_json::from_value::<TracingConfig>(object(&fields[i..=i])),
            // As `validate` shows numbers (1e300, not 1e+300).
            |i| match &fields[i].1 {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_f64() => format!("{:?}", n.as_f64().unwrap_or(f64::NAN)),
                other => other.to_string(),
            },
        )
    }

    /// A config from the fields of an object, deserialized with whatever serde deserializer
    /// the binding reads its objects with (serde_json: [`TracingConfig::from_json`]), validated
    /// (without serde: [`TracingConfig::from_values`]). `all` deserializes every field; when
    /// that fails, `one(i)` deserializes field `i` alone, and the first that fails is named,
    /// with `given(i)`, its value as the caller gave it.
    pub fn from_fields<E: fmt::Display>(
        names: &[&str],
        all: impl FnOnce() -> Result<TracingConfig, E>,
        one: impl Fn(usize) -> Result<TracingConfig, E>,
        given: impl Fn(usize) -> String,
    ) -> Result<TracingConfig, ConfigError> {
        // Not every deserializer sees fields the struct does not name, so unknown fields are
        // refused here, for all of them.
        Self::check_known(names, &given)?;
        match all() {
            Ok(c) => {
                c.validate()?;
                Ok(c)
            }
            Err(all) => {
                for (i, name) in names.iter().enumerate() {
                    if let Err(e) = one(i) {
                        let expected = numeric_expected(name).unwrap_or_else(|| e.to_string());
                        return Err(ConfigError::new(*name, given(i), expected));
                    }
                }
                Err(ConfigError::new("config", "", all.to_string()))
            }
        }
    }

    /// An error naming the first of `names` that is not a field.
    fn check_known(names: &[&str], given: &impl Fn(usize) -> String) -> Result<(), ConfigError> {
        let known = field_names();
        let Some(i) = names.iter().position(|n| !known.contains(n)) else {
            return Ok(());
        };
        let list = known
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(ConfigError::new(
            names[i],
            given(i),
            format!(
                "a TracingConfig field (unknown field `{}`, expected one of {list})",
                names[i]
            ),
        ))
    }

    /// Whether a span metrics setting differs from its default (the switch aside).
    #[cfg_attr(feature = "span-metrics", allow(dead_code))]
    pub(crate) fn sets_span_metrics(&self) -> bool {
        let d = TracingConfig::default();
        self.metrics_buckets_ms != d.metrics_buckets_ms
            || self.metrics_max_series != d.metrics_max_series
            || self.metrics_dir.is_some()
            || self.metrics_sync_interval_millis != d.metrics_sync_interval_millis
    }

    /// The names of the fields (as serde sees them: snake_case).
    pub fn field_names() -> &'static [&'static str] {
        field_names()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> TracingConfigBuilder {
        TracingConfigBuilder {
            config: TracingConfig::default(),
        }
    }

    /// The export timeout as a `Duration` (within its bounds, whatever the field holds).
    pub fn export_timeout(&self) -> Duration {
        seconds_within_bounds(self.export_timeout_seconds)
    }

    /// One export attempt's timeout as a `Duration` (within its bounds).
    pub fn export_attempt_timeout(&self) -> Duration {
        seconds_within_bounds(self.export_attempt_timeout_seconds)
    }

    /// The metrics files' sync interval as a `Duration` (within its bounds).
    pub fn metrics_sync_interval(&self) -> Duration {
        Duration::from_millis(self.metrics_sync_interval_millis.clamp(
            bounds::MIN_METRICS_SYNC_MILLIS,
            bounds::MAX_METRICS_SYNC_MILLIS,
        ))
    }

    /// The schedule delay as a `Duration` (within its bounds).
    pub fn schedule_delay(&self) -> Duration {
        Duration::from_millis(
            self.schedule_delay_millis
                .clamp(1, bounds::MAX_SCHEDULE_DELAY_MILLIS),
        )
    }

    /// Checks every field; the error names the field, the value and what is accepted (every
    /// number within [`bounds`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.sampling_rate) {
            return Err(ConfigError::new(
                "sampling_rate",
                crate::platform::number_text(self.sampling_rate),
                "a number from 0.0 to 1.0",
            ));
        }
        if !self.sampler.uses_ratio() && self.sampling_rate != 1.0 {
            return Err(ConfigError::new(
                "sampling_rate",
                crate::platform::number_text(self.sampling_rate),
                format!(
                    "no ratio with sampler={} (use a traceidratio sampler)",
                    self.sampler.as_str()
                ),
            ));
        }
        check_seconds("export_timeout_seconds", self.export_timeout_seconds)?;
        check_seconds(
            "export_attempt_timeout_seconds",
            self.export_attempt_timeout_seconds,
        )?;
        let count =
            |field, v: usize, max: usize, unit| check_whole(field, v as u64, 1, max as u64, unit);
        count(
            "max_queue_size",
            self.max_queue_size,
            bounds::MAX_QUEUE_SIZE,
            "spans",
        )?;
        count(
            "export_max_batch_size",
            self.export_max_batch_size,
            bounds::MAX_EXPORT_BATCH_SIZE,
            "spans",
        )?;
        check_whole(
            "schedule_delay_millis",
            self.schedule_delay_millis,
            1,
            bounds::MAX_SCHEDULE_DELAY_MILLIS,
            "milliseconds",
        )?;
        count(
            "attribute_value_length_limit",
            self.attribute_value_length_limit,
            bounds::MAX_ATTRIBUTE_VALUE_LENGTH,
            "bytes",
        )?;
        count(
            "attribute_count_limit",
            self.attribute_count_limit,
            bounds::MAX_ATTRIBUTE_COUNT,
            "attributes",
        )?;
        count(
            "metrics_max_series",
            self.metrics_max_series,
            bounds::MAX_METRICS_SERIES,
            "label sets",
        )?;
        for (field, v, unit) in [
            ("event_count_limit", self.event_count_limit, "events"),
            ("link_count_limit", self.link_count_limit, "links"),
        ] {
            check_whole(
                field,
                v as u64,
                0,
                bounds::MAX_EVENT_OR_LINK_COUNT as u64,
                unit,
            )?;
        }
        check_whole(
            "max_body_bytes",
            self.max_body_bytes as u64,
            0,
            bounds::MAX_BODY_BYTES as u64,
            "bytes",
        )?;
        check_whole(
            "metrics_sync_interval_millis",
            self.metrics_sync_interval_millis,
            bounds::MIN_METRICS_SYNC_MILLIS,
            bounds::MAX_METRICS_SYNC_MILLIS,
            "milliseconds",
        )?;
        if let Some(dir) = &self.metrics_dir {
            if let Some(expected) = check_metrics_dir(dir) {
                return Err(ConfigError::new("metrics_dir", dir.as_str(), expected));
            }
        }
        if let Some(missing) = self.propagators.iter().find(|k| !k.is_built()) {
            return Err(ConfigError::new(
                "propagators",
                self.propagators
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                format!(
                    "{} (or none): {} is not in this build (B3 and Jaeger propagation are the \
                     features `propagator-b3` and `propagator-jaeger`; in the npm package the \
                     full build has them: the node, workerd and edge-light export conditions, \
                     or import 'crosstrace/edge')",
                    PropagatorKind::defaults()
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    missing.as_str()
                ),
            ));
        }
        crate::redact::Policy::new(&self.redact_keys).map_err(|wrong| {
            ConfigError::new(
                "redact_keys",
                self.redact_keys.join(","),
                format!("{} ({wrong})", crate::redact::ACCEPTED),
            )
        })?;
        if self.export_max_batch_size > self.max_queue_size {
            return Err(ConfigError::new(
                "export_max_batch_size",
                self.export_max_batch_size.to_string(),
                format!(
                    "at most max_queue_size ({}), as OpenTelemetry requires",
                    self.max_queue_size
                ),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::new(
                "service_name",
                &self.service_name,
                "a non-empty name",
            ));
        }
        if let Some(expected) = check_buckets(&self.metrics_buckets_ms) {
            return Err(ConfigError::new(
                "metrics_buckets_ms",
                format!(
                    "[{}]",
                    self.metrics_buckets_ms
                        .iter()
                        .map(|b| crate::platform::number_text(*b))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                expected,
            ));
        }
        if let Some(endpoint) = &self.endpoint {
            validate_url(endpoint).map_err(|expected| {
                // An endpoint's userinfo and secret query values are not repeated in errors.
                ConfigError::new(
                    "endpoint",
                    crate::redact::endpoint_shown(endpoint),
                    expected,
                )
            })?;
        }
        check_headers("headers", &self.headers)?;
        for k in self.resource_attributes.keys() {
            if k.trim().is_empty() {
                return Err(ConfigError::new(
                    "resource_attributes",
                    k.as_str(),
                    "non-empty attribute keys",
                ));
            }
        }
        Ok(())
    }

    /// The URL and transport the exporter will use: the configured endpoint or the backend's
    /// default. For OTLP the transport comes from `otlp_protocol` if set, else from the endpoint
    /// (port 4317 means gRPC; port 4318 or a `/v1/traces` path means HTTP), else gRPC.
    /// `None` for the console and none backends.
    pub fn resolved_endpoint(&self) -> Option<ResolvedEndpoint> {
        match self.backend {
            Backend::Console | Backend::None => None,
            Backend::Zipkin => Some(ResolvedEndpoint {
                url: self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| defaults::ZIPKIN_ENDPOINT.into()),
                otlp_protocol: None,
            }),
            Backend::Jaeger => {
                let url = self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| defaults::JAEGER_ENDPOINT.into());
                let otlp_protocol = if looks_like_otlp(&url) {
                    Some(self.otlp_protocol.unwrap_or_else(|| otlp_protocol_of(&url)))
                } else {
                    None
                };
                // An OTLP/HTTP receiver's base URL (`http://jaeger:4318`), as for otlp.
                let url = match otlp_protocol {
                    Some(p) if p != OtlpProtocol::Grpc && !has_path(&url) => {
                        format!("{}/v1/traces", url.trim_end_matches('/'))
                    }
                    _ => url,
                };
                Some(ResolvedEndpoint { url, otlp_protocol })
            }
            Backend::Otlp => {
                let protocol = match (&self.otlp_protocol, &self.endpoint) {
                    (Some(p), _) => *p,
                    (None, Some(url)) => otlp_protocol_of(url),
                    (None, None) => OtlpProtocol::Grpc,
                };
                let url = match &self.endpoint {
                    Some(url) if protocol != OtlpProtocol::Grpc && !has_path(url) => {
                        format!("{}/v1/traces", url.trim_end_matches('/'))
                    }
                    Some(url) => url.clone(),
                    None if protocol == OtlpProtocol::Grpc => defaults::OTLP_GRPC_ENDPOINT.into(),
                    None => defaults::OTLP_HTTP_ENDPOINT.into(),
                };
                Some(ResolvedEndpoint {
                    url,
                    otlp_protocol: Some(protocol),
                })
            }
        }
    }
}

/// Resource attributes that config fields own (`service_name`, `service_version`,
/// `environment`): the fields' values are exported, so health, metrics and spans agree.
pub(crate) const FROM_FIELDS: [&str; 4] = [
    "service.name",
    "service.version",
    "deployment.environment",
    "deployment.environment.name",
];

impl TracingConfig {
    /// The config with `service.name`, `service.version` and `deployment.environment` (or
    /// `.name`) of `resource_attributes` in their fields where those are still the defaults (a
    /// field set explicitly wins): the fields are what spans, health and metrics say
    /// ([`FROM_FIELDS`]). The environment's reading does the same; this is for
    /// configs made as structs, JSON or the bindings' objects.
    pub(crate) fn with_resource_fields(mut self) -> TracingConfig {
        for (key, default) in [
            ("service.name", defaults::SERVICE_NAME),
            ("service.version", defaults::SERVICE_VERSION),
            ("deployment.environment", defaults::ENVIRONMENT),
            ("deployment.environment.name", defaults::ENVIRONMENT),
        ] {
            // Left in the attributes: the resource skips them (`FROM_FIELDS`). (Removing
            // them would bring a BTreeMap's removal into the browser build, 2 KiB.)
            let Some(v) = self.resource_attributes.get(key).cloned() else {
                continue;
            };
            let field = match key {
                "service.name" => &mut self.service_name,
                "service.version" => &mut self.service_version,
                _ => &mut self.environment,
            };
            if field == default {
                *field = v;
            }
        }
        self
    }
}

/// The traces URL of an OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`) under `config`'s backend
/// and protocol: over HTTP, the base's path + `/v1/traces` (once: a base that already ends with
/// it is kept); gRPC and the other backends take it as it is.
pub(crate) fn traces_url_of_base(url: &str, config: &TracingConfig) -> String {
    let http = match config.backend {
        Backend::Otlp => config
            .otlp_protocol
            .unwrap_or_else(|| otlp_protocol_of(url)),
        Backend::Jaeger if looks_like_otlp(url) => config
            .otlp_protocol
            .unwrap_or_else(|| otlp_protocol_of(url)),
        _ => OtlpProtocol::Grpc,
    } != OtlpProtocol::Grpc;
    let (base, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let base = base.trim_end_matches('/');
    if !http || base.ends_with("/v1/traces") {
        return url.to_owned();
    }
    format!("{base}/v1/traces{query}")
}

fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let port = authority.rsplit_once(':')?.1;
    port.parse().ok()
}

fn has_path(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.find('/').is_some_and(|i| rest.len() > i + 1))
        .unwrap_or(false)
}

fn otlp_protocol_of(url: &str) -> OtlpProtocol {
    if port_of(url) == Some(4318) || url.contains("/v1/traces") {
        OtlpProtocol::HttpProtobuf
    } else {
        OtlpProtocol::Grpc
    }
}

fn looks_like_otlp(url: &str) -> bool {
    matches!(port_of(url), Some(4317 | 4318)) || url.contains("/v1/traces")
}

/// Whether an OTLP endpoint points at Jaeger's Thrift collector path (`/api/traces`), a mistake
/// the specification's own Kubernetes example makes.
pub fn is_jaeger_thrift_path(url: &str) -> bool {
    url.split(['?', '#'])
        .next()
        .is_some_and(|u| u.trim_end_matches('/').ends_with("/api/traces"))
        || port_of(url) == Some(14268)
}

/// Checks headers for `variable` (a field, or the variable they came from): HTTP header names
/// with printable values. A header's value is usually a credential: named, never shown.
pub(crate) fn check_headers<'a>(
    variable: &'static str,
    headers: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), ConfigError> {
    for (k, v) in headers {
        if !is_header_name(k) || v.chars().any(|c| c.is_control()) {
            return Err(ConfigError::new(
                variable,
                format!("{k}={}", crate::redact::REDACTED),
                "HTTP header names (letters, digits, '-', '_', '.') with printable values",
            ));
        }
    }
    Ok(())
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The field names serde's derive gives `TracingConfig::deserialize` (read by asking it to
/// deserialize from a deserializer that only records them).
fn field_names() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Found(&[])
        }
    }
    struct Names;
    impl<'de> de::Deserializer<'de> for Names {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    match TracingConfig::deserialize(Names) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// What a numeric field accepts, in the words of [`TracingConfig::validate`].
fn numeric_expected(field: &str) -> Option<String> {
    let count = |unit, max: usize| whole(unit, 1, max as u64);
    Some(match field {
        "sampling_rate" => "a number from 0.0 to 1.0".into(),
        "export_timeout_seconds" | "export_attempt_timeout_seconds" => seconds_expected(),
        "max_queue_size" => count("spans", bounds::MAX_QUEUE_SIZE),
        "export_max_batch_size" => count("spans", bounds::MAX_EXPORT_BATCH_SIZE),
        "schedule_delay_millis" => whole("milliseconds", 1, bounds::MAX_SCHEDULE_DELAY_MILLIS),
        "attribute_value_length_limit" => count("bytes", bounds::MAX_ATTRIBUTE_VALUE_LENGTH),
        "attribute_count_limit" => count("attributes", bounds::MAX_ATTRIBUTE_COUNT),
        "event_count_limit" => whole("events", 0, bounds::MAX_EVENT_OR_LINK_COUNT as u64),
        "link_count_limit" => whole("links", 0, bounds::MAX_EVENT_OR_LINK_COUNT as u64),
        "metrics_max_series" => count("label sets", bounds::MAX_METRICS_SERIES),
        "max_body_bytes" => whole("bytes", 0, bounds::MAX_BODY_BYTES as u64),
        "metrics_sync_interval_millis" => whole(
            "milliseconds",
            bounds::MIN_METRICS_SYNC_MILLIS,
            bounds::MAX_METRICS_SYNC_MILLIS,
        ),
        _ => return None,
    })
}

/// A duration of `seconds`, clamped to the timeouts' bounds (NaN: the smallest).
fn seconds_within_bounds(seconds: f64) -> Duration {
    let max = bounds::MAX_TIMEOUT_MILLIS as f64 / 1000.0;
    let s = if seconds.is_nan() {
        0.001
    } else {
        seconds.clamp(0.001, max)
    };
    Duration::from_secs_f64(s)
}

/// What is wrong with histogram bounds, if anything.
pub(crate) fn check_buckets(b: &[f64]) -> Option<&'static str> {
    let ok = !b.is_empty()
        && b.len() <= bounds::MAX_METRICS_BUCKETS
        && b.iter()
            .all(|v| v.is_finite() && *v > 0.0 && *v <= bounds::MAX_METRICS_BUCKET_MS)
        && b.windows(2).all(|w| w[0] < w[1]);
    (!ok).then_some(
        "1 to 64 strictly increasing numbers of milliseconds, each above 0 and at most \
         86400000 (a day)",
    )
}

/// What is wrong with a `metrics_dir`, if anything: it must name a directory (not empty or
/// blank, no control characters, at most [`bounds::MAX_METRICS_DIR_BYTES`]).
pub(crate) fn check_metrics_dir(dir: &str) -> Option<&'static str> {
    let ok = !dir.trim().is_empty()
        && dir.len() <= bounds::MAX_METRICS_DIR_BYTES
        && !dir.chars().any(char::is_control);
    (!ok).then_some(
        "a directory path (not empty, no control characters, at most 4096 bytes) the \
         processes of this host share",
    )
}

/// An endpoint must be an absolute http(s) URL with a host.
pub(crate) fn validate_url(url: &str) -> Result<(), &'static str> {
    const EXPECTED: &str =
        "an absolute http:// or https:// URL with a host, like http://localhost:4317";
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(EXPECTED);
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(EXPECTED);
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => {
            if port.is_empty() || port.parse::<u16>().is_err() {
                return Err(EXPECTED);
            }
            host
        }
        _ => authority,
    };
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EXPECTED);
    }
    Ok(())
}

/// Builds a [`TracingConfig`] from the defaults.
#[derive(Debug, Clone)]
pub struct TracingConfigBuilder {
    config: TracingConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident : $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: impl Into<$ty>) -> Self {
                self.config.$name = value.into();
                self
            }
        )*
    };
}

impl TracingConfigBuilder {
    setters! {
        /// See [`TracingConfig::enabled`].
        enabled: bool,
        /// See [`TracingConfig::service_name`].
        service_name: String,
        /// See [`TracingConfig::service_version`].
        service_version: String,
        /// See [`TracingConfig::environment`].
        environment: String,
        /// See [`TracingConfig::backend`].
        backend: Backend,
        /// See [`TracingConfig::compression`].
        compression: Compression,
        /// See [`TracingConfig::sampler`].
        sampler: SamplerKind,
        /// See [`TracingConfig::sampling_rate`].
        sampling_rate: f64,
        /// See [`TracingConfig::export_timeout_seconds`].
        export_timeout_seconds: f64,
        /// See [`TracingConfig::export_attempt_timeout_seconds`].
        export_attempt_timeout_seconds: f64,
        /// See [`TracingConfig::export_max_batch_size`].
        export_max_batch_size: usize,
        /// See [`TracingConfig::max_queue_size`].
        max_queue_size: usize,
        /// See [`TracingConfig::schedule_delay_millis`].
        schedule_delay_millis: u64,
        /// See [`TracingConfig::auto_instrument`].
        auto_instrument: bool,
        /// See [`TracingConfig::instrument_db`].
        instrument_db: bool,
        /// See [`TracingConfig::instrument_http`].
        instrument_http: bool,
        /// See [`TracingConfig::instrument_logging`].
        instrument_logging: bool,
        /// See [`TracingConfig::propagators`].
        propagators: Vec<PropagatorKind>,
        /// See [`TracingConfig::attribute_value_length_limit`].
        attribute_value_length_limit: usize,
        /// See [`TracingConfig::attribute_count_limit`].
        attribute_count_limit: usize,
        /// See [`TracingConfig::event_count_limit`].
        event_count_limit: usize,
        /// See [`TracingConfig::link_count_limit`].
        link_count_limit: usize,
        /// See [`TracingConfig::log_level`].
        log_level: LogLevel,
        /// See [`TracingConfig::metrics_enabled`].
        metrics_enabled: bool,
        /// See [`TracingConfig::metrics_buckets_ms`].
        metrics_buckets_ms: Vec<f64>,
        /// See [`TracingConfig::metrics_max_series`].
        metrics_max_series: usize,
        /// See [`TracingConfig::redact_keys`].
        redact_keys: Vec<String>,
        /// See [`TracingConfig::max_body_bytes`].
        max_body_bytes: usize,
        /// See [`TracingConfig::metrics_sync_interval_millis`].
        metrics_sync_interval_millis: u64,
    }

    /// See [`TracingConfig::metrics_dir`].
    pub fn metrics_dir(mut self, dir: impl Into<String>) -> Self {
        self.config.metrics_dir = Some(dir.into());
        self
    }

    /// See [`TracingConfig::endpoint`].
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.config.endpoint = Some(url.into());
        self
    }

    /// See [`TracingConfig::otlp_protocol`].
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.config.otlp_protocol = Some(protocol);
        self
    }

    /// Adds one export header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.headers.insert(name.into(), value.into());
        self
    }

    /// Adds one resource attribute. `service.name`, `service.version` and
    /// `deployment.environment` (or `.name`) set the config's field instead: the fields are
    /// what spans, health and metrics say.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match key.as_str() {
            "service.name" => self.config.service_name = value,
            "service.version" => self.config.service_version = value,
            "deployment.environment" | "deployment.environment.name" => {
                self.config.environment = value
            }
            _ => {
                self.config.resource_attributes.insert(key, value);
            }
        }
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<TracingConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_the_structs_and_unknown_fields_are_named() {
        let names = TracingConfig::field_names();
        let json = serde_json::to_value(TracingConfig::default()).unwrap();
        let serialized: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, serialized);
        // From any deserializer: one that reads only the named fields (as serde-wasm-bindgen
        // does) would never see this one.
        let e = TracingConfig::from_fields(
            &["service_name", "sample_rate"],
            || Ok::<_, String>(TracingConfig::default()),
            |_| Ok::<_, String>(TracingConfig::default()),
            |i| ["svc", "1"][i].to_owned(),
        )
        .unwrap_err();
        assert_eq!(e.source_name, "sample_rate");
        assert!(e.to_string().contains("unknown field `sample_rate`"), "{e}");
        let e = TracingConfig::from_json(r#"{"sample_rate": 1}"#).unwrap_err();
        assert_eq!(e.source_name, "sample_rate");
    }

    #[test]
    fn otlp_transport_follows_the_endpoint() {
        let cfg = |e: &str| TracingConfig {
            backend: Backend::Otlp,
            endpoint: Some(e.into()),
            ..TracingConfig::default()
        };
        let r = cfg("http://collector:4318").resolved_endpoint().unwrap();
        assert_eq!(r.url, "http://collector:4318/v1/traces");
        assert_eq!(r.otlp_protocol, Some(OtlpProtocol::HttpProtobuf));
        let r = cfg("http://collector:4317").resolved_endpoint().unwrap();
        assert_eq!(r.url, "http://collector:4317");
        assert_eq!(r.otlp_protocol, Some(OtlpProtocol::Grpc));
        let r = cfg("https://x.example/otlp/v1/traces")
            .resolved_endpoint()
            .unwrap();
        assert_eq!(r.otlp_protocol, Some(OtlpProtocol::HttpProtobuf));
    }

    /// Each backend's default endpoint, and the protocol setting (OTEL_EXPORTER_OTLP_PROTOCOL)
    /// winning over what the endpoint's port suggests.
    #[test]
    fn endpoint_defaults_per_backend_and_the_protocol_override() {
        let with = |backend, endpoint: Option<&str>, protocol| {
            TracingConfig {
                backend,
                endpoint: endpoint.map(str::to_owned),
                otlp_protocol: protocol,
                ..TracingConfig::default()
            }
            .resolved_endpoint()
        };
        let r = with(Backend::Otlp, None, None).unwrap();
        assert_eq!(
            (r.url.as_str(), r.otlp_protocol),
            (defaults::OTLP_GRPC_ENDPOINT, Some(OtlpProtocol::Grpc))
        );
        let r = with(Backend::Otlp, None, Some(OtlpProtocol::HttpProtobuf)).unwrap();
        assert_eq!(r.url, defaults::OTLP_HTTP_ENDPOINT);
        let r = with(Backend::Zipkin, None, None).unwrap();
        assert_eq!(
            (r.url.as_str(), r.otlp_protocol),
            (defaults::ZIPKIN_ENDPOINT, None)
        );
        assert!(with(Backend::Console, None, None).is_none());
        assert!(with(Backend::None, None, None).is_none());
        // The protocol setting wins over the port.
        let r = with(
            Backend::Otlp,
            Some("http://collector:4318"),
            Some(OtlpProtocol::Grpc),
        )
        .unwrap();
        assert_eq!(
            (r.url.as_str(), r.otlp_protocol),
            ("http://collector:4318", Some(OtlpProtocol::Grpc))
        );
        let r = with(
            Backend::Otlp,
            Some("http://collector:4317"),
            Some(OtlpProtocol::HttpProtobuf),
        )
        .unwrap();
        assert_eq!(
            (r.url.as_str(), r.otlp_protocol),
            (
                "http://collector:4317/v1/traces",
                Some(OtlpProtocol::HttpProtobuf)
            )
        );
        // Also when read from the environment.
        let r = resolved_from_env(&[
            ("OTEL_BACKEND", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert_eq!(r.otlp_protocol, Some(OtlpProtocol::Grpc));
    }

    /// Where a config read from these variables sends spans.
    fn resolved_from_env(pairs: &[(&str, &str)]) -> ResolvedEndpoint {
        TracingConfig::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
        .resolved_endpoint()
        .unwrap()
    }

    #[test]
    fn a_ratio_with_a_sampler_that_takes_none_is_refused_however_it_is_given() {
        let built = TracingConfig::builder()
            .sampler(SamplerKind::AlwaysOn)
            .sampling_rate(0.1)
            .build();
        let e = built.unwrap_err().to_string();
        assert!(
            e.contains("sampling_rate=\"0.1\"") && e.contains("sampler=always_on"),
            "{e}"
        );
        let e = TracingConfig::from_json(
            r#"{"sampler": "parentbased_always_off", "sampling_rate": 0.5}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sampling_rate=\"0.5\""), "{e}");
        // 1 is every sampler's ratio; a ratio sampler takes any.
        for (sampler, rate) in [
            (SamplerKind::AlwaysOff, 1.0),
            (SamplerKind::TraceIdRatio, 0.1),
            (SamplerKind::ParentBasedTraceIdRatio, 0.0),
        ] {
            let c = TracingConfig::builder()
                .sampler(sampler)
                .sampling_rate(rate)
                .build();
            assert!(c.is_ok(), "{sampler:?} with {rate}: {c:?}");
        }
    }

    #[test]
    fn the_standard_endpoint_is_a_base_url() {
        let endpoint = |pairs: &[(&str, &str)]| resolved_from_env(pairs).url;
        let base = |url: &str, backend: &str, protocol: Option<&str>| {
            let mut pairs = vec![
                ("OTEL_BACKEND", backend),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            ];
            pairs.extend(protocol.map(|p| ("OTEL_EXPORTER_OTLP_PROTOCOL", p)));
            endpoint(&pairs)
        };
        let proto = Some("http/protobuf");
        // Over HTTP, the base's path + /v1/traces, once; a query stays at the end.
        assert_eq!(
            base("https://gw.example/otlp", "otlp", proto),
            "https://gw.example/otlp/v1/traces"
        );
        assert_eq!(
            base("https://gw.example/otlp/v1/traces", "otlp", proto),
            "https://gw.example/otlp/v1/traces"
        );
        assert_eq!(
            base("https://gw.example/otlp/?tenant=a", "otlp", proto),
            "https://gw.example/otlp/v1/traces?tenant=a"
        );
        assert_eq!(
            base("http://collector:4318", "otlp", None),
            "http://collector:4318/v1/traces"
        );
        // gRPC takes the base as it is.
        assert_eq!(
            base("https://gw.example/otlp", "otlp", Some("grpc")),
            "https://gw.example/otlp"
        );
        assert_eq!(base("http://b:4317", "otlp", None), "http://b:4317");
        // Jaeger's OTLP/HTTP receiver, named by its base.
        assert_eq!(
            base("http://jaeger:4318/otlp", "jaeger", None),
            "http://jaeger:4318/otlp/v1/traces"
        );
        // The signal's own variable, and crosstrace's, are the traces URL itself.
        for var in [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_ENDPOINT",
        ] {
            assert_eq!(
                endpoint(&[
                    ("OTEL_BACKEND", "otlp"),
                    (var, "https://gw.example/traces-in"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ]),
                "https://gw.example/traces-in"
            );
        }
    }

    #[test]
    fn jaeger_sends_otlp_only_to_otlp_endpoints() {
        let mut c = TracingConfig {
            backend: Backend::Jaeger,
            ..TracingConfig::default()
        };
        let r = c.resolved_endpoint().unwrap();
        assert_eq!(r.url, defaults::JAEGER_ENDPOINT);
        assert_eq!(r.otlp_protocol, None);
        c.endpoint = Some("http://jaeger:4317".into());
        assert_eq!(
            c.resolved_endpoint().unwrap().otlp_protocol,
            Some(OtlpProtocol::Grpc)
        );
        // Its OTLP/HTTP receiver named without a path gets the traces path, as for otlp.
        c.endpoint = Some("http://jaeger:4318".into());
        let r = c.resolved_endpoint().unwrap();
        assert_eq!(r.url, "http://jaeger:4318/v1/traces");
        assert_eq!(r.otlp_protocol, Some(OtlpProtocol::HttpProtobuf));
    }

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("http://localhost:4317").is_ok());
        assert!(validate_url("https://[::1]:4318/v1/traces").is_ok());
        for bad in [
            "localhost:4317",
            "ftp://x",
            "http://",
            "http://host:notaport",
            "http://a b",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_malformed_endpoint_is_refused_without_its_credentials() {
        let e = TracingConfig {
            backend: Backend::Otlp,
            endpoint: Some("user:S3CR3T07@collector:4318".into()),
            ..TracingConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.value, "user:REDACTED@collector:4318");
    }

    #[test]
    fn thrift_path_is_recognised() {
        assert!(is_jaeger_thrift_path(
            "http://jaeger-collector:14268/api/traces"
        ));
        assert!(is_jaeger_thrift_path("http://j:9999/api/traces/"));
        assert!(!is_jaeger_thrift_path("http://j:4318/v1/traces"));
    }

    #[test]
    fn builder_validates() {
        let err = TracingConfig::builder()
            .sampling_rate(1.5)
            .build()
            .unwrap_err();
        assert_eq!(err.source_name, "sampling_rate");
        assert_eq!(err.value, "1.5");
    }
}
