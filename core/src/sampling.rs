//! The sampler a config asks for.

use opentelemetry_sdk::trace::Sampler;

use crate::config::{SamplerKind, TracingConfig};

/// The root sampler for `c`, and whether it is parent-based (then a span with a parent
/// follows the parent's decision).
pub(crate) fn sampler_of(c: &TracingConfig) -> (Sampler, bool) {
    // A ratio of 1 (the default) or 0 decides like the constant samplers, which decide inline.
    let ratio = match c.sampling_rate {
        r if r >= 1.0 => Sampler::AlwaysOn,
        r if r <= 0.0 => Sampler::AlwaysOff,
        r => Sampler::TraceIdRatioBased(r),
    };
    match c.sampler {
        SamplerKind::AlwaysOn => (Sampler::AlwaysOn, false),
        SamplerKind::AlwaysOff => (Sampler::AlwaysOff, false),
        SamplerKind::TraceIdRatio => (ratio, false),
        SamplerKind::ParentBasedAlwaysOn => (Sampler::AlwaysOn, true),
        SamplerKind::ParentBasedAlwaysOff => (Sampler::AlwaysOff, true),
        SamplerKind::ParentBasedTraceIdRatio => (ratio, true),
    }
}
