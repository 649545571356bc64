"""Span metrics from Python: the shared span program gives the golden text byte for byte, the
text parses with prometheus_client's parser, sampling at 1% still counts every span, and the
specification's alert rules evaluate against the text with Prometheus's own promtool."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import crosstrace

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"
PROGRAM = json.loads((VECTORS / "metrics_program.json").read_text())
GOLDEN = (VECTORS / "metrics_program.prom").read_text()


def run_program() -> str:
    crosstrace.setup_tracing(crosstrace.TracingConfig(**PROGRAM["config"], auto_instrument=False))
    base_ns = PROGRAM["base_unix_ms"] * 1_000_000
    unsampled = crosstrace.extract({"traceparent": PROGRAM["unsampled_parent_traceparent"]})
    for s in PROGRAM["spans"]:
        parent = unsampled if s.get("unsampled_parent") else crosstrace.Context()
        span = crosstrace.start_span(
            s["name"],
            s.get("attributes"),
            kind=s["kind"],
            parent=parent,
            start_time=base_ns + s["start_ms"] * 1_000_000,
        )
        for k, v in s.get("attributes_after", {}).items():
            span.set_attribute(k, v)
        if "status" in s:
            span.set_status(s["status"], s.get("description"))
        span.end(base_ns + s["end_ms"] * 1_000_000)
    return crosstrace.metrics_text()


def test_the_span_program_gives_the_shared_golden_text() -> None:
    assert run_program() == GOLDEN


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_text_parses_with_the_official_parser() -> None:
    text = run_program()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["traces"].type == "counter"
    assert families["duration"].type == "histogram"
    assert families["sampling_kept_ratio"].type == "gauge"
    got = samples(text)
    route = {
        ("service_name", "metrics-vector"),
        ("span_name", "GET /orders/{id}"),
        ("span_kind", "server"),
        ("http_route", "/orders/{id}"),
    }
    assert got[("traces_total", frozenset(route | {("status", "ok")}))] == 3
    assert got[("duration_bucket", frozenset(route | {("status", "ok"), ("le", "50")}))] == 3
    assert got[("duration_sum", frozenset(route | {("status", "ok")}))] == 57
    edge = {
        ("service_name", "metrics-vector"),
        ("span_name", "POST /inventory"),
        ("span_kind", "client"),
        ("target_service", "inventory-service"),
        ("status", "error"),
    }
    assert got[("traces_total", frozenset(edge))] == 1
    svc = frozenset({("service_name", "metrics-vector")})
    assert math.isclose(got[("sampling_kept_ratio", svc)], 8 / 11)


def test_at_one_percent_sampling_every_span_is_counted() -> None:
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            backend="none", sampling_rate=0.01, service_name="sampled", auto_instrument=False
        )
    )
    for i in range(2000):
        with crosstrace.create_span("GET /orders/{id}", kind="server") as span:
            span.set_attribute("http.route", "/orders/{id}")
            if i % 20 == 0:
                span.set_status("error", "boom")
    got = samples(crosstrace.metrics_text())
    labels = {
        ("service_name", "sampled"),
        ("span_name", "GET /orders/{id}"),
        ("span_kind", "server"),
        ("http_route", "/orders/{id}"),
    }
    assert got[("traces_total", frozenset(labels | {("status", "error")}))] == 100
    assert got[("traces_total", frozenset(labels | {("status", "unset")}))] == 1900
    kept = got[("sampling_kept_ratio", frozenset({("service_name", "sampled")}))]
    # 1% within five standard deviations.
    assert abs(kept - 0.01) < 5 * math.sqrt(0.01 * 0.99 / 2000)
    health = crosstrace.get_tracing_health()
    assert health["metrics_enabled"] is True
    assert health["spans_exported"] + health["queue_depth"] <= health["spans_started"]


# --- The specification's alert rules, evaluated by promtool ------------------------------------

SHIPPED_RULES = (
    Path(__file__).resolve().parents[2] / "examples" / "prometheus" / "tracing-alerts.yml"
)

# The specification's HighErrorRate, verbatim.
VERBATIM_ERROR_RULE = """\
groups:
- name: tracing-alerts
  rules:
  - alert: HighErrorRate
    expr: rate(traces_total{status="error"}[5m]) / rate(traces_total[5m]) > 0.05
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: "High error rate in traces"
"""

MINUTES = 16
PER_MINUTE = 200
ROUTE_LABELS = (
    "service_name: checkout, span_name: 'POST /checkout', span_kind: server, http_route: /checkout"
)


def scrape_series(error_every: int, slow_ms: int) -> dict[str, list[float]]:
    """Runs MINUTES minutes of checkout traffic (PER_MINUTE spans a minute; every
    ``error_every``-th fails; every tenth takes ``slow_ms``, the rest 40 ms) on explicit
    timestamps, scraping the text once a minute and parsing it with prometheus_client. Returns
    promtool input series: ``metric{labels}`` -> one value per minute."""
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", service_name="checkout", auto_instrument=False)
    )
    series: dict[str, list[float]] = {}
    t0 = 1_767_225_600 * 10**9
    n = 0
    for minute in range(MINUTES + 1):
        if minute > 0:
            for i in range(PER_MINUTE):
                n += 1
                start = t0 + (minute * 60 + i * 60 / PER_MINUTE) * 10**9
                ms = slow_ms if n % 10 == 0 else 40
                span = crosstrace.start_span(
                    "POST /checkout",
                    {"http.route": "/checkout"},
                    kind="server",
                    parent=crosstrace.Context(),
                    start_time=int(start),
                )
                span.set_status("error" if n % error_every == 3 else "ok")
                span.end(int(start + ms * 10**6))
        for family in text_string_to_metric_families(crosstrace.metrics_text()):
            for s in family.samples:
                if s.name not in ("traces_total", "duration_bucket"):
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                series.setdefault(f"{s.name}{{{labels}}}", [0.0] * minute).append(s.value)
    for values in series.values():
        values.extend([values[-1]] * (MINUTES + 1 - len(values)))
    return series


def promtool() -> str:
    script = Path(__file__).resolve().parents[2] / "scripts" / "promtool.sh"
    out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


SUMMARIES = {
    "HighErrorRate": "High error rate in traces",
    "HighLatency": "High P95 latency detected",
}


def alert(name: str, firing: list[str]) -> str:
    """A promtool alert test at 15m: ``firing`` lists the expected alerts' label sets."""
    out = f"      - eval_time: 15m\n        alertname: {name}\n"
    if not firing:
        return out + "        exp_alerts: []\n"
    out += "        exp_alerts:\n"
    for labels in firing:
        out += f"          - exp_labels: {{{labels}}}\n"
        out += f'            exp_annotations: {{summary: "{SUMMARIES[name]}"}}\n'
    return out


def promtool_test(
    tmp_path: Path, rules: str, series: dict[str, list[float]], alerts: str
) -> tuple[bool, str]:
    (tmp_path / "rules.yml").write_text(rules)
    inputs = "\n".join(
        f"      - series: '{name}'\n        values: '{' '.join(f'{v:g}' for v in values)}'"
        for name, values in sorted(series.items())
    )
    (tmp_path / "test.yml").write_text(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
        f"    input_series:\n{inputs}\n    alert_rule_test:\n{alerts}"
    )
    result = subprocess.run(
        [promtool(), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    return result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_alert_rules_stay_quiet_on_a_healthy_service(tmp_path: Path) -> None:
    # 1% errors; P95 at 60 ms.
    series = scrape_series(error_every=100, slow_ms=60)
    quiet = alert("HighErrorRate", []) + alert("HighLatency", [])
    ok, out = promtool_test(tmp_path, SHIPPED_RULES.read_text(), series, quiet)
    assert ok, out
    # The specification's HighErrorRate verbatim fires even here: each error series is divided
    # by itself. That is why the shipped rule aggregates without the status label.
    ok, out = promtool_test(
        tmp_path,
        VERBATIM_ERROR_RULE,
        series,
        alert("HighErrorRate", [f"severity: warning, {ROUTE_LABELS}, status: error"]),
    )
    assert ok, out


def test_alert_rules_fire_on_errors_and_latency(tmp_path: Path) -> None:
    # 10% errors; every tenth request takes 3 s, so the P95 of the ok series is above 1000 ms
    # (the failing requests are fast: only the ok series is slow).
    series = scrape_series(error_every=10, slow_ms=3000)
    firing = alert("HighErrorRate", [f"severity: warning, {ROUTE_LABELS}"]) + alert(
        "HighLatency", [f"severity: critical, {ROUTE_LABELS}, status: ok"]
    )
    ok, out = promtool_test(tmp_path, SHIPPED_RULES.read_text(), series, firing)
    assert ok, out
    # The same data with quiet expectations fails: the check can fail.
    quiet = alert("HighErrorRate", []) + alert("HighLatency", [])
    ok, _ = promtool_test(tmp_path, SHIPPED_RULES.read_text(), series, quiet)
    assert not ok


def test_the_python_config_defaults_are_the_cores() -> None:
    config = crosstrace.TracingConfig()
    normalised = json.loads(config.to_json())
    assert normalised["metrics_buckets_ms"] == config.metrics_buckets_ms
    assert normalised["metrics_enabled"] is True
    assert normalised["metrics_max_series"] == config.metrics_max_series


def test_unsampled_spans_of_the_opentelemetry_api_still_count_their_errors() -> None:
    """The OpenTelemetry API (and the instrumentations) set status and attributes only on
    recording spans; an unsampled span is recording for the metrics (RECORD_ONLY), so its
    error is counted while nothing is exported."""
    from opentelemetry import trace as otel_trace

    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            backend="none", sampling_rate=0.0, service_name="unsampled", auto_instrument=False
        )
    )
    tracer = otel_trace.get_tracer("test")
    for _ in range(10):
        with pytest.raises(ValueError), tracer.start_as_current_span("work") as span:
            assert span.is_recording()
            assert not span.get_span_context().trace_flags.sampled
            raise ValueError("boom")
    got = samples(crosstrace.metrics_text())
    labels = {("service_name", "unsampled"), ("span_name", "work"), ("span_kind", "internal")}
    assert got[("traces_total", frozenset(labels | {("status", "error")}))] == 10
    health = crosstrace.get_tracing_health()
    assert health["spans_exported"] == 0 and health["spans_sampled_out"] == 10


def test_a_sampled_out_span_converts_only_the_attributes_its_metrics_use() -> None:
    """Sampled out, an internal span's attributes are dropped unread (not converted, not
    checked, as the SDK does not check them); a client span's still label its metrics."""
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            backend="none", sampling_rate=0.0, service_name="lazy", auto_instrument=False
        )
    )
    crosstrace.start_span("internal.work", {"unconvertible": object()}).end()
    client = crosstrace.start_span("call", {"peer.service": "inventory"}, kind="client")
    assert not client.sampled
    client.end()
    got = samples(crosstrace.metrics_text())
    labels = {
        ("service_name", "lazy"),
        ("span_name", "call"),
        ("span_kind", "client"),
        ("status", "unset"),
        ("target_service", "inventory"),
    }
    assert got[("traces_total", frozenset(labels))] == 1
    assert not any("its value was object" in w for w in crosstrace.get_tracing_health()["warnings"])
    # Sampled, the same attributes are converted (and the one of no OpenTelemetry type is left
    # out with a warning, as the SDK leaves it out).
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", service_name="lazy", auto_instrument=False)
    )
    crosstrace.start_span("internal.work", {"unconvertible": object()}).end()
    assert any("its value was object" in w for w in crosstrace.get_tracing_health()["warnings"])


def test_the_exposition_passes_promtools_lint() -> None:
    """The golden text every binding renders byte for byte (the shared span program's) passes
    ``promtool check metrics``: a CI job that lints ``/metrics`` accepts it."""
    out = subprocess.run(
        [promtool(), "check", "metrics"],
        input=GOLDEN,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
