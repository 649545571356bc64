//! wasm-bindgen-test: the binding's own API on a real JS engine — Node, and headless Chromium
//! (scripts/wasm.sh runs both) — with the shared vectors.
#![cfg(target_arch = "wasm32")]
// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use crosstrace_wasm::{
    extract, health, init, inject, metrics_text, resource_object, span_context, span_end, span_ids,
    span_set_attribute, start_span, Context,
};
use js_sys::{Object, Reflect};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn vectors(text: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// A JSON value as the JS value `JSON.parse` gives.
fn js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

/// A JS value as JSON.
fn json(v: &JsValue) -> Value {
    serde_json::from_str(&String::from(js_sys::JSON::stringify(v).unwrap())).unwrap()
}

/// `v` with every number as a float.
fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), floats(v))).collect()),
        other => other.clone(),
    }
}

fn js_object(map: &serde_json::Map<String, Value>) -> JsValue {
    let o = Object::new();
    for (k, v) in map {
        Reflect::set(&o, &k.into(), &v.as_str().unwrap().into()).unwrap();
    }
    o.into()
}

/// A vector's headers as JS: an object, or an array of `[name, value]` pairs.
fn js_headers(h: &Value) -> JsValue {
    match h {
        Value::Object(m) => js_object(m),
        Value::Array(pairs) => pairs
            .iter()
            .map(|p| {
                let pair = js_sys::Array::new();
                pair.push(&p[0].as_str().unwrap().into());
                pair.push(&p[1].as_str().unwrap().into());
                JsValue::from(pair)
            })
            .collect::<js_sys::Array>()
            .into(),
        _ => panic!("headers: an object or a list of pairs"),
    }
}

/// Whether this build has every one of the propagators: all of them in the full build, the
/// W3C formats in the browser build.
fn w3c_only<'a>(mut kinds: impl Iterator<Item = &'a str>) -> bool {
    cfg!(feature = "full") || kinds.all(|p| matches!(p, "tracecontext" | "baggage" | "none"))
}

/// Sets up the case's propagators; `false` when the case names one this build leaves out (B3
/// and Jaeger are the full build's), which the setup must then refuse by name.
fn init_propagators(case: &Value) -> bool {
    let props: Vec<&str> = case["propagators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let list = if props.is_empty() {
        "none".to_owned()
    } else {
        props.join(",")
    };
    let cfg = serde_json::json!({ "OTEL_BACKEND": "none", "OTEL_PROPAGATORS": list });
    let built = w3c_only(props.iter().copied());
    if built {
        init(&js(&cfg)).unwrap();
    } else {
        let e: js_sys::Error = init(&js(&cfg)).unwrap_err().dyn_into().unwrap();
        let msg = String::from(e.message());
        assert!(
            msg.contains("OTEL_PROPAGATORS") && msg.contains("not in this build"),
            "{list}: {msg}"
        );
    }
    built
}

#[wasm_bindgen_test]
fn config_vectors() {
    let bounds = vectors(include_str!("../../tests/vectors/config_bounds.json"));
    for case in vectors(include_str!("../../tests/vectors/config_env.json"))
        .iter()
        .chain(bounds.iter())
    {
        let name = case["name"].as_str().unwrap();
        let mut env = case["env"].as_object().unwrap().clone();
        match case.get("error") {
            None => {
                // Only OTLP/HTTP, Thrift and Zipkin can leave a browser; the config itself is
                // what these vectors check.
                env.entry("OTEL_BACKEND").or_insert("none".into());
                env.insert("OTEL_BACKEND".into(), "none".into());
                let asks = env.get("OTEL_PROPAGATORS").and_then(Value::as_str);
                if asks.is_some_and(|list| !w3c_only(list.split(',').map(str::trim))) {
                    // B3 and Jaeger are the full build's: refused, by name.
                    let e: js_sys::Error = init(&js(&Value::Object(env)))
                        .unwrap_err()
                        .dyn_into()
                        .unwrap();
                    assert!(
                        String::from(e.message()).contains("not in this build"),
                        "{name}"
                    );
                    continue;
                }
                init(&js(&Value::Object(env))).unwrap_or_else(|e| panic!("{name}: {e:?}"));
                let got = serde_json::to_value(crosstrace_wasm::config_in_force()).unwrap();
                for (k, want) in case["expect"].as_object().unwrap() {
                    if k == "backend" || k == "endpoint" {
                        continue;
                    }
                    if k == "propagators" && !cfg!(feature = "full") {
                        // The browser build's defaults are the W3C formats of the defaults.
                        let w3c: Vec<&Value> = want
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|p| w3c_only([p.as_str().unwrap()].into_iter()))
                            .collect();
                        assert_eq!(got[k], serde_json::json!(w3c), "{name}");
                        continue;
                    }
                    // JS has one number type: 30.0 reads back as 30.
                    assert_eq!(floats(&got[k]), floats(want), "{name}: {k}");
                }
            }
            Some(err) => {
                let e = init(&js(&Value::Object(env))).unwrap_err();
                let e: js_sys::Error = e.dyn_into().unwrap();
                assert_eq!(String::from(e.name()), "CrosstraceConfigError", "{name}");
                let msg = String::from(e.message());
                assert!(
                    msg.contains(err["variable"].as_str().unwrap()),
                    "{name}: {msg}"
                );
                if let Some(bound) = err.get("expected_contains") {
                    assert!(msg.contains(bound.as_str().unwrap()), "{name}: {msg}");
                }
            }
        }
    }
}

#[wasm_bindgen_test]
fn extract_vectors() {
    for case in vectors(include_str!("../../tests/vectors/propagation_extract.json")) {
        let name = case["name"].as_str().unwrap();
        if !init_propagators(&case) {
            continue;
        }
        let cx = extract(&js_headers(&case["headers"]));
        let got: Value = serde_json::from_str(&cx.to_json()).unwrap();
        let expect = &case["expect"];
        if expect["span"].is_null() {
            assert!(got["span"].is_null(), "{name}: {got}");
        } else {
            for (k, v) in expect["span"].as_object().unwrap() {
                assert_eq!(&got["span"][k], v, "{name}: {k}");
            }
        }
        if let Some(b) = expect.get("baggage") {
            assert_eq!(&got["baggage"], b, "{name}");
        }
        if let Some(n) = expect.get("baggage_count") {
            let got = got["baggage"].as_object().map_or(0, |b| b.len());
            assert_eq!(got as u64, n.as_u64().unwrap(), "{name}");
        }
        if let Some(c) = expect.get("correlation") {
            assert_eq!(&got["correlation"], c, "{name}");
        }
    }
}

#[wasm_bindgen_test]
fn inject_vectors() {
    for case in vectors(include_str!("../../tests/vectors/propagation_inject.json")) {
        let name = case["name"].as_str().unwrap();
        if !init_propagators(&case) {
            continue;
        }
        let cx = Context::from_json(&case["context"].to_string()).unwrap();
        let headers = inject(&cx);
        let got: Value =
            serde_json::from_str(&String::from(js_sys::JSON::stringify(&headers).unwrap()))
                .unwrap();
        assert_eq!(got, case["expect_headers"], "{name}");
    }
}

#[wasm_bindgen_test]
fn spans_join_the_extracted_trace_and_are_counted() {
    init(&js(
        &serde_json::json!({"backend": "none", "serviceName": "wasm-test"}),
    ))
    .unwrap();
    let headers = Object::new();
    Reflect::set(
        &headers,
        &"traceparent".into(),
        &"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    )
    .unwrap();
    let parent = extract(&headers.into());
    let span = start_span("GET /stock", 1, &parent, &JsValue::UNDEFINED, None).unwrap(); // 1: server
    assert!(span_ids(span).starts_with("4bf92f3577b34da6a3ce929d0e0e4736-"));
    span_set_attribute(span, "items", &JsValue::from_f64(3.0)).unwrap();
    span_end(span);
    span_end(span); // idempotent
    assert_eq!(span_ids(span), "", "an ended handle is refused");
    let h = json(&health());
    assert_eq!(h["spans_ended"], 1);
    assert_eq!(h["service_name"], "wasm-test");
}

#[wasm_bindgen_test]
fn a_continued_span_takes_only_the_headers_correlation() {
    // What the package's startSpan does: the given parent (here, extracted), else the current
    // context (here, the one withCorrelation would make current).
    let v: Value = serde_json::from_str(include_str!(
        "../../tests/vectors/extracted_correlation.json"
    ))
    .unwrap();
    init(&js(&serde_json::json!({"backend": "none"}))).unwrap();
    let current = Context::new()
        .with_correlation(
            Some(v["current_correlation_id"].as_str().unwrap().to_owned()),
            None,
            None,
            &JsValue::UNDEFINED,
        )
        .unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let parent = if case["headers"].is_null() {
            current.clone()
        } else {
            extract(&js_headers(&case["headers"]))
        };
        let span = start_span("continued", 1, &parent, &JsValue::UNDEFINED, None).unwrap();
        let trace = span_ids(span).split('-').next().unwrap().to_owned();
        match case["expect_trace_id"].as_str() {
            Some(want) => assert_eq!(trace, want, "{name}"),
            None => assert_ne!(trace, "4bf92f3577b34da6a3ce929d0e0e4736", "{name}"),
        }
        let headers = inject(&span_context(span));
        let got = Reflect::get(&headers, &"x-correlation-id".into())
            .unwrap()
            .as_string();
        assert_eq!(
            got.as_deref(),
            case["expect_correlation_id"].as_str(),
            "{name}"
        );
        span_end(span);
    }
}

#[wasm_bindgen_test]
fn the_resource_names_the_js_runtime() {
    init(&js(&serde_json::json!({"backend": "none"}))).unwrap();
    let r = json(&resource_object().into());
    // A page has a window; Node has none (and says it is Node).
    let browser = Reflect::has(&js_sys::global(), &"window".into()).unwrap();
    let want = if browser { "webjs" } else { "nodejs" };
    assert_eq!(r["telemetry.sdk.language"], want, "{r}");
    assert_eq!(r["telemetry.sdk.name"], "crosstrace");
    assert_eq!(r["service.instance.id"].as_str().unwrap().len(), 36, "{r}");
}

#[wasm_bindgen_test]
fn the_browser_build_refuses_the_encoders_it_leaves_out() {
    // This crate's default features are the browser build's: OTLP/HTTP protobuf and the
    // console; Zipkin and Jaeger Thrift are the full build's (feature `full`).
    for (backend, says) in [
        ("zipkin", "Zipkin encoder"),
        ("jaeger", "Jaeger Thrift encoder"),
    ] {
        let result = init(&js(&serde_json::json!({ "backend": backend })));
        if cfg!(feature = "full") {
            result.unwrap_or_else(|e| panic!("{backend}: {e:?}"));
            continue;
        }
        let e: js_sys::Error = result.unwrap_err().dyn_into().unwrap();
        assert_eq!(
            String::from(e.name()),
            "CrosstraceExporterSetupError",
            "{backend}"
        );
        let msg = String::from(e.message());
        assert!(
            msg.contains(says) && msg.contains("4318"),
            "{backend}: {msg}"
        );
    }
    // Jaeger pointed at its OTLP endpoint is OTLP: the browser build sends it.
    init(&js(&serde_json::json!({
        "backend": "jaeger", "endpoint": "http://127.0.0.1:4318/v1/traces"
    })))
    .unwrap();
}

#[wasm_bindgen_test]
fn the_browser_build_propagates_the_w3c_formats() {
    // B3 and Jaeger are the full build's: by default the browser build writes traceparent and
    // baggage only (no extra header for a server's CORS policy to allow), and a config naming
    // b3 or jaeger is refused, saying where they are.
    init(&js(&serde_json::json!({ "backend": "none" }))).unwrap();
    let parent = extract(&js(&serde_json::json!({
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"
    })));
    let written = json(&inject(&parent));
    assert_eq!(
        written["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    let names: Vec<&String> = written.as_object().unwrap().keys().collect();
    // Set as an edge runtime's environment would be: named as set.
    let result = init(&js(&serde_json::json!({
        "OTEL_BACKEND": "none", "OTEL_PROPAGATORS": "tracecontext, B3"
    })));
    if !cfg!(feature = "full") {
        let e: js_sys::Error = result.unwrap_err().dyn_into().unwrap();
        let msg = String::from(e.message());
        assert!(
            msg.contains("OTEL_PROPAGATORS=\"tracecontext, B3\""),
            "{msg}"
        );
    }
    for kind in ["b3", "b3multi", "jaeger"] {
        let result = init(&js(&serde_json::json!({
            "backend": "none", "propagators": ["tracecontext", kind]
        })));
        if cfg!(feature = "full") {
            result.unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            continue;
        }
        let e: js_sys::Error = result.unwrap_err().dyn_into().unwrap();
        assert_eq!(String::from(e.name()), "CrosstraceConfigError", "{kind}");
        let msg = String::from(e.message());
        assert!(
            msg.contains("propagators") && msg.contains("crosstrace/edge"),
            "{kind}: {msg}"
        );
    }
    init(&js(&serde_json::json!({ "backend": "none" }))).unwrap();
    let fields: Vec<String> = crosstrace_wasm::propagation_fields()
        .iter()
        .map(|f| f.as_string().unwrap())
        .collect();
    if cfg!(feature = "full") {
        assert!(written.get("b3").is_some(), "{written}");
        assert!(written.get("uber-trace-id").is_some(), "{written}");
        assert!(fields.iter().any(|f| f == "b3"), "{fields:?}");
    } else {
        assert_eq!(names, ["traceparent"], "{written}");
        // The OpenTelemetry API propagator's fields() names what this build writes.
        assert_eq!(
            fields,
            ["traceparent", "tracestate", "baggage", "x-correlation-id"]
        );
    }
}

#[wasm_bindgen_test]
fn the_browser_build_computes_no_span_metrics() {
    // Span metrics are the full build's: a page has no one to scrape them, and leaving them
    // out saves every span their recording. Asked for or not, the browser build has none.
    init(&js(&serde_json::json!({
        "backend": "none", "serviceName": "metrics-test", "metricsEnabled": true,
        "metricsMaxSeries": 500
    })))
    .unwrap();
    let root = Context::default();
    let span = start_span("GET /stock", 1, &root, &JsValue::UNDEFINED, None).unwrap();
    span_end(span);
    let (text, h) = (metrics_text(), json(&health()));
    assert_eq!(h["spans_ended"], 1);
    if cfg!(feature = "full") {
        assert!(text.contains("metrics-test"), "{text}");
        assert_eq!(h["metrics_enabled"], true);
    } else {
        assert_eq!(text, "");
        assert_eq!(h["metrics_enabled"], false);
        // A metrics setting given to a build without them is said, not ignored silently.
        let warned = h["warnings"].as_array().unwrap().iter();
        assert!(
            warned
                .clone()
                .any(|w| w.as_str().unwrap().contains("span-metrics")),
            "{:?}",
            h["warnings"]
        );
    }
}

#[wasm_bindgen_test]
fn config_objects_are_read_by_kind_and_bound() {
    // Read without serde: every kind a field takes, and what it does not.
    init(&js(&serde_json::json!({
        "backend": "none", "serviceName": "kinds", "instrumentDb": false,
        "headers": {"x-api-key": "k"}, "propagators": ["baggage", "tracecontext"],
        "redactKeys": ["default", "ssn"], "samplingRate": 0.5, "maxQueueSize": 4096,
        "otlpProtocol": null
    })))
    .unwrap();
    let c = serde_json::to_value(crosstrace_wasm::config_in_force()).unwrap();
    assert_eq!(c["service_name"], "kinds");
    assert_eq!(c["instrument_db"], false);
    assert_eq!(c["headers"]["x-api-key"], "k");
    assert_eq!(
        c["propagators"],
        serde_json::json!(["baggage", "tracecontext"])
    );
    assert_eq!(c["redact_keys"], serde_json::json!(["default", "ssn"]));
    assert_eq!(c["max_queue_size"], 4096);
    let refused = |config: JsValue| -> String {
        let e: js_sys::Error = init(&config).unwrap_err().dyn_into().unwrap();
        assert_eq!(String::from(e.name()), "CrosstraceConfigError");
        String::from(e.message())
    };
    // A Map (or a Headers) for a map field: its pairs, as an object's entries.
    let headers = js_sys::Map::new();
    headers.set(&"authorization".into(), &"Bearer t".into());
    let config = Object::new();
    Reflect::set(&config, &"backend".into(), &"none".into()).unwrap();
    Reflect::set(&config, &"headers".into(), &headers).unwrap();
    init(&config.into()).unwrap();
    let c = serde_json::to_value(crosstrace_wasm::config_in_force()).unwrap();
    assert_eq!(c["headers"]["authorization"], "Bearer t");
    // A field whose getter throws: an error, not an exception through the module.
    let throwing = js_sys::eval("({ get serviceName() { throw new Error('no name'); } })").unwrap();
    let e: js_sys::Error = init(&throwing).unwrap_err().dyn_into().unwrap();
    assert_eq!(String::from(e.name()), "CrosstraceInvalidArgumentError");
    assert!(
        String::from(e.message()).contains("no name"),
        "{:?}",
        e.message()
    );
    // 2^32 + 5 is not 5 where a usize has 32 bits.
    let msg = refused(js(&serde_json::json!({ "maxQueueSize": 4_294_967_301u64 })));
    assert!(
        msg.contains("maxQueueSize") && msg.contains("4294967301"),
        "{msg}"
    );
    let msg = refused(js(&serde_json::json!({ "instrumentDb": "yes" })));
    assert!(
        msg.contains("instrumentDb") && msg.contains("a boolean"),
        "{msg}"
    );
    let msg = refused(js(&serde_json::json!({ "backend": "OTLP" })));
    assert!(
        msg.contains("backend") && msg.contains("otlp, jaeger"),
        "{msg}"
    );
    // A nesting deeper than any field's is refused, not followed down the stack.
    let mut nested = JsValue::from("b3");
    for _ in 0..10_000 {
        let list = js_sys::Array::new();
        list.push(&nested);
        nested = list.into();
    }
    let deep = Object::new();
    Reflect::set(&deep, &"propagators".into(), &nested).unwrap();
    let deep = JsValue::from(deep);
    let msg = refused(deep);
    assert!(msg.contains("propagators"), "{msg}");
    let deep_context = format!(
        "{{\"baggage\": {}\"v\"{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Context::from_json(&deep_context).is_err());
}

#[wasm_bindgen_test]
fn numbers_print_through_js_as_rust_writes_them() {
    // The browser build has no float printing of its own: JS's String() writes numbers in
    // messages, with Rust's spelling where the two differ.
    use crosstrace::binding::number_text;
    assert_eq!(number_text(1e300), "1e300");
    assert_eq!(number_text(2.5e-7), "2.5e-7");
    assert_eq!(number_text(0.25), "0.25");
    assert_eq!(number_text(f64::INFINITY), "inf");
    assert_eq!(number_text(f64::NEG_INFINITY), "-inf");
    assert_eq!(number_text(f64::NAN), "NaN");
    // A sampling rate out of bounds is named as given.
    let e: js_sys::Error = init(&js(&serde_json::json!({ "samplingRate": 1e300 })))
        .unwrap_err()
        .dyn_into()
        .unwrap();
    assert!(
        String::from(e.message()).contains("1e300"),
        "{:?}",
        e.message()
    );
}
