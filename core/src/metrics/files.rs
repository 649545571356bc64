//! Span metrics shared by the processes of one host through a directory (`metrics_dir`), the
//! way `prometheus_client`'s multiprocess mode shares its values: each process writes a
//! snapshot of its table to a file of its own (`<service>-<pid>-<instance id>.ctm`, and
//! `-<n>` before the extension for the process's later pipelines; replaced
//! atomically: written beside it, then renamed), and rendering merges every file of the
//! directory — those of exited processes too, whose spans still count — with this process's own
//! table. Counts, sums, bucket counts, min and max are exact; the quantile sketches merge
//! exactly (DDSketch), so merged quantiles keep their 1% bound.
//!
//! Files are written off the span path: by a small thread every `metrics_sync_interval_millis`,
//! at flush and shutdown, and before each render. A file that cannot be read or decoded (torn,
//! foreign, another version) is skipped and counted (health's `metrics_files_skipped`), never
//! a panic. Files of another service are left alone.
//!
//! The format (little-endian): `CTM1`, then the snapshot — service name, sampling ratio, kept,
//! dropped and overflowed counts, the histogram bounds, then per series its labels, count, sum,
//! min, max, bucket counts and sketch — then an FNV-1a hash of everything before it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{MetricsSnapshot, SeriesKey, SeriesStats, Sketch, KIND_LABELS, STATUS_LABELS};

/// The first bytes of a metrics file (the version is the digit).
const MAGIC: &[u8; 4] = b"CTM1";
/// The files' extension: only these are merged.
pub(crate) const EXTENSION: &str = "ctm";
/// A file larger than this is not read (20,000 series of 64 buckets and a full sketch are far
/// less).
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Most series a file may hold: the label-set cap (`config::bounds::MAX_METRICS_SERIES`: the
/// config sits above this module) plus an overflow series per kind and status.
const MAX_SERIES: usize = 20_000 + KIND_LABELS.len() * STATUS_LABELS.len();
/// Most histogram bounds a file may hold (`config::bounds::MAX_METRICS_BUCKETS`).
const MAX_BOUNDS: usize = 64;

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// A snapshot as a metrics file's bytes.
pub(crate) fn encode(s: &MetricsSnapshot) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128 + s.series.len() * 256));
    w.0.extend_from_slice(MAGIC);
    w.str(&s.service_name);
    w.f64(s.sampling_rate);
    w.u64(s.sampled);
    w.u64(s.sampled_out);
    w.u64(s.overflowed);
    w.len(s.buckets_ms.len());
    for b in &s.buckets_ms {
        w.f64(*b);
    }
    w.len(s.series.len());
    for (k, st) in &s.series {
        w.str(&k.span_name);
        w.u8(k.kind_status.0);
        w.u8(k.kind_status.1);
        w.u8(u8::from(k.overflow)
            | (u8::from(k.http_route.is_some()) << 1)
            | (u8::from(k.target_service.is_some()) << 2));
        if let Some(r) = &k.http_route {
            w.str(r);
        }
        if let Some(t) = &k.target_service {
            w.str(t);
        }
        w.u64(st.count);
        w.f64(st.sum_ms);
        w.f64(st.min_ms);
        w.f64(st.max_ms);
        // As many as the bounds say, plus one (the encoder's own snapshot always has them).
        for i in 0..=s.buckets_ms.len() {
            w.u64(st.buckets.get(i).copied().unwrap_or(0));
        }
        let (offset, counts, zeros, total) = st.sketch.parts();
        w.u32(offset as u32);
        w.u64(zeros);
        w.u64(total);
        w.len(counts.len());
        for n in counts {
            w.u64(*n);
        }
    }
    let sum = fnv1a(&w.0);
    w.u64(sum);
    w.0
}

/// Why a file was skipped.
pub(crate) type Invalid = &'static str;

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Invalid> {
        if self.rest.len() < n {
            return Err("truncated");
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Invalid> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Invalid> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Invalid> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, Invalid> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, Invalid> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A length of at most `max` items of at least `item` bytes each (so that a corrupt length
    /// never sizes an allocation beyond the file).
    fn len(&mut self, max: usize, item: usize) -> Result<usize, Invalid> {
        let n = self.u32()? as usize;
        if n > max || n.saturating_mul(item) > self.rest.len() {
            return Err("a length beyond its bound");
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, Invalid> {
        let n = self.len(usize::MAX, 1)?;
        std::str::from_utf8(self.take(n)?)
            .map(str::to_owned)
            .map_err(|_| "text not UTF-8")
    }
}

/// A metrics file's bytes as a snapshot, checked: the magic and the hash, every length within
/// its bound, and each series' count equal to its buckets' and its sketch's.
pub(crate) fn decode(bytes: &[u8]) -> Result<MetricsSnapshot, Invalid> {
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a crosstrace metrics file (or another version)");
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut stored = [0; 8];
    stored.copy_from_slice(sum);
    if fnv1a(body) != u64::from_le_bytes(stored) {
        return Err("its checksum does not match (torn or altered)");
    }
    let mut r = Reader {
        rest: &body[MAGIC.len()..],
    };
    let service_name = r.str()?;
    let sampling_rate = r.f64()?;
    let (sampled, sampled_out, overflowed) = (r.u64()?, r.u64()?, r.u64()?);
    let nb = r.len(MAX_BOUNDS, 8)?;
    let buckets_ms = (0..nb).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
    let n = r.len(MAX_SERIES, 40)?;
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let span_name = r.str()?;
        let (ki, si, flags) = (r.u8()?, r.u8()?, r.u8()?);
        let (Some(kind), Some(status)) = (
            KIND_LABELS.get(usize::from(ki)),
            STATUS_LABELS.get(usize::from(si)),
        ) else {
            return Err("an unknown span kind or status");
        };
        let http_route = if flags & 2 != 0 { Some(r.str()?) } else { None };
        let target_service = if flags & 4 != 0 { Some(r.str()?) } else { None };
        let count = r.u64()?;
        let (sum_ms, min_ms, max_ms) = (r.f64()?, r.f64()?, r.f64()?);
        let buckets = (0..=nb).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        let offset = r.u32()? as i32;
        let (zeros, total) = (r.u64()?, r.u64()?);
        let nc = r.len(usize::MAX, 8)?;
        let counts = (0..nc).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        let sketch = Sketch::from_parts(offset, counts, zeros, total).ok_or("a bad sketch")?;
        let in_buckets = buckets.iter().try_fold(0u64, |a, b| a.checked_add(*b));
        if in_buckets != Some(count) || sketch.count() != count {
            return Err("a series whose counts disagree");
        }
        series.push((
            SeriesKey {
                span_name,
                span_kind: kind,
                status,
                http_route,
                target_service,
                overflow: flags & 1 != 0,
                kind_status: (ki, si),
            },
            SeriesStats {
                count,
                sum_ms,
                min_ms,
                max_ms,
                buckets,
                sketch,
            },
        ));
    }
    if !r.rest.is_empty() {
        return Err("bytes after the last series");
    }
    Ok(MetricsSnapshot {
        service_name,
        buckets_ms,
        series,
        sampling_rate,
        sampled,
        sampled_out,
        overflowed,
    })
}

/// Adds `other`'s spans to `into` (same service and histogram bounds, else an error and
/// nothing added): series of the same labels merge, the others are added; the kept, dropped
/// and overflowed counts add up. `into` stays sorted by key.
pub(crate) fn merge(into: &mut MetricsSnapshot, other: &MetricsSnapshot) -> Result<(), Invalid> {
    if other.buckets_ms != into.buckets_ms {
        return Err("other histogram bounds (metrics_buckets_ms) than this process's");
    }
    let mut index: HashMap<&SeriesKey, usize> = HashMap::with_capacity(into.series.len());
    for (i, (k, _)) in into.series.iter().enumerate() {
        index.insert(k, i);
    }
    let mut found = Vec::with_capacity(other.series.len());
    let mut added = Vec::new();
    for (k, s) in &other.series {
        match index.get(k) {
            Some(i) => found.push((*i, s)),
            None => added.push((k.clone(), s.clone())),
        }
    }
    for (i, s) in found {
        into.series[i].1.merge(s);
    }
    if !added.is_empty() {
        into.series.extend(added);
        crate::sort::sort_by(&mut into.series, |a, b| a.0.cmp(&b.0));
    }
    into.sampled += other.sampled;
    into.sampled_out += other.sampled_out;
    into.overflowed += other.overflowed;
    Ok(())
}

/// Keeps a merged snapshot to the series cap each process keeps to: every process admits at most
/// `max_series` label sets (name, kind, route, target; a set keeps its statuses), but their
/// union across files (workers recycled over a day) need not. The busiest sets are kept; the
/// others' series are folded into the overflow series of their kind and status, and their spans
/// counted in `overflowed`, as a process does past its cap.
pub(crate) fn bound(s: &mut MetricsSnapshot, max_series: usize) {
    type Set<'a> = (&'a str, u8, Option<&'a str>, Option<&'a str>);
    fn set(k: &SeriesKey) -> Set<'_> {
        (
            k.span_name.as_str(),
            k.kind_status.0,
            k.http_route.as_deref(),
            k.target_service.as_deref(),
        )
    }
    let mut spans: HashMap<Set<'_>, u64> = HashMap::new();
    for (k, st) in s.series.iter().filter(|(k, _)| !k.overflow) {
        *spans.entry(set(k)).or_default() += st.count;
    }
    if spans.len() <= max_series {
        return;
    }
    let mut sets: Vec<(Set<'_>, u64)> = spans.into_iter().collect();
    // The busiest first; ties in label order, so every scrape keeps the same ones.
    crate::sort::sort_by(&mut sets, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let kept: std::collections::HashSet<(String, u8, Option<String>, Option<String>)> = sets
        [..max_series]
        .iter()
        .map(|((n, k, r, t), _)| {
            (
                (*n).to_owned(),
                *k,
                r.map(str::to_owned),
                t.map(str::to_owned),
            )
        })
        .collect();
    let bounds = s.buckets_ms.len();
    let mut overflow: Vec<(SeriesKey, SeriesStats)> = Vec::new();
    let mut folded = 0;
    // The kept series first, existing overflow series among them (a folded set joins its kind's
    // and status's, never a second one with the same labels), then the folded ones.
    let mut folding = Vec::new();
    for (k, st) in std::mem::take(&mut s.series) {
        let owned = (
            k.span_name.clone(),
            k.kind_status.0,
            k.http_route.clone(),
            k.target_service.clone(),
        );
        if k.overflow || kept.contains(&owned) {
            s.series.push((k, st));
        } else {
            folding.push((k, st));
        }
    }
    for (k, st) in folding {
        folded += st.count;
        let (ki, si) = k.kind_status;
        let i = match s
            .series
            .iter()
            .chain(&overflow)
            .position(|(o, _)| o.overflow && o.kind_status == (ki, si))
        {
            Some(i) => i,
            None => {
                overflow.push((SeriesKey::overflow(ki, si), SeriesStats::empty(bounds)));
                s.series.len() + overflow.len() - 1
            }
        };
        let n = s.series.len();
        let target = if i < n {
            &mut s.series[i].1
        } else {
            &mut overflow[i - n].1
        };
        target.merge(&st);
    }
    s.series.extend(overflow);
    crate::sort::sort_by(&mut s.series, |a, b| a.0.cmp(&b.0));
    s.overflowed += folded;
}

/// A service name as part of a file name: ASCII letters, digits, `.`, `_` and `-` kept, the
/// rest `_`, at most 64 bytes.
fn file_stem(service: &str) -> String {
    service
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// This process's metrics files in a directory, the thread that writes them, and what went
/// wrong reading and writing them.
#[derive(Debug)]
pub(crate) struct Files {
    dir: PathBuf,
    stem: String,
    /// The series cap (`metrics_max_series`), which a merged scrape keeps to as each process's
    /// table does.
    max_series: usize,
    /// This process's how-manieth `Files` (0 for the first): a second pipeline in the process
    /// (tracing set up again, or two `Tracing`s) writes a file of its own, so the first's counts
    /// stay counted rather than being overwritten (which Prometheus would see as a reset).
    seq: u64,
    interval: Duration,
    /// One write at a time (a render and the timer), so the file never goes back in time.
    write: Mutex<()>,
    /// Temporary files made unique within the process.
    temp: AtomicU64,
    /// The writer thread's stop flag and its wake-up.
    stop: Mutex<bool>,
    wake: Condvar,
    /// The writer thread and the process it runs in.
    thread: Mutex<Option<(u32, JoinHandle<()>)>>,
    /// Files skipped while merging (each time one is).
    pub(crate) skipped: AtomicU64,
    /// Writes that failed.
    pub(crate) write_failures: AtomicU64,
    warned_read: AtomicBool,
    warned_write: AtomicBool,
}

/// The locks of [`Files`], held across a fork (taken before the metrics table's: a write holds
/// its lock while it takes the table's).
#[cfg(unix)]
pub(crate) struct ForkHold<'a> {
    _write: MutexGuard<'a, ()>,
    _stop: MutexGuard<'a, bool>,
    _thread: MutexGuard<'a, Option<(u32, JoinHandle<()>)>>,
}

impl Files {
    /// Files in `dir` (made if missing) for `service`, written every `interval` once
    /// [`Files::start`]ed.
    pub(crate) fn new(
        dir: &str,
        service: &str,
        interval: Duration,
        max_series: usize,
    ) -> std::io::Result<Files> {
        std::fs::create_dir_all(dir)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Ok(Files {
            dir: PathBuf::from(dir),
            stem: file_stem(service),
            seq: NEXT.fetch_add(1, Ordering::Relaxed),
            max_series,
            interval,
            write: Mutex::new(()),
            temp: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
            skipped: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
            warned_read: AtomicBool::new(false),
            warned_write: AtomicBool::new(false),
        })
    }

    /// This process's file: named by the service, the process id and the instance id (a forked
    /// child has its own of both), and for a later pipeline of the process its number.
    pub(crate) fn own_file(&self, instance_id: &str) -> PathBuf {
        let (stem, pid) = (&self.stem, std::process::id());
        self.dir.join(match self.seq {
            0 => format!("{stem}-{pid}-{instance_id}.{EXTENSION}"),
            n => format!("{stem}-{pid}-{instance_id}-{n}.{EXTENSION}"),
        })
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `snapshot()` (if any) to this process's file, atomically: into a temporary file of the
    /// same directory, then renamed over it. A failure is counted (and logged once).
    pub(crate) fn write(
        &self,
        instance_id: &str,
        snapshot: impl FnOnce() -> Option<MetricsSnapshot>,
    ) {
        let _one = Self::lock(&self.write);
        let Some(snapshot) = snapshot() else {
            return;
        };
        let path = self.own_file(instance_id);
        let temp = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("metrics"),
            self.temp.fetch_add(1, Ordering::Relaxed)
        ));
        let bytes = encode(&snapshot);
        let result = std::fs::write(&temp, &bytes).and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            self.write_failures.fetch_add(1, Ordering::Relaxed);
            if !self.warned_write.swap(true, Ordering::Relaxed) {
                crate::diag::log(
                    crate::diag::LogLevel::Warn,
                    &format!(
                        "cannot write the span metrics file {}: {e} (other processes' scrapes \
                         miss this one's spans; counted in health metrics_file_write_failures)",
                        path.display()
                    ),
                );
            }
        }
    }

    /// `own` (this process's snapshot) merged with every other file of the directory whose
    /// service is `own`'s; `own_file` is this process's file, not read (`own` is newer).
    /// Files that cannot be read or merged are skipped and counted.
    pub(crate) fn merged(&self, mut own: MetricsSnapshot, own_file: &Path) -> MetricsSnapshot {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                self.skip(&self.dir, &e.to_string());
                return own;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.')
                || path.extension().and_then(|e| e.to_str()) != Some(EXTENSION)
                || path == own_file
            {
                continue;
            }
            let other = match read(&path) {
                Ok(o) => o,
                // Gone since the listing (a temporary file renamed, a directory cleaned).
                Err(Skip::Gone) => continue,
                Err(Skip::Bad(why)) => {
                    self.skip(&path, &why);
                    continue;
                }
            };
            if other.service_name != own.service_name {
                continue;
            }
            if let Err(why) = merge(&mut own, &other) {
                self.skip(&path, why);
            }
        }
        bound(&mut own, self.max_series);
        own
    }

    fn skip(&self, path: &Path, why: &str) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        if !self.warned_read.swap(true, Ordering::Relaxed) {
            crate::diag::log(
                crate::diag::LogLevel::Warn,
                &format!(
                    "span metrics file {} skipped: {why} (further ones are counted in health \
                     metrics_files_skipped)",
                    path.display()
                ),
            );
        }
    }

    /// Starts the writer thread unless it runs in this process (after a fork it does not:
    /// then a new one). `tick` writes the file; it returns `false` when there is nothing left
    /// to write for (the pipeline is gone), and the thread ends.
    pub(crate) fn start(
        self: &std::sync::Arc<Self>,
        tick: impl Fn() -> bool + Send + 'static,
    ) -> std::io::Result<()> {
        let pid = std::process::id();
        let mut thread = Self::lock(&self.thread);
        match thread.take() {
            Some((p, h)) if p == pid => {
                *thread = Some((p, h));
                return Ok(());
            }
            // The parent's thread: not in this process, so never joined or detached here.
            Some(other) => std::mem::forget(other),
            None => {}
        }
        *Self::lock(&self.stop) = false;
        let files = self.clone();
        let builder = std::thread::Builder::new().name("crosstrace-metrics".into());
        let handle = crate::platform::spawn_with_signals_blocked(|| {
            builder.spawn(move || {
                crate::platform::block_signals();
                loop {
                    {
                        let stop = Self::lock(&files.stop);
                        let (stop, _) = files
                            .wake
                            .wait_timeout_while(stop, files.interval, |s| !*s)
                            .unwrap_or_else(|e| e.into_inner());
                        if *stop {
                            return;
                        }
                    }
                    if !tick() {
                        return;
                    }
                }
            })
        })?;
        *thread = Some((pid, handle));
        Ok(())
    }

    /// Stops the writer thread (waiting for it when `join` and it runs in this process).
    pub(crate) fn stop(&self, join: bool) {
        *Self::lock(&self.stop) = true;
        self.wake.notify_all();
        let handle = Self::lock(&self.thread).take();
        if let Some((pid, h)) = handle {
            if pid != std::process::id() {
                std::mem::forget(h);
            } else if join && h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Takes the locks for a fork (see [`crate::platform::fork`]).
    #[cfg(unix)]
    pub(crate) fn hold_for_fork(&self) -> ForkHold<'_> {
        ForkHold {
            _write: Self::lock(&self.write),
            _stop: Self::lock(&self.stop),
            _thread: Self::lock(&self.thread),
        }
    }
}

enum Skip {
    Gone,
    Bad(String),
}

fn read(path: &Path) -> Result<MetricsSnapshot, Skip> {
    let bad = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Skip::Gone,
        _ => Skip::Bad(e.to_string()),
    };
    let len = std::fs::metadata(path).map_err(bad)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Skip::Bad(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let bytes = std::fs::read(path).map_err(bad)?;
    decode(&bytes).map_err(|why| Skip::Bad(why.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::SpanMetrics;
    use super::*;

    fn table(spans: &[(&'static str, u64)]) -> MetricsSnapshot {
        let m = SpanMetrics::new("svc", &[1.0, 10.0], 100).shared();
        for (name, nanos) in spans {
            let h = super::super::Hints::default();
            m.record_locked(&std::borrow::Cow::Borrowed(*name), 1, 1, &h, *nanos);
        }
        m.snapshot(1.0, spans.len() as u64, 2 * spans.len() as u64)
    }

    #[test]
    fn a_snapshot_survives_its_encoding() {
        let s = table(&[("a", 500_000), ("a", 20_000_000), ("b", 0)]);
        let back = decode(&encode(&s)).unwrap();
        assert_eq!(back.series.len(), 2);
        for ((k1, s1), (k2, s2)) in s.series.iter().zip(&back.series) {
            assert_eq!(k1, k2);
            assert_eq!(s1.count, s2.count);
            assert_eq!(s1.sum_ms.to_bits(), s2.sum_ms.to_bits());
            assert_eq!(s1.min_ms.to_bits(), s2.min_ms.to_bits());
            assert_eq!(s1.max_ms.to_bits(), s2.max_ms.to_bits());
            assert_eq!(s1.buckets, s2.buckets);
            assert_eq!(s1.sketch, s2.sketch);
        }
        assert_eq!((back.sampled, back.sampled_out), (3, 6));
        assert_eq!(back.prometheus_text(), s.prometheus_text());
    }

    /// Every truncation and every single flipped byte is refused (no panic, no garbage).
    #[test]
    fn damaged_bytes_are_refused() {
        let bytes = encode(&table(&[("a", 500_000), ("b", 7_000_000)]));
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(decode(&b).is_err(), "byte {i} flipped");
        }
    }

    /// The union of processes' tables keeps to the series cap: the busiest label sets stay,
    /// each with all its statuses; the rest are counted in the overflow series of their kind
    /// and status, so totals stay exact.
    #[test]
    fn a_merged_scrape_keeps_to_the_series_cap() {
        // A worker past its cap has an overflow series already; names sort before `_overflow`
        // (`GET ...`) as well as after it.
        let m = SpanMetrics::new("svc", &[1.0, 10.0], 1).shared();
        for name in ["GET /kept", "GET /over"] {
            m.record_locked(
                &std::borrow::Cow::Borrowed(name),
                1,
                1,
                &Default::default(),
                5,
            );
        }
        let mut capped = m.snapshot(1.0, 2, 0);
        merge(&mut capped, &table(&[("GET /a", 1), ("GET /b", 1)])).unwrap();
        bound(&mut capped, 1);
        let overflow: Vec<u64> = capped
            .series
            .iter()
            .filter(|(k, _)| k.overflow)
            .map(|(_, st)| st.count)
            .collect();
        assert_eq!(overflow, [3], "one overflow series: {:?}", capped.series);

        let mut s = table(&[
            ("busy", 1),
            ("busy", 2),
            ("busy", 3),
            ("mid", 1),
            ("mid", 2),
        ]);
        merge(&mut s, &table(&[("rare-1", 1), ("rare-2", 1)])).unwrap();
        // `busy`'s errors: a second status of a kept set.
        let m = SpanMetrics::new("svc", &[1.0, 10.0], 100).shared();
        m.record_locked(
            &std::borrow::Cow::Borrowed("busy"),
            1,
            2,
            &Default::default(),
            5,
        );
        merge(&mut s, &m.snapshot(1.0, 1, 0)).unwrap();
        let total = |s: &MetricsSnapshot| s.series.iter().map(|(_, st)| st.count).sum::<u64>();
        let before = total(&s);
        bound(&mut s, 2);
        let names: Vec<(&str, &str)> = s
            .series
            .iter()
            .map(|(k, _)| (k.span_name.as_str(), k.status))
            .collect();
        assert_eq!(
            names,
            [
                ("_overflow", "ok"),
                ("busy", "error"),
                ("busy", "ok"),
                ("mid", "ok")
            ]
        );
        assert_eq!(total(&s), before, "every span still counted");
        assert_eq!(s.overflowed, 2);
        // Within the cap: unchanged.
        let mut t = table(&[("a", 1), ("b", 1)]);
        let same = t.clone();
        bound(&mut t, 2);
        assert_eq!(t.series.len(), same.series.len());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ct-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Two processes' tables, written to one directory and merged: exact counts, sums, min,
    /// max and buckets, and the sketch of the union (so its quantiles), as one table that
    /// counted both processes' spans; a damaged file and one of other bounds are skipped and
    /// counted, a file of another service is left alone.
    #[test]
    fn two_tables_written_to_a_dir_merge_exactly() {
        let dir = temp_dir("merge");
        let files = Files::new(dir.to_str().unwrap(), "svc", Duration::from_secs(1), 100).unwrap();
        let a_spans: Vec<(&'static str, u64)> =
            (1..=500).map(|i| ("GET /a", i * 250_000)).collect();
        let b_spans: Vec<(&'static str, u64)> = (1..=300)
            .map(|i| (if i % 2 == 0 { "GET /a" } else { "GET /b" }, i * 3_000_000))
            .collect();
        let (a, b) = (table(&a_spans), table(&b_spans));
        let both = table(&[a_spans.clone(), b_spans.clone()].concat());
        files.write("process-a", || Some(a.clone()));
        files.write("process-b", || Some(b.clone()));
        let merged = files.merged(a.clone(), &files.own_file("process-a"));
        assert_eq!(files.skipped.load(Ordering::Relaxed), 0);
        assert_eq!(merged.series.len(), both.series.len());
        for ((k, m), (k2, w)) in merged.series.iter().zip(&both.series) {
            assert_eq!(k, k2);
            assert_eq!(m.count, w.count, "{}", k.span_name);
            assert_eq!(m.sum_ms, w.sum_ms, "{}", k.span_name);
            assert_eq!(
                (m.min_ms, m.max_ms),
                (w.min_ms, w.max_ms),
                "{}",
                k.span_name
            );
            assert_eq!(m.buckets, w.buckets, "{}", k.span_name);
            assert_eq!(m.sketch, w.sketch, "{}", k.span_name);
        }
        assert_eq!(merged.count(|k| k.span_name == "GET /a"), 650);
        assert_eq!(merged.sampled, 800);
        // Quantiles of the union, within the sketch's bound of the exact ones.
        let mut all: Vec<f64> = (a_spans.iter().chain(&b_spans))
            .filter(|(n, _)| *n == "GET /a")
            .map(|(_, ns)| *ns as f64 / 1e6)
            .collect();
        all.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let exact = all[(q * (all.len() - 1) as f64).floor() as usize];
            let got = merged.quantile(q, |k| k.span_name == "GET /a").unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(merged.prometheus_text(), both.prometheus_text());

        // Damaged, torn and foreign files: skipped and counted; another service's: left alone.
        let b_file = files.own_file("process-b");
        let bytes = std::fs::read(&b_file).unwrap();
        std::fs::write(dir.join("torn.ctm"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(dir.join("junk.ctm"), b"not metrics at all").unwrap();
        let other_bounds = SpanMetrics::new("svc", &[5.0], 10)
            .shared()
            .snapshot(1.0, 0, 0);
        std::fs::write(dir.join("bounds.ctm"), encode(&other_bounds)).unwrap();
        let other_service = SpanMetrics::new("other", &[1.0, 10.0], 10).shared();
        std::fs::write(
            dir.join("other.ctm"),
            encode(&other_service.snapshot(1.0, 0, 0)),
        )
        .unwrap();
        std::fs::write(dir.join("ignored.txt"), b"x").unwrap();
        let again = files.merged(a.clone(), &files.own_file("process-a"));
        assert_eq!(files.skipped.load(Ordering::Relaxed), 3);
        assert_eq!(again.prometheus_text(), both.prometheus_text());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A write that cannot happen is counted, and the render goes on with this process's own.
    #[test]
    fn a_failed_write_is_counted() {
        let dir = temp_dir("unwritable");
        let files = Files::new(dir.to_str().unwrap(), "svc", Duration::from_secs(1), 100).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let a = table(&[("x", 1_000_000)]);
        files.write("p", || Some(a.clone()));
        assert_eq!(files.write_failures.load(Ordering::Relaxed), 1);
        let merged = files.merged(a.clone(), &files.own_file("p"));
        assert_eq!(merged.count(|_| true), 1);
    }

    #[test]
    fn the_bounds_are_the_configs() {
        use crate::config::bounds;
        assert_eq!(MAX_BOUNDS, bounds::MAX_METRICS_BUCKETS);
        assert_eq!(MAX_SERIES, bounds::MAX_METRICS_SERIES + 15);
    }

    #[test]
    fn service_names_become_safe_file_names() {
        assert_eq!(file_stem("orders-api"), "orders-api");
        assert_eq!(file_stem("a/b c\u{e9}"), "a_b_c_");
        assert_eq!(file_stem(&"x".repeat(100)).len(), 64);
    }
}
