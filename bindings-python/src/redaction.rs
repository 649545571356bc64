//! The configuration's redaction policy, for what the package records itself (URLs, queries,
//! text, request bodies).

use pyo3::prelude::*;

use crate::tracing;

/// `url` as crosstrace records it: userinfo and secret query values redacted (the policy of
/// the configuration in force, `redact_keys`).
#[pyfunction]
pub(crate) fn redact_url(url: &str) -> String {
    tracing().redaction().url(url).into_owned()
}

/// A query string with its secret parameters' values redacted.
#[pyfunction]
pub(crate) fn redact_query(query: &str) -> String {
    tracing().redaction().query(query).into_owned()
}

/// Free text (a message) with the secrets in it redacted: URLs, `key=value` pairs, tokens.
#[pyfunction]
pub(crate) fn redact_text(text: &str) -> String {
    tracing().redaction().text(text).into_owned()
}

/// A request or response body as crosstrace records it: secret fields of JSON, form and
/// multipart bodies redacted, then cut to `max_bytes` (the configuration's `max_body_bytes`
/// when None); None for a body that is not recorded (binary, or a cap of 0).
#[pyfunction]
#[pyo3(signature = (content_type, body, max_bytes=None))]
pub(crate) fn redact_body(
    content_type: &str,
    body: &[u8],
    max_bytes: Option<usize>,
) -> Option<String> {
    let t = tracing();
    let max = max_bytes
        .unwrap_or(t.config().max_body_bytes)
        .min(crosstrace::config::bounds::MAX_BODY_BYTES);
    t.redaction().body(content_type, body, max)
}
