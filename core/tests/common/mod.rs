//! Shared by the integration tests that export to failing backends.

use std::time::Duration;

use crosstrace::Tracing;

/// Flushes `t` and checks that the flush says what health says: `Ok` when no span failed while
/// it waited, else an export error that counts them (no more than health counted around it:
/// an export already failing when this is called may land before the flush's own count) and
/// names the last error. The number of spans the flush said failed.
pub fn flush(t: &Tracing, timeout: Duration) -> u64 {
    let before = t.health().counts.spans_export_failed;
    let flushed = t.force_flush(timeout);
    let failed = t.health().counts.spans_export_failed - before;
    match flushed {
        Ok(()) => {
            assert_eq!(
                failed, 0,
                "the flush said Ok, health counts {failed} failed"
            );
            0
        }
        Err(crosstrace::Error::Export(m)) => {
            let (n, rest) = m.split_once(' ').expect("a count first");
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("a count first: {m}"));
            let s = if n == 1 { "" } else { "s" };
            let said = format!("span{s} could not be exported while flushing");
            assert!(rest.starts_with(&said), "{m}");
            assert!(n > 0 && n <= failed, "{m}, health counts {failed}");
            let e = t.health().last_export_error.unwrap();
            assert!(
                m.contains(&e.kind) && m.contains(&e.message),
                "{m} names {e:?}"
            );
            n
        }
        Err(e) => panic!("flush: {e}"),
    }
}
