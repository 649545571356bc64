//! Runs the shared, language-neutral vectors in `tests/vectors/` against the core. Every
//! binding runs the same files.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crosstrace::binding::interop::{context_from_input, context_shape, ContextInput};
use crosstrace::health::{ExportErrorRecord, Health, SpanCounts};
use crosstrace::{
    Correlation, ErrorKind, FieldValue, KeyValue, PropagatorKind, Propagators, TracingConfig,
};
use serde_json::{json, Value};

fn vectors(name: &str) -> Value {
    let path = manifest_dir().join("../tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn cases(v: &Value) -> &Vec<Value> {
    v["cases"].as_array().expect("cases")
}

fn propagators(case: &Value) -> Propagators {
    let kinds: Vec<PropagatorKind> = case["propagators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().parse().unwrap())
        .collect();
    Propagators::new(&kinds)
}

#[test]
fn config_environments() {
    let mut all = cases(&vectors("config_env.json")).to_vec();
    all.extend_from_slice(cases(&vectors("config_bounds.json")));
    for case in &all {
        let name = case["name"].as_str().unwrap();
        let env: BTreeMap<String, String> = serde_json::from_value(case["env"].clone()).unwrap();
        let result = TracingConfig::from_lookup(|k| env.get(k).cloned());
        if let Some(expect) = case.get("expect") {
            let cfg = result.unwrap_or_else(|e| panic!("{name}: unexpected error {e}"));
            let got = serde_json::to_value(&cfg).unwrap();
            for (k, want) in expect.as_object().unwrap() {
                assert_eq!(&got[k], want, "{name}: field {k}");
            }
        } else {
            let err = result.expect_err(name);
            let want = &case["error"];
            assert_eq!(want["kind"], "config", "{name}");
            assert_eq!(
                err.source_name,
                want["variable"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(err.value, want["value"].as_str().unwrap(), "{name}");
            assert!(!err.expected.is_empty(), "{name}: says what is accepted");
            if let Some(bound) = want.get("expected_contains") {
                assert!(
                    err.expected.contains(bound.as_str().unwrap()),
                    "{name}: names the bound: {}",
                    err.expected
                );
            }
            let msg = crosstrace::Error::from(err.clone()).to_string();
            assert!(
                msg.contains(&err.source_name),
                "{name}: message names the variable: {msg}"
            );
        }
    }
}

/// The config given field by field, as the Python and wasm bindings give it (as JSON, with
/// what JSON cannot hold as strings).
#[test]
fn config_fields() {
    let v = vectors("config_fields.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let result = crosstrace::binding::config_from_json_value(case["config"].clone());
        match case.get("error") {
            None => {
                let cfg = result.unwrap_or_else(|e| panic!("{name}: unexpected error {e}"));
                let got = serde_json::to_value(&cfg).unwrap();
                for (k, want) in case["expect"].as_object().unwrap() {
                    assert_eq!(&got[k], want, "{name}: field {k}");
                }
            }
            Some(want) => {
                let err = result.expect_err(name);
                assert_eq!(err.source_name, want["field"].as_str().unwrap(), "{name}");
                assert!(
                    err.value.contains(want["value"].as_str().unwrap()),
                    "{name}: value {:?}",
                    err.value
                );
                assert!(
                    err.expected
                        .contains(want["expected_contains"].as_str().unwrap()),
                    "{name}: {}",
                    err.expected
                );
            }
        }
    }
}

/// A vector's headers as lines: an object (each name once) or a list of `[name, value]` pairs
/// (a name may repeat).
fn header_lines(h: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    match h {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Value::Array(pairs) => pairs.iter().map(|p| (text(&p[0]), text(&p[1]))).collect(),
        _ => panic!("headers: an object or a list of pairs"),
    }
}

#[test]
fn propagation_extract() {
    let v = vectors("propagation_extract.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let headers = header_lines(&case["headers"]);
        let cx = propagators(case).extract(&headers);
        let expect = &case["expect"];
        match (&expect["span"], cx.span_context()) {
            (Value::Null, None) => {}
            (Value::Null, Some(s)) => panic!("{name}: expected no parent, got {s:?}"),
            (want, None) => panic!("{name}: expected {want}, got no parent"),
            (want, Some(s)) => {
                assert!(s.is_remote(), "{name}: extracted parents are remote");
                let got = &crosstrace::binding::interop::context_to_json(&cx)["span"];
                for (k, v) in want.as_object().unwrap() {
                    assert_eq!(&got[k], v, "{name}: {k}");
                }
            }
        }
        if let Some(b) = expect.get("baggage") {
            let got: BTreeMap<&str, &str> = cx
                .baggage()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(json!(got), *b, "{name}: baggage");
        }
        if let Some(n) = expect.get("baggage_count") {
            assert_eq!(cx.baggage().len() as u64, n.as_u64().unwrap(), "{name}");
        }
        if let Some(c) = expect.get("correlation") {
            assert_eq!(
                crosstrace::binding::interop::correlation_to_json(cx.correlation()),
                *c,
                "{name}: correlation"
            );
        }
    }
}

#[test]
fn extracted_correlation() {
    let v = vectors("extracted_correlation.json");
    let t = crosstrace::Tracing::new(TracingConfig {
        backend: crosstrace::Backend::None,
        ..TracingConfig::default()
    })
    .unwrap();
    let current = Correlation::builder()
        .id(v["current_correlation_id"].as_str().unwrap())
        .build()
        .unwrap();
    let _g = crosstrace::Context::new()
        .with_correlation(current)
        .attach();
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let extracted =
            (!case["headers"].is_null()).then(|| t.extract(&header_lines(&case["headers"])));
        let parent =
            crosstrace::Context::continuing(extracted.as_ref(), &crosstrace::Context::current());
        let span = t.span("continued").parent_context(&parent).start();
        let trace = span.trace_id_hex();
        match case["expect_trace_id"].as_str() {
            Some(want) => assert_eq!(trace, want, "{name}"),
            None => assert_ne!(
                trace, "4bf92f3577b34da6a3ce929d0e0e4736",
                "{name}: a new trace"
            ),
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        t.inject(&span.context(), &mut headers);
        let got = headers
            .iter()
            .find(|(k, _)| k == "x-correlation-id")
            .map(|(_, v)| v.as_str());
        assert_eq!(got, case["expect_correlation_id"].as_str(), "{name}");
    }
}

#[test]
fn propagation_inject() {
    let v = vectors("propagation_inject.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let cx = crosstrace::binding::interop::context_from_json(&case["context"]).unwrap();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        propagators(case).inject(&cx, &mut headers);
        assert_eq!(json!(headers), case["expect_headers"], "{name}");

        // What is injected extracts back to the same context.
        let back = Propagators::new(&[
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::B3,
            PropagatorKind::Jaeger,
        ])
        .extract(&headers);
        if let (Some(a), Some(b)) = (cx.span_context(), back.span_context()) {
            assert_eq!(a.trace_id(), b.trace_id(), "{name}: round trip");
            assert_eq!(a.span_id(), b.span_id(), "{name}: round trip");
        }
        assert_eq!(
            back.correlation().map(Correlation::id),
            cx.correlation().map(Correlation::id),
            "{name}: correlation round trip"
        );
    }
}

/// The redaction vectors: the built-in policy's functions, and `attribute` cases through a real
/// span (set at start, exported) so the policy's wiring into the pipeline is what is checked.
#[test]
fn redaction() {
    use crosstrace::redact::Policy;
    use opentelemetry::{Array, StringValue, Value as OtelValue};
    let to_value = |j: &Value| match j {
        Value::String(s) => OtelValue::from(s.clone()),
        Value::Array(items) => OtelValue::Array(Array::String(
            items
                .iter()
                .map(|i| StringValue::from(i.as_str().unwrap().to_owned()))
                .collect(),
        )),
        other => panic!("not a string or array: {other}"),
    };
    let collected = Collect::default();
    let t =
        crosstrace::Tracing::with_exporter(TracingConfig::default(), collected.clone()).unwrap();
    let p = Policy::builtin();
    let v = vectors("redaction.json");
    for case in cases(&v) {
        let name = case["name"].as_str().unwrap();
        let (input, expect) = (&case["input"], &case["expect"]);
        let text = |j: &Value| j.as_str().unwrap().to_owned();
        match case["kind"].as_str().unwrap() {
            "url" => assert_eq!(p.url(&text(input)), text(expect), "{name}"),
            "query" => assert_eq!(p.query(&text(input)), text(expect), "{name}"),
            "text" => assert_eq!(p.text(&text(input)), text(expect), "{name}"),
            "body" => {
                let max = case
                    .get("max_bytes")
                    .and_then(Value::as_u64)
                    .map_or(usize::MAX, |m| m as usize);
                let ct = case["content_type"].as_str().unwrap();
                let got = p.body(ct, text(input).as_bytes(), max);
                assert_eq!(got.as_deref(), expect.as_str(), "{name}");
            }
            "attribute" => {
                let key = case["key"].as_str().unwrap().to_owned();
                t.span("redacted")
                    .attribute(KeyValue::new(key.clone(), to_value(input)))
                    .start()
                    .end();
                t.force_flush(std::time::Duration::from_secs(5)).unwrap();
                let span = collected.0.lock().unwrap().pop().unwrap();
                let got = span.attributes.iter().find(|kv| kv.key.as_str() == key);
                assert_eq!(got.map(|kv| &kv.value), Some(&to_value(expect)), "{name}");
            }
            other => panic!("{name}: unknown kind {other}"),
        }
    }
}

/// Collects exported spans.
#[derive(Debug, Clone, Default)]
struct Collect(std::sync::Arc<std::sync::Mutex<Vec<crosstrace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanExporter for Collect {
    async fn export(
        &self,
        batch: Vec<crosstrace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

#[test]
fn error_kind_table() {
    let v = vectors("error_kinds.json");
    let rows = v["kinds"].as_array().unwrap();
    assert_eq!(rows.len(), ErrorKind::ALL.len());
    for (row, kind) in rows.iter().zip(ErrorKind::ALL) {
        assert_eq!(row["kind"], kind.name());
        assert_eq!(row["c_code"], kind.c_code());
        assert_eq!(row["python_class"], kind.python_class());
        assert_eq!(row["js_name"], kind.js_name());
    }
    let mut codes: Vec<u32> = ErrorKind::ALL.iter().map(|k| k.c_code()).collect();
    codes.dedup();
    assert_eq!(codes.len(), ErrorKind::ALL.len(), "codes are unique");
}

/// The crate's directory, as cargo says when it runs the test (the path compiled in may be
/// another checkout's when a shared target directory served it).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// A JSON value as a binding's [`FieldValue`] (numbers as JS gives them).
fn field_value(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => FieldValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => FieldValue::Str(s.clone()),
        Value::Array(a) => FieldValue::List(a.iter().map(field_value).collect()),
        Value::Object(o) => {
            FieldValue::Map(o.iter().map(|(k, v)| (k.clone(), field_value(v))).collect())
        }
    }
}

/// A [`FieldValue`] as JSON text, keys in its order (serde_json's `Value` sorts them).
fn text_of(v: &FieldValue) -> String {
    match v {
        FieldValue::List(items) => {
            let items: Vec<String> = items.iter().map(text_of).collect();
            format!("[{}]", items.join(","))
        }
        FieldValue::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), text_of(v)))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        other => json_of(other).to_string(),
    }
}

/// A [`FieldValue`] as the JSON a binding's JS value of it stringifies to.
fn json_of(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::Number(n) => json!(n),
        FieldValue::Whole(n) => json!(n),
        FieldValue::Str(s) => json!(s),
        FieldValue::List(items) => Value::Array(items.iter().map(json_of).collect()),
        FieldValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A config by [`TracingConfig::from_values`], given as the JSON `from_json` reads.
fn config_from_values(config: &Value) -> Result<TracingConfig, crosstrace::ConfigError> {
    let fields: Vec<(&String, &Value)> = config.as_object().unwrap().iter().collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    TracingConfig::from_values(
        &names,
        |i| field_value(fields[i].1),
        // As `from_json` gives them.
        |i| match fields[i].1 {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_f64() => format!("{:?}", n.as_f64().unwrap()),
            other => other.to_string(),
        },
    )
}

// The serde-free paths of the npm package (config objects and contexts in, contexts out) against
// serde's, which Rust code and the other bindings use: the same result for every vector, and
// every field of every kind.

/// Every field by both paths, right and wrong: the same config, or an error naming the
/// same field.
#[test]
fn config_from_values_agrees_with_serde() {
    let mut cases: Vec<Value> = cases(&vectors("config_fields.json"))
        .iter()
        // The vectors' "NaN", "inf" and 2^64 stand for numbers JSON cannot hold: JSON
        // gives serde a string there, which a number field refuses by both paths.
        .map(|c| c["config"].clone())
        .collect();
    let wrong_kind = [
        json!(1),
        json!("x"),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
        json!(["x"]),
        json!({"k": 1}),
    ];
    let valid = json!({
        "enabled": false, "service_name": "svc", "service_version": "2", "environment": "e",
        "backend": "otlp", "endpoint": "http://127.0.0.1:4318/v1/traces",
        "otlp_protocol": "http/protobuf", "headers": {"x-api-key": "k"},
        "compression": "gzip", "sampler": "traceidratio", "sampling_rate": 0.25,
        "export_timeout_seconds": 2.5, "export_attempt_timeout_seconds": 1,
        "export_max_batch_size": 10, "max_queue_size": 20, "schedule_delay_millis": 30,
        "auto_instrument": false, "instrument_db": false, "instrument_http": false,
        "instrument_logging": false, "resource_attributes": {"team": "retail"},
        "propagators": ["baggage", "tracecontext"], "attribute_value_length_limit": 40,
        "attribute_count_limit": 50, "event_count_limit": 0, "link_count_limit": 90,
        "log_level": "warn", "metrics_enabled": false,
        "metrics_buckets_ms": [1, 2.5, 10], "metrics_max_series": 60,
        "redact_keys": ["default", "ssn"], "max_body_bytes": 70, "metrics_dir": null,
        "metrics_sync_interval_millis": 80
    });
    assert_eq!(
        valid.as_object().unwrap().len(),
        TracingConfig::field_names().len(),
        "every field"
    );
    cases.push(valid.clone());
    for (name, _) in valid.as_object().unwrap() {
        for v in &wrong_kind {
            cases.push(json!({ name.as_str(): v }));
        }
    }
    // Names by case and alias, which the environment's parser takes and serde does not.
    for (name, v) in [
        ("backend", "OTLP"),
        ("otlp_protocol", "http"),
        ("log_level", "warning"),
        ("sampler", " always_on"),
        ("compression", "GZIP"),
    ] {
        cases.push(json!({ name: v }));
    }
    cases.push(json!({"propagators": ["tracecontext", "b4"]}));
    cases.push(json!({"max_queue_size": 1e19, "export_max_batch_size": 1}));
    cases.push(json!({"no_such_field": 1}));
    let mut errors = 0;
    for config in &cases {
        let by_serde = TracingConfig::from_json(&config.to_string());
        let by_values = config_from_values(config);
        match (&by_serde, &by_values) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{config}"),
            (Err(a), Err(b)) => {
                errors += 1;
                assert_eq!(a.source_name, b.source_name, "{config}");
                assert_eq!(a.value, b.value, "{config}");
            }
            _ => panic!("{config}: serde {by_serde:?}, values {by_values:?}"),
        }
    }
    assert!(errors > 300, "{errors} errors of {} cases", cases.len());
    assert_eq!(
        config_from_values(&valid).unwrap().propagators,
        [PropagatorKind::Baggage, PropagatorKind::TraceContext]
    );
}

/// The vectors' contexts, each field of them of every kind: read alike, or refused by both.
/// A context written as JSON reads back as itself: a binding can store or send it and pick
/// it up again (the C `ct_context_to_json` / `ct_context_from_json`, Python, npm).
#[test]
fn a_written_context_reads_back_as_itself() {
    let p = Propagators::new(&[PropagatorKind::TraceContext, PropagatorKind::Baggage]);
    let cx = p.extract(&vec![
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "vendor=v1".to_owned()),
        (
            "baggage".to_owned(),
            "tenant=acme,correlation.id=req-9,user.id=u1".to_owned(),
        ),
    ]);
    let written = crosstrace::binding::interop::context_to_json(&cx);
    assert!(written["span"].is_object(), "{written}");
    let read = crosstrace::binding::interop::context_from_json(&written).unwrap();
    assert_eq!(
        crosstrace::binding::interop::context_to_json(&read),
        written
    );
    assert_eq!(read.span_context(), cx.span_context());
}

#[test]
fn context_from_value_agrees_with_serde() {
    let mut cases: Vec<Value> = cases(&vectors("propagation_inject.json"))
        .iter()
        .map(|c| c["context"].clone())
        .collect();
    let full = json!({
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
        "sampled": false, "flags": "02", "debug": true, "tracestate": "a=1",
        "baggage": {"k": "v"}, "ignored": [1],
        "correlation": {"id": "c-1", "user_id": "u", "operation": "op",
                        "fields": {"tenant": "t"}, "other": 1}
    });
    cases.push(full.clone());
    let kinds = [
        json!(null),
        json!(1),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!({"k": 1}),
        json!({"k": "v"}),
    ];
    for key in full.as_object().unwrap().keys() {
        for v in &kinds {
            let mut c = full.clone();
            c[key] = v.clone();
            cases.push(c);
        }
    }
    for key in ["id", "user_id", "operation", "fields"] {
        for v in &kinds {
            let mut c = full.clone();
            c["correlation"][key] = v.clone();
            cases.push(c);
        }
    }
    // The parent as a written context has it: a `span` object.
    let nested = json!({
        "span": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
                 "sampled": true, "flags": "01", "debug": false, "remote": true,
                 "tracestate": "a=1"},
        "baggage": {"k": "v"}
    });
    cases.push(nested.clone());
    for key in ["trace_id", "sampled", "remote", "tracestate"] {
        for v in &kinds {
            let mut c = nested.clone();
            c["span"][key] = v.clone();
            cases.push(c);
        }
    }
    cases.extend([json!([]), json!("x"), json!(null)]);
    let (mut read, mut refused) = (0, 0);
    for case in &cases {
        let by_serde = <ContextInput as serde::Deserialize>::deserialize(case).ok();
        let by_value = ContextInput::from_value(&field_value(case));
        assert_eq!(by_serde, by_value, "{case}");
        if by_value.is_some() {
            read += 1;
        } else {
            refused += 1;
        }
    }
    assert!(read > 20 && refused > 50, "{read} read, {refused} refused");
    // And out: every context read, as serde writes its shape.
    let mut written = 0;
    for case in &cases {
        let Some(input) = ContextInput::from_value(&field_value(case)) else {
            continue;
        };
        let Ok(cx) = context_from_input(input) else {
            continue;
        };
        let shape = context_shape(&cx);
        // As text: the same keys and values, in the same order.
        let by_serde = serde_json::to_string(&shape).unwrap();
        assert_eq!(text_of(&shape.to_value()), by_serde, "{case}");
        written += 1;
    }
    assert!(written > 20, "{written} written");
    let c = ContextInput::from_value(&field_value(&full)).unwrap();
    assert_eq!(c.correlation.unwrap().fields["tenant"], "t");
}

/// JS has one number type: a whole double (`5.0`, `-0.0`) is a count there, where JSON's
/// serde reading refuses a float for one (the one difference between the two paths).
#[test]
fn a_whole_double_is_a_count() {
    let c =
        config_from_values(&json!({"max_queue_size": 5.0, "export_max_batch_size": 5})).unwrap();
    assert_eq!(c.max_queue_size, 5);
    let c = config_from_values(&json!({"max_body_bytes": -0.0})).unwrap();
    assert_eq!(c.max_body_bytes, 0);
    assert!(TracingConfig::from_json(r#"{"max_queue_size": 5.0}"#).is_err());
}

#[test]
fn a_wrong_kind_says_what_the_field_takes() {
    let e = config_from_values(&json!({"instrument_db": "yes"})).unwrap_err();
    assert_eq!(
        (
            e.source_name.as_str(),
            e.value.as_str(),
            e.expected.as_str()
        ),
        ("instrument_db", "yes", "a boolean")
    );
    let e = config_from_values(&json!({"max_queue_size": 1.5})).unwrap_err();
    assert!(e.expected.contains("1048576"), "{e:?}");
    let e = config_from_values(&json!({"backend": "Zipkin"})).unwrap_err();
    assert_eq!(e.expected, crosstrace::Backend::ACCEPTED);
    let e = config_from_values(&json!({"headers": {"a": 1}})).unwrap_err();
    assert_eq!(e.expected, "an object of strings");
}

/// Every field, set and unset: the same object, in the same order, as serde writes.
#[test]
fn health_to_value_agrees_with_serde() {
    let full = Health {
        tracing_enabled: true,
        shut_down: true,
        service_name: "svc".into(),
        service_version: "2".into(),
        environment: "e".into(),
        backend: "otlp".into(),
        endpoint: Some("http://h/v1/traces".into()),
        protocol: Some("http/protobuf".into()),
        sampler: "traceidratio".into(),
        sampling_rate: 0.25,
        propagators: vec!["tracecontext".into(), "baggage".into()],
        queue_capacity: 2048,
        counts: SpanCounts {
            spans_started: 1,
            spans_ended: 2,
            spans_sampled_out: 3,
            spans_exported: 4,
            spans_dropped_queue_full: 5,
            spans_export_failed: 6,
            export_failures: 7,
            spans_started_after_shutdown: 8,
            attributes_truncated: 9,
            attributes_redacted: 10,
            attributes_dropped: 11,
            events_dropped: 12,
            links_dropped: 14,
            baggage_entries_dropped: 13,
            queue_depth: u64::MAX,
        },
        last_export_error: Some(ExportErrorRecord {
            kind: "timeout".into(),
            message: "m".into(),
            unix_ms: 14,
        }),
        last_export_success_unix_ms: Some(15),
        warnings: vec!["w".into()],
        metrics_enabled: true,
        metrics_series: 16,
        metrics_overflowed: 17,
        metrics_dir: Some("/d".into()),
        metrics_files_skipped: 18,
        metrics_file_write_failures: 19,
    };
    let empty = Health {
        endpoint: None,
        protocol: None,
        last_export_error: None,
        last_export_success_unix_ms: None,
        metrics_dir: None,
        warnings: Vec::new(),
        ..full.clone()
    };
    for h in [full, empty] {
        // As text: the same keys and values, in the same order.
        assert_eq!(text_of(&h.to_value()), serde_json::to_string(&h).unwrap());
    }
}
