//! The pipeline every recording span of a [`Tracing`](crate::Tracing) shares: sampler,
//! limits, redaction, the batch processor and span-derived metrics.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use opentelemetry::trace::{Link, SpanContext};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler, SpanLinks};

use crate::config::TracingConfig;
use crate::export::BatchProcessor;
use crate::health::Counters;
use crate::limits::{sanitize_in_place, truncate_value, Duplicate};
#[cfg(feature = "span-metrics")]
use crate::metrics::SpanMetrics;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::record::SpanRecord;
use crate::redact::Policy;
use crate::sampling::sampler_of;

/// Everything a recording span needs, shared.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) counters: Arc<Counters>,
    pub(crate) root_sampler: Sampler,
    pub(crate) parent_based: bool,
    pub(crate) value_limit: usize,
    pub(crate) count_limit: usize,
    /// Most events a span keeps (`event_count_limit`).
    pub(crate) event_limit: usize,
    /// Most links a span keeps (`link_count_limit`).
    link_limit: usize,
    /// The redaction policy (`TracingConfig::redact_keys`), applied to every attribute.
    pub(crate) redaction: Policy,
    pub(crate) processor: BatchProcessor,
    pub(crate) shut_down: AtomicBool,
    /// Span-derived metrics, when on.
    pub(crate) metrics: Option<Metrics>,
    /// The ratio of roots the sampler keeps (for the metrics' `sampling_rate_configured`).
    sampling_rate: f64,
    /// The metrics files shared with the host's other processes (`metrics_dir`), when set.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub(crate) metrics_files: Option<Arc<crate::metrics::files::Files>>,
}

impl Pipeline {
    /// The pipeline `config` asks for, exporting through `processor`.
    pub(crate) fn new(
        config: &TracingConfig,
        processor: BatchProcessor,
        counters: Arc<Counters>,
    ) -> crate::error::Result<Pipeline> {
        let (root_sampler, parent_based) = sampler_of(config);
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        let metrics_files = match (
            &config.metrics_dir,
            config.metrics_enabled && cfg!(feature = "span-metrics"),
        ) {
            (Some(dir), true) => Some(Arc::new(
                crate::metrics::files::Files::new(
                    dir,
                    &config.service_name,
                    config.metrics_sync_interval(),
                    config.metrics_max_series,
                )
                .map_err(|e| {
                    crate::error::ConfigError::new(
                        "metrics_dir",
                        dir.as_str(),
                        format!("a directory this process can create and write ({e})"),
                    )
                })?,
            )),
            _ => None,
        };
        Ok(Pipeline {
            counters,
            root_sampler,
            parent_based,
            value_limit: config.attribute_value_length_limit,
            count_limit: config.attribute_count_limit,
            event_limit: config.event_count_limit,
            link_limit: config.link_count_limit,
            // Valid: `validate` checked the names.
            redaction: Policy::new(&config.redact_keys).unwrap_or_default(),
            processor,
            shut_down: AtomicBool::new(false),
            #[cfg(feature = "span-metrics")]
            metrics: config.metrics_enabled.then(|| {
                SpanMetrics::new(
                    &config.service_name,
                    &config.metrics_buckets_ms,
                    config.metrics_max_series,
                )
                .shared()
            }),
            #[cfg(not(feature = "span-metrics"))]
            metrics: None,
            sampling_rate: config.sampling_rate_in_effect(),
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            metrics_files,
        })
    }

    /// A consistent copy of this process's span metrics; `None` when they are off.
    pub(crate) fn metrics_snapshot(&self) -> Option<MetricsSnapshot> {
        let m = self.metrics.as_ref()?;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        Some(m.snapshot(
            self.sampling_rate,
            g(&self.counters.app.started),
            g(&self.counters.app.sampled_out) + m.sampled_out(),
        ))
    }

    /// The span metrics of every process sharing `metrics_dir` (this one's written to its file
    /// first); without it, this process's. `None` when metrics are off.
    pub(crate) fn merged_metrics(&self) -> Option<MetricsSnapshot> {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(files) = &self.metrics_files {
            let id = crate::resource::instance_id();
            let own = self.write_metrics_file(files, &id)?;
            return Some(files.merged(own, &files.own_file(&id)));
        }
        self.metrics_snapshot()
    }

    /// Writes this process's span metrics to its file in `metrics_dir` (when set); returns the
    /// snapshot written.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    fn write_metrics_file(
        &self,
        files: &crate::metrics::files::Files,
        instance_id: &str,
    ) -> Option<MetricsSnapshot> {
        let mut written = None;
        files.write(instance_id, || {
            written = self.metrics_snapshot();
            written.clone()
        });
        written
    }

    /// Writes the metrics file now (flush, shutdown), if there is one.
    pub(crate) fn sync_metrics_file(&self) {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(files) = &self.metrics_files {
            self.write_metrics_file(files, &crate::resource::instance_id());
        }
    }

    /// Starts (or, in a forked child, starts again) the thread that writes the metrics file
    /// every `metrics_sync_interval_millis`, if there is a file to write.
    pub(crate) fn start_metrics_writer(self: &Arc<Self>) {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(files) = &self.metrics_files {
            let weak = Arc::downgrade(self);
            let started = files.start(move || match weak.upgrade() {
                Some(p) if !p.shut_down.load(std::sync::atomic::Ordering::Relaxed) => {
                    p.sync_metrics_file();
                    true
                }
                _ => false,
            });
            if let Err(e) = started {
                self.counters.add_warning(
                    &format!(
                        "cannot start the span metrics writer thread ({e}): the metrics file is \
                         written only at flush, shutdown and scrapes"
                    ),
                    true,
                );
            }
        }
    }

    /// Writes the metrics file a last time and stops its writer thread (at shutdown).
    pub(crate) fn stop_metrics_writer(&self) {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(files) = &self.metrics_files {
            files.stop(true);
            self.sync_metrics_file();
        }
    }

    /// The sampler's decision for a span under `parent` when it needs neither the trace id
    /// nor the attributes (a parent-based sampler under a parent, or a constant sampler, which
    /// decide without building a `SamplingResult`); `None` when the sampler must be asked.
    pub(crate) fn known_decision(&self, parent: Option<&SpanContext>) -> Option<bool> {
        match parent {
            Some(ps) if self.parent_based => Some(ps.is_sampled()),
            _ => match self.root_sampler {
                Sampler::AlwaysOn => Some(true),
                Sampler::AlwaysOff => Some(false),
                _ => None,
            },
        }
    }

    /// Redacts an attribute's value by the policy (a URL's userinfo and secret parameters,
    /// a body's secret fields, credential headers), then truncates it to the length limit
    /// (in that order: a cut must not split a `password=` from its value), counting both.
    #[inline]
    pub(crate) fn sanitize(&self, kv: &mut KeyValue) {
        if self.redaction.attribute(kv.key.as_str(), &mut kv.value) {
            Counters::add(&self.counters.app.attributes_redacted, 1);
        }
        if truncate_value(&mut kv.value, self.value_limit) {
            Counters::add(&self.counters.app.attributes_truncated, 1);
        }
    }

    /// Adds or replaces an attribute under the limits.
    pub(crate) fn push_attribute(
        &self,
        attrs: &mut Vec<KeyValue>,
        dropped: &mut u32,
        mut kv: KeyValue,
    ) {
        self.sanitize(&mut kv);
        if let Some(existing) = attrs.iter_mut().find(|e| e.key == kv.key) {
            *existing = kv;
        } else if attrs.len() < self.count_limit {
            attrs.push(kv);
        } else {
            *dropped += 1;
            Counters::add(&self.counters.app.attributes_dropped, 1);
        }
    }

    /// `attributes` (a span's at its start, an event's) under the limits: sanitized, a repeated
    /// key's later value replacing the earlier, past the count limit dropped (counted in
    /// `dropped` and in health). The common case — within the count, no key repeated — keeps
    /// the vector: no copy.
    #[inline]
    pub(crate) fn limited(
        &self,
        attributes: &mut Vec<KeyValue>,
        dropped: &mut u32,
    ) -> Vec<KeyValue> {
        let sanitized = (attributes.len() <= self.count_limit)
            .then(|| sanitize_in_place(attributes, self.value_limit, |kv| self.sanitize(kv)));
        match sanitized {
            Some(Ok(())) => std::mem::take(attributes),
            // A repeated key: the attributes before it are sanitized and their keys distinct;
            // the others go in by key.
            Some(Err(Duplicate { at })) => {
                let rest = attributes.split_off(at);
                let mut attrs = std::mem::take(attributes);
                for kv in rest {
                    self.push_attribute(&mut attrs, dropped, kv);
                }
                attrs
            }
            None => {
                let mut attrs = Vec::with_capacity(self.count_limit);
                for kv in attributes.drain(..) {
                    self.push_attribute(&mut attrs, dropped, kv);
                }
                attrs
            }
        }
    }

    /// A span's links under the limits: see [`Pipeline::push_link`].
    pub(crate) fn links(&self, links: Vec<Link>) -> SpanLinks {
        let mut out = SpanLinks::default();
        for link in links {
            self.push_link(&mut out, link);
        }
        out
    }

    /// Adds a link under the limits: at most `link_count_limit` (further ones counted in
    /// `dropped_count`), its attributes sanitized and limited as a span's are. A link to an
    /// invalid span context is kept only when it says something (attributes or a
    /// tracestate), as the specification asks.
    pub(crate) fn push_link(&self, links: &mut SpanLinks, mut link: Link) {
        if !link.span_context.is_valid()
            && link.attributes.is_empty()
            && link.span_context.trace_state().header().is_empty()
        {
            return;
        }
        if links.links.len() >= self.link_limit {
            links.dropped_count += 1;
            Counters::add(&self.counters.app.links_dropped, 1);
            return;
        }
        let mut attrs = Vec::with_capacity(link.attributes.len());
        let mut dropped = link.dropped_attributes_count;
        for kv in link.attributes.drain(..) {
            self.push_attribute(&mut attrs, &mut dropped, kv);
        }
        link.attributes = attrs;
        link.dropped_attributes_count = dropped;
        links.links.push(link);
    }

    pub(crate) fn on_end(&self, data: Box<SpanRecord>, nanos: u64) {
        if let Some(m) = &self.metrics {
            m.record_span(&data, nanos);
        }
        self.processor.push(*data);
    }
}

/// A lock's guard, held only to be dropped.
#[cfg(all(unix, feature = "native", not(target_arch = "wasm32")))]
trait Guard {}
#[cfg(all(unix, feature = "native", not(target_arch = "wasm32")))]
impl<T> Guard for T {}

impl Drop for Pipeline {
    /// The writer thread holds the pipeline weakly: tell it to end now, not at its next tick.
    fn drop(&mut self) {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(files) = &self.metrics_files {
            files.stop(false);
        }
    }
}

/// A pipeline's locks, held across a fork. Fields are taken in order: the metrics files' locks
/// before the metrics table's (a write holds the first while it takes the second).
#[cfg(unix)]
struct PipelineHold<'a> {
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    _files: Option<Box<dyn Guard + 'a>>,
    metrics: Option<crate::metrics::ForkHold<'a>>,
    processor: crate::export::ForkHold<'a>,
    counters: crate::health::ForkHold<'a>,
}

/// The fork handlers take the pipeline's locks (see [`crate::platform::fork`]).
#[cfg(unix)]
impl crate::platform::fork::Participant for Pipeline {
    fn hold_for_fork(&self) -> Box<dyn crate::platform::fork::Held + '_> {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        let files = self
            .metrics_files
            .as_ref()
            .map(|f| Box::new(f.hold_for_fork()) as Box<dyn Guard + '_>);
        Box::new(PipelineHold {
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            _files: files,
            metrics: self.metrics.as_ref().map(|m| m.hold_for_fork()),
            processor: self.processor.hold_for_fork(),
            counters: self.counters.hold_for_fork(),
        })
    }
}

#[cfg(unix)]
impl crate::platform::fork::Held for PipelineHold<'_> {
    /// In the child, before the locks are let go: see the holders' `in_child`.
    fn in_child(&mut self) {
        if let Some(m) = &mut self.metrics {
            m.in_child();
        }
        self.processor.in_child();
        self.counters.in_child();
    }
}
