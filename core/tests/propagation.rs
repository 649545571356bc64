//! What a trace carries from an incoming request to every span of it, and out again: the random
//! flag, `tracestate` exactly as received, and the B3 or Jaeger debug flag; and what limits
//! baggage keeps to. (Header-level rules are in tests/vectors/propagation_*.json.)

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crosstrace::span::Parent;
use crosstrace::{Backend, Tracing, TracingConfig};

fn tracing() -> Tracing {
    Tracing::new(TracingConfig {
        backend: Backend::None,
        ..TracingConfig::default()
    })
    .unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn injected(t: &Tracing, cx: &crosstrace::Context) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    t.inject(cx, &mut out);
    out
}

const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn flags(tp: &str) -> &str {
    &tp[53..55]
}

#[test]
fn a_root_span_sets_the_random_flag_and_children_keep_what_came() {
    let t = tracing();
    let root = t.span("root").parent(Parent::Root).start();
    let out = injected(&t, &root.context());
    assert_eq!(flags(&out["traceparent"]), "03", "random ids, sampled");

    for (incoming, want) in [("00", "00"), ("01", "01"), ("02", "02"), ("03", "03")] {
        let tp = format!("00-{T}-00f067aa0ba902b7-{incoming}");
        let parent = t.extract(&headers(&[("traceparent", &tp)]));
        let child = t.span("child").parent_context(&parent).start();
        let grandchild = t
            .span("grandchild")
            .parent_context(&child.context())
            .start();
        let out = injected(&t, &grandchild.context());
        // Sampling is decided again (parent-based: as the parent); the random bit is kept.
        assert_eq!(
            flags(&out["traceparent"]),
            want,
            "under -{incoming}: {out:?}"
        );
    }
}

#[test]
fn tracestate_reaches_every_span_of_its_trace_unchanged_and_no_other() {
    let t = tracing();
    // Keys the SDK's TraceState refuses (a second '@', 14 characters after it) are valid.
    let state = format!(
        "foo@@bar=1,{}@{}=2,rojo=00f067aa0ba902b7",
        "t".repeat(241),
        "v".repeat(14)
    );
    let parent = t.extract(&headers(&[
        ("traceparent", &format!("00-{T}-00f067aa0ba902b7-01")),
        // Two lines, the second in another case: one list.
        ("tracestate", &state[..10]),
        ("TraceState", &state[11..]),
    ]));
    let child = t.span("child").parent_context(&parent).start();
    let grandchild = t
        .span("grandchild")
        .parent_context(&child.context())
        .start();
    assert_eq!(injected(&t, &grandchild.context())["tracestate"], state);

    // A new trace under the same context does not take it.
    let root = t.span("root").parent(Parent::Root).start();
    let _g = parent.clone().attach();
    let root_here = t.span("root here").parent(Parent::Root).start();
    for s in [root, root_here] {
        assert!(!injected(&t, &s.context()).contains_key("tracestate"));
    }
}

#[test]
fn b3_and_jaeger_debug_reach_the_children() {
    let t = tracing();
    let b3 = t.extract(&headers(&[("b3", &format!("{T}-00f067aa0ba902b7-d"))]));
    let child = t.span("child").parent_context(&b3).start();
    let out = injected(&t, &child.context());
    assert!(out["b3"].ends_with("-d"), "{out:?}");
    assert!(out["uber-trace-id"].ends_with(":3"), "{out:?}");

    // Jaeger debug without sampled: not sampled, and still debug downstream.
    let jaeger = t.extract(&headers(&[(
        "uber-trace-id",
        &format!("{T}:00f067aa0ba902b7:0:2"),
    )]));
    assert!(!jaeger.span_context().unwrap().is_sampled());
    let child = t.span("child").parent_context(&jaeger).start();
    let out = injected(&t, &child.context());
    assert!(out["uber-trace-id"].ends_with(":2"), "{out:?}");
    assert!(
        out["b3"].ends_with("-0"),
        "B3 cannot say debug without sampled: {out:?}"
    );
}

#[test]
fn baggage_dropped_at_the_limits_is_counted() {
    let t = tracing();
    let lines: Vec<(String, String)> = (0..181)
        .map(|i| (format!("uberctx-k{i}"), "v".to_owned()))
        .collect();
    let cx = t.extract(&lines);
    assert!(cx.baggage().is_empty());
    assert_eq!(t.health().counts.baggage_entries_dropped, 181);

    let span = t.start("with baggage");
    let big = span.context().with_baggage(vec![
        ("a".into(), "1".into()),
        ("big".into(), "x".repeat(9_000)),
    ]);
    let out = injected(&t, &big);
    assert_eq!(out["baggage"], "a=1");
    assert_eq!(out["uberctx-a"], "1");
    assert!(!out.contains_key("uberctx-big"));
    // Left out by both formats that write baggage.
    assert_eq!(t.health().counts.baggage_entries_dropped, 183);
}

#[test]
fn correlation_entries_survive_a_hop_whatever_else_came_with_them() {
    let t = tracing();
    // No correlation id anywhere: `user.id` and `correlation.*` are ordinary baggage, passed on.
    let cx = t.extract(&headers(&[(
        "baggage",
        "user.id=alice,tenant=acme,correlation.step=2",
    )]));
    assert!(cx.correlation().is_none());
    let mut kept: Vec<_> = cx.baggage().to_vec();
    kept.sort();
    assert_eq!(
        kept,
        headers(&[
            ("correlation.step", "2"),
            ("tenant", "acme"),
            ("user.id", "alice")
        ])
    );
    let out = injected(&t, &cx);
    assert_eq!(
        out["baggage"],
        "user.id=alice,tenant=acme,correlation.step=2"
    );

    // An id, and entries a correlation refuses beside good ones: the bad ones are left out and
    // counted, the rest make the correlation.
    let long_user = "u".repeat(300);
    let cx = t.extract(&headers(&[
        ("x-correlation-id", "req-1"),
        (
            "baggage",
            &format!(
                "user.id={long_user},correlation.a+b=1,correlation.job_id=7,correlation.id=req-0,tenant=acme"
            ),
        ),
    ]));
    let c = cx
        .correlation()
        .expect("the header's id makes a correlation");
    assert_eq!(c.id(), "req-1");
    assert_eq!(c.user_id(), None);
    assert_eq!(c.fields(), &[("job_id".to_owned(), "7".to_owned())][..]);
    assert_eq!(cx.baggage(), &headers(&[("tenant", "acme")])[..]);
    // The 300-byte user id, the field named `a+b` and the baggage's other id.
    assert_eq!(t.health().counts.baggage_entries_dropped, 3);

    // A correlation started over baggage that carries one of its keys: each key once, the
    // correlation's value.
    let cx = t
        .extract(&headers(&[("baggage", "user.id=alice,tenant=acme")]))
        .with_correlation(
            crosstrace::Correlation::builder()
                .id("req-2")
                .user_id("bob")
                .build()
                .unwrap(),
        );
    let out = injected(&t, &cx);
    assert_eq!(
        out["baggage"],
        "tenant=acme,correlation.id=req-2,user.id=bob"
    );
}
