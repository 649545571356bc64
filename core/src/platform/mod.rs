//! What differs between native targets and wasm32 at the lowest level: the clock, randomness,
//! number text and signal blocking. (Above it, the export thread, stderr and the metrics files
//! are native-only too; ARCHITECTURE.md lists where.)

use std::time::{Duration, SystemTime};

pub(crate) mod fork;
mod random;
pub(crate) use random::{epoch as fork_epoch, ids, random_u64, span_id};

/// Wall-clock now, with the best precision the platform offers.
#[cfg(not(all(target_arch = "wasm32", not(target_os = "wasi"))))]
#[inline]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// Wall-clock now. On wasm32 `SystemTime::now()` panics; the SDK's own fallback is
/// millisecond-only `Date.now()`. `performance.timeOrigin + performance.now()` gives
/// sub-millisecond precision where it exists (browsers, workers, Node, most edge runtimes).
#[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
pub(crate) fn now() -> SystemTime {
    use std::time::Duration;
    let ms = wasm::now_ms();
    SystemTime::UNIX_EPOCH + Duration::from_nanos((ms * 1_000_000.0) as u64)
}

/// A number as text, for messages: the shortest text that reads back as the same number.
/// Natively Rust's `{:?}` (`0.25`, `2.0`, `1e300`, `NaN`, `inf`). On wasm32 JS's `String()`,
/// with Rust's spelling of exponents and infinities (`1e300` for `1e+300`, `inf` for
/// `Infinity`) but JS's of the rest (`2` for `2.0`, `0` for `-0.0`, `0.00001` for `1e-5`,
/// `10000000000000000` for `1e16`): Rust's float printing was 9.7 KB of the browser download,
/// and these and the console's were its only uses there.
pub fn number_text(n: f64) -> String {
    #[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
    {
        js_number_text(n)
    }
    #[cfg(not(all(target_arch = "wasm32", not(target_os = "wasi"))))]
    {
        format!("{n:?}")
    }
}

/// A number as `Display` writes it (`1`, `2.5`, `inf`), for the console's trees; on wasm32
/// JS's `String()` (see [`number_text`]: JS writes below 1e-6 and from 1e21 with an exponent,
/// where `Display` writes every digit).
pub(crate) fn float_display(n: f64) -> String {
    #[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
    {
        js_number_text(n)
    }
    #[cfg(not(all(target_arch = "wasm32", not(target_os = "wasi"))))]
    {
        n.to_string()
    }
}

/// JS's `String(n)`, with Rust's spelling of exponents and infinities.
#[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
fn js_number_text(n: f64) -> String {
    let s = wasm::js_string(n);
    match s.as_str() {
        "Infinity" => "inf".into(),
        "-Infinity" => "-inf".into(),
        _ if s.contains("e+") => s.replace("e+", "e"),
        _ => s,
    }
}

#[cfg(all(target_arch = "wasm32", not(target_os = "wasi")))]
mod wasm {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// JS's `String(number)`.
        #[wasm_bindgen(js_name = String)]
        pub(super) fn js_string(n: f64) -> String;
        type Performance;
        #[wasm_bindgen(thread_local_v2, js_namespace = globalThis, js_name = performance)]
        static PERFORMANCE: Option<Performance>;
        #[wasm_bindgen(method, getter, js_name = timeOrigin)]
        fn time_origin(this: &Performance) -> f64;
        #[wasm_bindgen(method)]
        fn now(this: &Performance) -> f64;
    }

    thread_local! {
        /// `performance.timeOrigin` never changes: read it once, not on every clock read.
        static ORIGIN: Option<f64> = PERFORMANCE.with(|p| {
            p.as_ref().map(|p| p.time_origin()).filter(|o| o.is_finite() && *o > 0.0)
        });
    }

    pub(super) fn now_ms() -> f64 {
        ORIGIN
            .with(|o| *o)
            .and_then(|origin| PERFORMANCE.with(|p| p.as_ref().map(|p| origin + p.now())))
            .unwrap_or_else(js_sys::Date::now)
    }
}

/// A moment, for measuring how long a span took. Reading the CPU's time-stamp counter costs
/// a few nanoseconds where the system clock costs about twenty (even through the vDSO), and
/// a span reads the clock twice. The counter is used only where the kernel itself trusts it
/// (x86_64 Linux with the `tsc` clocksource: invariant and synchronised across cores), and only
/// once [`stamp`] has calibrated it against the monotonic clock over the process's first
/// 100 ms of stamps (to within 10 ppm); until then, and everywhere else, a stamp is Unix
/// nanoseconds. Stamps of the two kinds mix (a start time set by hand, an explicit end): the
/// counter stamp is then converted through a fresh pair of readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

/// Set on a stamp that holds counter ticks; clear on Unix nanoseconds (below 2^63 until 2262).
const TICKS: u64 = 1 << 63;

impl Stamp {
    /// The stamp of a given wall-clock time.
    pub(crate) fn at(t: SystemTime) -> Stamp {
        Stamp(unix_nanos(t) & !TICKS)
    }

    /// Unix nanoseconds (counter ticks converted through a fresh pair of readings).
    fn unix_nanos(self) -> u64 {
        if self.0 & TICKS == 0 {
            return self.0;
        }
        tsc::converted(self.0 & !TICKS)
    }

    /// Whether this stamp came from the counter.
    pub(crate) fn is_ticks(self) -> bool {
        self.0 & TICKS != 0
    }

    /// Now, as a stamp of this one's kind: the counter's for a counter stamp, else Unix
    /// nanoseconds (one clock read: a start time given by hand is not measured against the
    /// counter, which would convert it through a fresh pair of readings).
    pub(crate) fn now_alike(self) -> Stamp {
        if self.is_ticks() {
            stamp()
        } else {
            Stamp(now_nanos() & !TICKS)
        }
    }

    /// Nanoseconds from `self` to `end`, 0 if `end` is earlier.
    pub(crate) fn nanos_until(self, end: Stamp) -> u64 {
        if self.0 & end.0 & TICKS != 0 {
            return tsc::nanos((end.0 & !TICKS).saturating_sub(self.0 & !TICKS));
        }
        end.unix_nanos().saturating_sub(self.unix_nanos())
    }
}

/// Now, as a [`Stamp`].
#[inline]
pub(crate) fn stamp() -> Stamp {
    match tsc::ticks() {
        Some(t) => Stamp(t | TICKS),
        None => Stamp(now_nanos() & !TICKS),
    }
}

/// Unix nanoseconds now: on Unix one `clock_gettime`, without the `SystemTime` arithmetic
/// (`duration_since` the epoch, a `u128` of nanoseconds) that [`unix_nanos`] of [`now`] costs
/// on top of it. The stamp of a span measured only for its metrics, where the counter is not
/// used.
#[cfg(unix)]
#[inline]
fn now_nanos() -> u64 {
    // SAFETY: `timespec` is plain integers (and, on some 32-bit targets, private padding),
    // for which all zeroes is a value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable `timespec`; CLOCK_REALTIME exists on every Unix.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 || ts.tv_sec < 0 {
        return unix_nanos(now());
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(not(unix))]
#[inline]
fn now_nanos() -> u64 {
    unix_nanos(now())
}

/// Now, as the wall-clock time a span starts at and the stamp its duration is measured from:
/// the counter beside the wall clock once it is calibrated, else one clock read for both (the
/// time made from the stamp's nanoseconds, not read again and converted: `SystemTime`'s
/// `duration_since` the epoch was half the cost of the read).
pub(crate) fn start_now() -> (SystemTime, Stamp) {
    match tsc::ticks() {
        Some(t) => (now(), Stamp(t | TICKS)),
        None => {
            let n = now_nanos() & !TICKS;
            (SystemTime::UNIX_EPOCH + Duration::from_nanos(n), Stamp(n))
        }
    }
}

/// Nanoseconds since the Unix epoch (0 before it; `u64` lasts until 2554).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod tsc {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant, SystemTime};

    /// How long the counter is watched against the monotonic clock before it is trusted for
    /// durations.
    const CALIBRATE_OVER: Duration = Duration::from_millis(100);

    /// The most the rate may be off, from how far apart each clock read's counter brackets
    /// are: 10 ppm (36 ms in an hour). A calibration that cannot promise it waits for the next
    /// stamp.
    const MAX_RATE_ERROR: f64 = 1e-5;

    /// Counter ticks between two calibration attempts: about 0.3 ms at 3 GHz. An attempt reads
    /// the clock up to 8 times; without this gap, every stamp of the first 100 ms (and every
    /// stamp for good where the rate never settles, as under valgrind) would pay for one.
    const RETRY_EVERY: u64 = 1 << 20;

    static NANOS_PER_TICK: OnceLock<f64> = OnceLock::new();
    static ANCHOR: OnceLock<Option<(u64, Instant, u64)>> = OnceLock::new();
    /// The counter reading before which no calibration is attempted (`u64::MAX`: never, the
    /// counter is not trusted here).
    static NEXT_TRY: AtomicU64 = AtomicU64::new(0);

    fn read() -> u64 {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        unsafe { std::arch::x86_64::_rdtsc() }
    }

    /// `clock()` paired with the counter: the narrowest of up to eight brackets
    /// counter, clock, counter (a thread preempted inside one gets a wide bracket, not a wrong
    /// pair). Returns the bracket's middle, the clock's reading and the bracket's width.
    fn paired<T>(clock: impl Fn() -> T) -> (u64, T, u64) {
        let sample = || {
            let (a, t, b) = (read(), clock(), read());
            let w = b.wrapping_sub(a);
            (a.wrapping_add(w / 2), t, w)
        };
        let mut best = sample();
        for _ in 0..7 {
            if best.2 < 1_000 {
                break;
            }
            let next = sample();
            if next.2 < best.2 {
                best = next;
            }
        }
        best
    }

    /// Counter ticks now, once calibrated; `None` before, or where the counter is not trusted.
    #[inline]
    pub(super) fn ticks() -> Option<u64> {
        if NANOS_PER_TICK.get().is_some() {
            return Some(read());
        }
        let now = read();
        if now >= NEXT_TRY.load(Ordering::Relaxed) {
            NEXT_TRY.store(now.saturating_add(RETRY_EVERY), Ordering::Relaxed);
            calibrate();
        }
        None
    }

    #[cold]
    fn calibrate() {
        let anchor = ANCHOR.get_or_init(|| {
            // The kernel picks `tsc` only when it is invariant and synchronised across cores.
            let source = std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            );
            source
                .is_ok_and(|s| s.trim() == "tsc")
                .then(|| paired(Instant::now))
        });
        let Some((ticks0, mono0, width0)) = *anchor else {
            NEXT_TRY.store(u64::MAX, Ordering::Relaxed);
            return;
        };
        let (ticks, mono, width) = paired(Instant::now);
        let elapsed = mono.duration_since(mono0);
        if elapsed < CALIBRATE_OVER || ticks <= ticks0 {
            return;
        }
        let span = (ticks - ticks0) as f64;
        if (width0.saturating_add(width)) as f64 > span * MAX_RATE_ERROR {
            return;
        }
        let _ = NANOS_PER_TICK.set(elapsed.as_nanos() as f64 / span);
    }

    fn nanos_per_tick() -> f64 {
        *NANOS_PER_TICK
            .get()
            .expect("a tick stamp exists only once calibrated")
    }

    pub(super) fn nanos(ticks: u64) -> u64 {
        (ticks as f64 * nanos_per_tick()) as u64
    }

    /// Unix nanoseconds of a tick count, through a fresh pair of readings (not an anchor from
    /// long ago): off by at most the rate error times the distance from now, and unmoved by
    /// wall-clock steps that happened before.
    pub(super) fn converted(ticks: u64) -> u64 {
        let (now_ticks, now, _) = paired(SystemTime::now);
        let now = super::unix_nanos(now);
        if ticks <= now_ticks {
            now.saturating_sub(nanos(now_ticks - ticks))
        } else {
            now.saturating_add(nanos(ticks - now_ticks))
        }
    }
}

/// No trusted counter here: every stamp is Unix nanoseconds.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod tsc {
    #[inline]
    pub(super) fn ticks() -> Option<u64> {
        None
    }

    pub(super) fn nanos(ticks: u64) -> u64 {
        ticks
    }

    pub(super) fn converted(ticks: u64) -> u64 {
        ticks
    }
}

/// 128 random bits from this thread's generator (reseeded from the OS in a forked child).
pub(crate) fn random_u128() -> u128 {
    (u128::from(random_u64()) << 64) | u128::from(random_u64())
}

/// Blocks every signal on the calling thread (crosstrace's export thread): a process signal
/// (SIGTERM, SIGINT) then goes to one of the application's threads, whose handlers expect it.
/// Delivered to the export thread, Python would only set a flag there and leave its main
/// thread blocked (a `multiprocessing` worker waiting for a task never saw SIGTERM).
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) fn block_signals() {
    #[cfg(unix)]
    // SAFETY: `set` is a local the calls initialise; `pthread_sigmask` changes only this
    // thread's mask (SIGKILL and SIGSTOP cannot be blocked; the kernel ignores them here).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Runs `spawn` (a thread spawn) with every signal blocked on the calling thread, then restores
/// its mask: the new thread starts with every signal blocked (it inherits the mask), with no
/// moment in which a process signal could be delivered to it before its own
/// [`block_signals`] (a test reading `/proc` saw one such moment under load).
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) fn spawn_with_signals_blocked<T>(spawn: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    // SAFETY: `all` and `old` are locals the calls initialise; `pthread_sigmask` changes only
    // this thread's mask, and the second call puts back exactly what the first saved.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let out = spawn();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
    #[cfg(not(unix))]
    spawn()
}

/// The host's name, as the `hostname` command prints it (`gethostname`; `COMPUTERNAME` on
/// Windows); `None` where there is no host to ask (wasm32: a browser page, an edge runtime).
pub(crate) fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its length; the name is NUL-terminated within it when
        // it fits (POSIX leaves a cut name unterminated: the last byte is kept zero).
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
        if rc != 0 {
            return None;
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).into_owned();
        (!name.is_empty()).then_some(name)
    }
    #[cfg(all(not(unix), not(target_arch = "wasm32")))]
    {
        std::env::var("COMPUTERNAME").ok().filter(|n| !n.is_empty())
    }
    #[cfg(all(not(unix), target_arch = "wasm32"))]
    {
        None
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn close(a: u64, b: u64, within: Duration) -> bool {
        a.abs_diff(b) <= within.as_nanos() as u64
    }

    /// The stamp read without `SystemTime` is the wall clock's Unix nanoseconds.
    #[test]
    fn the_direct_clock_read_is_unix_nanoseconds() {
        let before = unix_nanos(SystemTime::now());
        let n = now_nanos();
        let after = unix_nanos(SystemTime::now());
        assert!(before <= n && n <= after, "{before} <= {n} <= {after}");
    }

    #[test]
    fn wall_clock_stamps_measure_exactly() {
        let t = SystemTime::now();
        let later = t + Duration::from_micros(5_250);
        assert_eq!(Stamp::at(t).nanos_until(Stamp::at(later)), 5_250_000);
        assert_eq!(
            Stamp::at(later).nanos_until(Stamp::at(t)),
            0,
            "never negative"
        );
        assert!(!Stamp::at(t).is_ticks());
    }

    /// A span's start: the wall-clock time and the stamp of one moment (without the counter,
    /// one clock read: the time is the stamp's nanoseconds).
    #[test]
    fn a_start_is_one_moment() {
        let before = SystemTime::now();
        let (t, s) = start_now();
        let after = SystemTime::now();
        assert!(before <= t && t <= after, "{before:?} {t:?} {after:?}");
        if !s.is_ticks() {
            assert_eq!(Stamp::at(t), s);
        }
        assert!(s.nanos_until(stamp()) < 1_000_000_000);
    }

    /// A start given by hand is measured against the wall clock, in nanoseconds: a second ago
    /// is a second, with no counter involved.
    #[test]
    fn a_start_given_by_hand_ends_by_the_wall_clock() {
        let given = Stamp::at(SystemTime::now() - Duration::from_secs(1));
        let end = given.now_alike();
        assert!(!end.is_ticks());
        let gap = given.nanos_until(end);
        assert!((1_000_000_000..2_000_000_000).contains(&gap), "{gap}");
    }

    /// The counter is calibrated after 100 ms of stamps where the kernel trusts it, and then
    /// measures what the wall clock measures, also when mixed with wall-clock stamps.
    #[test]
    fn counter_stamps_agree_with_the_wall_clock() {
        let trusted = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
            && cfg!(all(target_os = "linux", target_arch = "x86_64"));
        let begin = Instant::now();
        while !stamp().is_ticks() && begin.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            stamp().is_ticks(),
            trusted,
            "counter used exactly where trusted"
        );

        // A stamp and a wall-clock reading taken together: the narrowest of 20 tries, so that
        // a thread preempted between the two reads (a loaded CI machine) is not taken for clock
        // error; what is left of the gap widens the tolerance.
        let together = || {
            let mut best: Option<(Stamp, SystemTime, u64)> = None;
            for _ in 0..20 {
                let (a, w, b) = (stamp(), SystemTime::now(), stamp());
                let gap = a.nanos_until(b);
                if best.as_ref().is_none_or(|(_, _, g)| gap < *g) {
                    best = Some((a, w, gap));
                }
            }
            best.expect("20 tries")
        };
        let (s0, w0, gap0) = together();
        std::thread::sleep(Duration::from_millis(30));
        let (s1, w1, gap1) = together();
        let wall = unix_nanos(w1) - unix_nanos(w0);
        let slack = Duration::from_micros(500) + Duration::from_nanos(gap0 + gap1);
        assert!(wall >= 30_000_000);
        assert!(
            close(s0.nanos_until(s1), wall, slack),
            "{s0:?}..{s1:?} vs {wall} ns"
        );
        assert!(
            close(Stamp::at(w0).nanos_until(s1), wall, slack),
            "wall start, counter end"
        );
        assert!(
            close(s0.nanos_until(Stamp::at(w1)), wall, slack),
            "counter start, wall end"
        );
        let end = w0 + Duration::from_nanos(s0.nanos_until(s1));
        assert!(
            close(unix_nanos(end), unix_nanos(w1), slack),
            "end time from stamps"
        );
    }
}
