//! crosstrace's own diagnostics on stderr: an export error is counted every time, and the first
//! of each kind is logged, once. Checked in a child process (the test re-runs itself), whose
//! stderr is the real one.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crosstrace::{Tracing, TracingConfig};

mod common;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Fails every export: `unavailable` for the first three batches, then `timeout`.
#[derive(Debug, Clone, Default)]
struct Failing(Arc<AtomicUsize>);

impl SpanExporter for Failing {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        if self.0.fetch_add(1, Ordering::SeqCst) < 3 {
            Err(OTelSdkError::InternalFailure(
                "HTTP 503 Service Unavailable".into(),
            ))
        } else {
            Err(OTelSdkError::Timeout(Duration::from_secs(1)))
        }
    }
}

const CHILD: &str = "CROSSTRACE_LOGGING_CHILD";

#[test]
fn the_first_export_error_of_each_kind_is_logged_once() {
    if std::env::var_os(CHILD).is_some() {
        let t = Tracing::with_exporter(
            TracingConfig {
                schedule_delay_millis: 60_000,
                ..TracingConfig::default()
            },
            Failing::default(),
        )
        .unwrap();
        for _ in 0..5 {
            t.start("lost").end();
            assert_eq!(common::flush(&t, Duration::from_secs(10)), 1);
        }
        let h = t.health();
        assert_eq!(h.counts.export_failures, 5, "every failure counted");
        assert_eq!(
            h.last_export_error.unwrap().kind,
            "timeout",
            "the latest kept"
        );
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_first_export_error_of_each_kind_is_logged_once",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("OTEL_LOG_LEVEL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("crosstrace error: export error"))
        .collect();
    assert_eq!(logged.len(), 2, "one line per kind: {stderr}");
    assert!(
        logged[0].contains("(unavailable)") && logged[0].contains("503"),
        "{stderr}"
    );
    assert!(logged[1].contains("(timeout)"), "{stderr}");
    assert!(
        logged[0].ends_with("(further ones are counted in health)"),
        "{stderr}"
    );
}
