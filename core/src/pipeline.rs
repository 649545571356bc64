//! The pipeline every recording span of a [`Tracing`](crate::Tracing) shares: sampler,
//! limits, redaction, the batch processor and span-derived metrics.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use opentelemetry::trace::{Link, SpanContext};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler, SpanData, SpanLinks};

use crate::config::TracingConfig;
use crate::export::BatchProcessor;
use crate::health::Counters;
use crate::limits::{truncate_value, MAX_LINKS_PER_SPAN};
use crate::metrics::SpanMetrics;
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
    /// The redaction policy (`TracingConfig::redact_keys`), applied to every attribute.
    pub(crate) redaction: Policy,
    pub(crate) processor: BatchProcessor,
    pub(crate) shut_down: AtomicBool,
    /// Span-derived metrics, when on.
    pub(crate) metrics: Option<Arc<SpanMetrics>>,
}

impl Pipeline {
    /// The pipeline `config` asks for, exporting through `processor`.
    pub(crate) fn new(
        config: &TracingConfig,
        processor: BatchProcessor,
        counters: Arc<Counters>,
    ) -> Pipeline {
        let (root_sampler, parent_based) = sampler_of(config);
        Pipeline {
            counters,
            root_sampler,
            parent_based,
            value_limit: config.attribute_value_length_limit,
            count_limit: config.attribute_count_limit,
            // Valid: `validate` checked the names.
            redaction: Policy::new(&config.redact_keys).unwrap_or_default(),
            processor,
            shut_down: AtomicBool::new(false),
            metrics: config.metrics_enabled.then(|| {
                SpanMetrics::new(
                    &config.service_name,
                    &config.metrics_buckets_ms,
                    config.metrics_max_series,
                )
                .shared()
            }),
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

    /// A span's links under the limits: see [`Pipeline::push_link`].
    pub(crate) fn links(&self, links: Vec<Link>) -> SpanLinks {
        let mut out = SpanLinks::default();
        for link in links {
            self.push_link(&mut out, link);
        }
        out
    }

    /// Adds a link under the limits: at most [`MAX_LINKS_PER_SPAN`] (further ones counted in
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
        if links.links.len() >= MAX_LINKS_PER_SPAN {
            links.dropped_count += 1;
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

    pub(crate) fn on_end(&self, data: Box<SpanData>) {
        if let Some(m) = &self.metrics {
            m.record_span(&data);
        }
        self.processor.push(data);
    }
}

/// A lock's guard, held only to be dropped.
#[cfg(unix)]
trait Guard {}
#[cfg(unix)]
impl<T> Guard for T {}

/// A pipeline's locks, held across a fork.
#[cfg(unix)]
struct PipelineHold<'a> {
    _metrics: Option<Box<dyn Guard + 'a>>,
    processor: crate::export::ForkHold<'a>,
    counters: crate::health::ForkHold<'a>,
}

/// The fork handlers take the pipeline's locks (see [`crate::platform::fork`]).
#[cfg(unix)]
impl crate::platform::fork::Participant for Pipeline {
    fn hold_for_fork(&self) -> Box<dyn crate::platform::fork::Held + '_> {
        Box::new(PipelineHold {
            _metrics: self
                .metrics
                .as_ref()
                .map(|m| Box::new(m.hold_for_fork()) as _),
            processor: self.processor.hold_for_fork(),
            counters: self.counters.hold_for_fork(),
        })
    }
}

#[cfg(unix)]
impl crate::platform::fork::Held for PipelineHold<'_> {
    /// In the child, before the locks are let go: see the holders' `in_child`.
    fn in_child(&mut self) {
        self.processor.in_child();
        self.counters.in_child();
    }
}
