//! `make bench` for the C library: span start+end with 3 attributes from C — a loop compiled by
//! the C compiler (`spans.c`) calling the C API, linked statically as a C program links
//! `libcrosstrace.a` — beside the Rust core used directly, in one process, in turns (the
//! median of 15 rounds' ratios), so that both see the same machine. CPU time is the process's: export threads
//! count. Prints `RESULT` lines that `scripts/bench.sh` reads, and the ratios.

use std::time::{Duration, Instant};

// The C library's symbols, which `spans.c` calls.
use ctc as _;

extern "C" {
    fn ctbench_init() -> i32;
    fn ctbench_spans(n: libc::c_long, mode: libc::c_int) -> libc::c_long;
    fn ctbench_flush() -> i32;
}

const N: u64 = 100_000;
/// Rounds of each side, in turns (`CT_BENCH_ROUNDS` overrides).
const ROUNDS: usize = 15;

fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[derive(Clone, Copy)]
struct Cost {
    wall_ns: f64,
    cpu_ns: f64,
}

fn once(run: &mut dyn FnMut()) -> Cost {
    let (w0, c0) = (Instant::now(), cpu_time());
    run();
    let per = |d: Duration| d.as_nanos() as f64 / N as f64;
    Cost {
        wall_ns: per(w0.elapsed()),
        cpu_ns: per(cpu_time() - c0),
    }
}

fn main() {
    // SAFETY: plain C functions of spans.c, called from one thread.
    assert_eq!(unsafe { ctbench_init() }, 0, "ct_init failed");
    let t = crosstrace::Tracing::new(crosstrace::TracingConfig {
        backend: crosstrace::Backend::None,
        max_queue_size: 262_144,
        export_max_batch_size: 512,
        ..crosstrace::TracingConfig::default()
    })
    .expect("the Rust side's tracing");
    let mut rust = || rust_spans(&t, N, false);
    let mut rust_short = || rust_spans(&t, N, true);
    // `probe SIDE N`: only that side's loop, N spans, for callgrind (`scripts/bench.sh` runs
    // each side at two N; the difference is what the spans cost).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [probe, side, n] = args.as_slice() {
        assert_eq!(probe, "probe", "usage: crosstrace-c-bench [probe SIDE N]");
        let n: u64 = n.parse().expect("N: a number of spans");
        match side.as_str() {
            "rust" => rust_spans(&t, n, false),
            "rust_short" => rust_spans(&t, n, true),
            c => c_spans(
                c.trim_start_matches('c')
                    .parse()
                    .expect("SIDE: rust, rust_short, c0..c4"),
                n,
            ),
        }
        return;
    }
    let c = |mode: i32| move || c_spans(mode, N);
    let (mut per_call, mut at_start, mut interned_per_call, mut interned_at_start) =
        (c(0), c(1), c(2), c(3));
    let mut short_keys = c(4);
    // One warm-up round of each, then rounds in turns. The machine's speed drifts between
    // rounds (a shared VM); each round's C/Rust ratio compares neighbours, and the median of
    // those ratios is the result. The costs shown are each side's median.
    for run in [
        &mut rust as &mut dyn FnMut(),
        &mut per_call,
        &mut at_start,
        &mut interned_per_call,
        &mut interned_at_start,
        &mut rust_short,
        &mut short_keys,
    ] {
        once(run);
    }
    let rounds = std::env::var("CT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS);
    let mut costs: [Vec<Cost>; 7] = Default::default();
    for _ in 0..rounds {
        let runs: [&mut dyn FnMut(); 7] = [
            &mut rust,
            &mut per_call,
            &mut at_start,
            &mut interned_per_call,
            &mut interned_at_start,
            &mut rust_short,
            &mut short_keys,
        ];
        for (i, run) in runs.into_iter().enumerate() {
            costs[i].push(once(run));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let med_cost = |c: &[Cost]| Cost {
        wall_ns: median(c.iter().map(|c| c.wall_ns).collect()),
        cpu_ns: median(c.iter().map(|c| c.cpu_ns).collect()),
    };
    // Each C side against the Rust side with the same keys (the one-letter keys: index 5).
    let ratio = |side: usize, cpu: bool| {
        let base = if side == 6 { 5 } else { 0 };
        median(
            (costs[side].iter().zip(&costs[base]))
                .map(|(c, r)| {
                    if cpu {
                        c.cpu_ns / r.cpu_ns
                    } else {
                        c.wall_ns / r.wall_ns
                    }
                })
                .collect(),
        )
    };
    let [r, pc, st, ipc, ist, rs, sk] = [0, 1, 2, 3, 4, 5, 6].map(|i| med_cost(&costs[i]));
    println!(
        "RESULT rust_span_3_attributes wall_ns={:.0} cpu_ns={:.0}",
        r.wall_ns, r.cpu_ns
    );
    for (name, side, c) in [
        ("c_span_3_attributes", 1, pc),
        ("c_span_3_attributes_at_start", 2, st),
        ("c_span_3_attributes_interned", 3, ipc),
        ("c_span_3_attributes_interned_at_start", 4, ist),
        ("c_span_3_one_letter_keys", 6, sk),
    ] {
        println!(
            "RESULT {name} wall_ns={:.0} cpu_ns={:.0} wall_ratio={:.3} cpu_ratio={:.3}",
            c.wall_ns,
            c.cpu_ns,
            ratio(side, false),
            ratio(side, true)
        );
    }
    println!();
    println!(
        "per span, medians of {rounds} rounds of {N} spans in turns; CPU includes export threads"
    );
    println!(
        "{:<44} {:>16} {:>12} {:>12}",
        "span + 3 attributes", "wall/cpu", "C/Rust wall", "C/Rust cpu"
    );
    for (label, side, c) in [
        ("Rust core, directly", 0, r),
        ("C, a call per attribute", 1, pc),
        ("C, attributes at start", 2, st),
        ("C, interned keys, a call per attribute", 3, ipc),
        ("C, interned keys, attributes at start", 4, ist),
        ("Rust core, one-letter keys", 5, rs),
        ("C, one-letter keys, a call per attribute", 6, sk),
    ] {
        println!(
            "{label:<44} {:>16} {:>11.2}x {:>11.2}x",
            format!("{:.0}/{:.0} ns", c.wall_ns, c.cpu_ns),
            ratio(side, false),
            ratio(side, true)
        );
    }
    println!("(goal: C within 1.2x of Rust)");
}

/// `n` spans with 3 attributes through the Rust core (`short`: one-letter keys), then a flush.
fn rust_spans(t: &crosstrace::Tracing, n: u64, short: bool) {
    use crosstrace::KeyValue;
    for _ in 0..n {
        let attributes = if short {
            [
                KeyValue::new("s", "berlin-01"),
                KeyValue::new("i", 12345_i64),
                KeyValue::new("b", true),
            ]
        } else {
            [
                KeyValue::new("order.id", 12345_i64),
                KeyValue::new("store", "berlin-01"),
                KeyValue::new("express", true),
            ]
        };
        let mut s = t.span("checkout").attributes(attributes).start();
        s.end();
    }
    t.force_flush(Duration::from_secs(60)).expect("flush");
}

/// `n` spans through the C loop of `spans.c` in `mode`, then a flush.
fn c_spans(mode: i32, n: u64) {
    // SAFETY: plain C functions of spans.c, called from one thread.
    let failed = unsafe { ctbench_spans(n as libc::c_long, mode) };
    assert_eq!(failed, 0, "C calls failed");
    // SAFETY: as above.
    assert_eq!(unsafe { ctbench_flush() }, 0);
}
