//! The OTLP retry loop shared by the HTTP and gRPC transports: exponential backoff with ±50%
//! jitter from [`INITIAL_BACKOFF`] up to [`MAX_BACKOFF`], at least a server-given delay
//! (`Retry-After`, gRPC `RetryInfo`; one of 0 does not make the retries back to back), and one
//! total deadline per batch (its halves, after a 413, share it): a retry that
//! would end past it is not attempted. Each attempt has a timeout of its own (at most what is
//! left of the deadline): a backend that accepts a connection and never answers costs one
//! attempt, and the transports retry on a fresh connection.

use std::future::Future;
use std::time::{Duration, Instant};

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
pub(super) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between attempts (unless the server asks for more).
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One attempt's result.
pub(crate) enum Attempt<T> {
    /// Final: success, or a failure that must not be retried.
    Done(T),
    /// Transient: try again after `after` (the server's word) or the backoff.
    Retry {
        kind: String,
        message: String,
        after: Option<Duration>,
    },
}

/// Runs `attempt` (given its timeout: `per_attempt`, or the time left if less) until it is done
/// or the deadline leaves no room for another try; then `Err((kind, message))` of the last
/// transient failure.
pub(crate) async fn run<T, F, Fut>(
    what: &str,
    budget: Duration,
    per_attempt: Duration,
    attempt: F,
) -> Result<T, (String, String)>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    run_until(what, Instant::now() + budget, budget, per_attempt, attempt).await
}

/// [`run`] against a `deadline` set earlier (a batch's, shared by the requests it was split
/// into); `budget` is the whole of it, for messages.
pub(crate) async fn run_until<T, F, Fut>(
    what: &str,
    deadline: Instant,
    budget: Duration,
    per_attempt: Duration,
    mut attempt: F,
) -> Result<T, (String, String)>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut backoff = INITIAL_BACKOFF;
    let mut last = (String::from("timeout"), String::from("no attempt finished"));
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            // The deadline passed while waiting to retry (a sleep that woke late): the failure
            // is the last attempt's, of its kind ("timeout" only if none finished).
            let (kind, message) = last;
            return Err((
                kind,
                format!(
                    "gave up on {what} after the {} ms export deadline: {message}",
                    budget.as_millis(),
                ),
            ));
        }
        match attempt(remaining.min(per_attempt)).await {
            Attempt::Done(v) => return Ok(v),
            Attempt::Retry {
                kind,
                message,
                after,
            } => {
                // The server's delay is a floor: "retry after 0" from an overloaded backend
                // must not turn the backoff into back-to-back requests.
                let wait = jitter(backoff).max(after.unwrap_or_default());
                if wait >= deadline.saturating_duration_since(Instant::now()) {
                    return Err((
                        kind,
                        format!(
                            "{message} (the next retry, in {} ms, would pass the export deadline)",
                            wait.as_millis()
                        ),
                    ));
                }
                last = (kind, message);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// ±50% jitter.
pub(crate) fn jitter(d: Duration) -> Duration {
    let r = (crate::platform::random_u128() % 1000) as f64 / 1000.0;
    d.mul_f64(0.5 + r)
}

/// A readable error with its causes.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_asking_to_retry_at_once_still_gets_the_backoff() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let mut calls = 0;
        let gave_up = rt.block_on(run(
            "the test",
            Duration::from_millis(700),
            Duration::from_millis(100),
            |_| {
                calls += 1;
                async {
                    Attempt::<()>::Retry {
                        kind: "http_429".into(),
                        message: "busy".into(),
                        after: Some(Duration::ZERO),
                    }
                }
            },
        ));
        assert!(gave_up.is_err());
        // Back to back, hundreds of calls would fit in 700 ms; with the backoff (50–150 ms,
        // doubling) a handful.
        assert!((2..=6).contains(&calls), "{calls} attempts");
    }

    #[test]
    fn a_deadline_passed_while_waiting_reports_the_last_failure_not_a_timeout() {
        // The server asks for a retry within the deadline, and the wait wakes late, past it (a
        // loaded machine; here another task holds the runtime's thread): the batch failed for
        // the attempt's reason.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let mut calls = 0;
        let retried = run(
            "the test",
            Duration::from_millis(400),
            Duration::from_millis(400),
            |_| {
                calls += 1;
                async {
                    Attempt::<()>::Retry {
                        kind: "connection".into(),
                        message: "connection closed".into(),
                        after: Some(Duration::from_millis(200)),
                    }
                }
            },
        );
        let hog = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            std::thread::sleep(Duration::from_millis(600));
        };
        let (result, ()) = rt.block_on(async { tokio::join!(retried, hog) });
        let (kind, message) = result.expect_err("never done");
        assert_eq!(calls, 1);
        assert_eq!(kind, "connection");
        assert!(message.contains("connection closed"), "{message}");
    }

    #[test]
    fn jitter_stays_within_half_either_side() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j <= Duration::from_millis(150));
        }
    }
}
