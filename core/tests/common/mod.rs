//! Shared by the integration tests that export to failing backends.

use std::time::Duration;

use crosstrace::Tracing;

/// Flushes `t` and checks that the flush says what health says: `Ok` when no span failed while
/// it waited, else an export error that counts them and names the last error. The number of
/// spans that failed.
pub fn flush(t: &Tracing, timeout: Duration) -> u64 {
    let before = t.health().counts.spans_export_failed;
    let flushed = t.force_flush(timeout);
    let failed = t.health().counts.spans_export_failed - before;
    match flushed {
        Ok(()) => assert_eq!(
            failed, 0,
            "the flush said Ok, health counts {failed} failed"
        ),
        Err(crosstrace::Error::Export(m)) => {
            let s = if failed == 1 { "" } else { "s" };
            let counted = format!("{failed} span{s} could not be exported while flushing");
            assert!(failed > 0 && m.starts_with(&counted), "{m}");
            let e = t.health().last_export_error.unwrap();
            assert!(
                m.contains(&e.kind) && m.contains(&e.message),
                "{m} names {e:?}"
            );
        }
        Err(e) => panic!("flush: {e}"),
    }
    failed
}
