"""crosstrace's propagation as OpenTelemetry ``TextMapPropagator``s. While crosstrace is set up,
``CrosstracePropagator`` is the OpenTelemetry API's global propagator, so the official
instrumentations inject what crosstrace's configured propagators write. The API looks up the
names in OTEL_PROPAGATORS when it is imported, among installed entry points: crosstrace registers
``b3``, ``b3multi`` and ``jaeger``, each the propagator of that one format (as the
opentelemetry-propagator-b3 and -jaeger packages' are), for a process whose tracer provider is
another SDK's. This module imports the rest of crosstrace only when used."""

from __future__ import annotations

from typing import Any, cast

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags


def _ignores_case(getter: Getter[CarrierT], carrier: CarrierT, names: list[str]) -> bool:
    """Whether ``getter`` matches header names ignoring case: it answers a spelling the carrier
    does not list as it answers one it does."""
    probe = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(names[0]))
    if probe in names:
        probe = probe.swapcase()
    if probe in names:
        return False
    return getter.get(carrier, probe) == getter.get(carrier, names[0])


# The baggage an extraction also put in the OpenTelemetry API's baggage (key to value): an
# entry no longer there was removed through the API (``remove_baggage``, ``clear``), one with
# another value there was changed through it.
_MIRRORED_KEY = otel_context.create_key("crosstrace-mirrored-baggage")


def _with_mirrored_baggage(
    ctx: otel_context.Context, received: list[tuple[str, str]]
) -> otel_context.Context:
    """``ctx`` with the baggage received in the OpenTelemetry API's baggage, noted as such (see
    ``_MIRRORED_KEY``)."""
    for key, value in received:
        ctx = otel_baggage.set_baggage(key, value, ctx)
    return otel_context.set_value(_MIRRORED_KEY, dict(received), ctx)


def _with_api_baggage(context: otel_context.Context | None) -> Any:
    """crosstrace's context of ``context`` with the OpenTelemetry API's baggage in it
    (``opentelemetry.baggage.set_baggage``), whichever changed an entry since it was extracted:
    an entry set or changed through the API replaces crosstrace's, an extracted entry removed
    through the API is left out, and one crosstrace set or changed since stays."""
    from ._api import _context_of

    ctx = context if context is not None else otel_context.get_current()
    cx = _context_of(ctx)
    api = otel_baggage.get_all(ctx)
    mirrored = cast(dict[str, str], ctx.get(_MIRRORED_KEY) or {})
    if not api and not mirrored:
        return cx
    entries = []
    for k, v in cx.baggage():
        extracted = mirrored.get(k)
        if k in api and (extracted is None or str(api[k]) != extracted):
            entries.append((k, str(api[k])))  # set or changed through the API
        elif k not in api and v == extracted:
            continue  # extracted, then removed through the API
        else:
            entries.append((k, v))  # crosstrace's own, or changed by crosstrace since
    held = {k for k, _ in cx.baggage()}
    entries.extend((k, str(v)) for k, v in api.items() if k not in held)
    return cx.with_baggage(entries)


class _Propagator(TextMapPropagator):
    """Extraction into crosstrace's context, through the core, of the headers ``_reads``
    takes."""

    #: One format of a composite: a carrier without its headers leaves the context as it was.
    #: (crosstrace's own propagator reads every format: it sets crosstrace's context always.)
    _ONE_OF_SEVERAL = False

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        from ._api import _CX_KEY, _otel_trace_state

        lines = self._lines(carrier, getter)
        if not lines and self._ONE_OF_SEVERAL:
            # Nothing of this format: what an earlier propagator of a composite
            # (OTEL_PROPAGATORS=jaeger,b3) extracted stays.
            return context if context is not None else otel_context.get_current()
        cx = self._extract_lines(lines)
        ctx = otel_context.set_value(_CX_KEY, cx, context)
        # The baggage received, also where the OpenTelemetry API reads it
        # (`opentelemetry.baggage.get_all`), as its own baggage propagator leaves it.
        received = cx.baggage()
        if received:
            ctx = _with_mirrored_baggage(ctx, received)
        if cx.trace_id and cx.span_id:
            remote = SpanContext(
                int(cx.trace_id, 16),
                int(cx.span_id, 16),
                True,
                TraceFlags(cx.trace_flags),
                _otel_trace_state(cx.tracestate),
            )
            ctx = otel_trace.set_span_in_context(NonRecordingSpan(remote), ctx)
        return ctx

    def _extract_lines(self, lines: list[tuple[str, str]]) -> Any:
        """A crosstrace context from the lines read: through the configured propagators."""
        from . import _native

        return _native.extract(lines)

    def _reads(self, name: str) -> bool:
        """Whether extraction reads the header ``name`` (lowercase): every one, here."""
        return True

    def _named(self) -> list[str]:
        """The headers extraction reads, by name: asked of the getter when its ``keys`` does
        not list them (the Celery and pika instrumentations' getters list no key at all)."""
        from . import _native

        return _native.extraction_fields()

    def _lines(self, carrier: CarrierT, getter: Getter[CarrierT]) -> list[tuple[str, str]]:
        """Every line of every header ``_reads`` takes. The getter returns a list per name; a
        name may be listed once per line (the ASGI getter) and in several cases. A
        case-insensitive getter gives every line for each spelling (asked once); a
        case-sensitive one gives each spelling's own (all asked)."""
        spellings: dict[str, list[str]] = {}
        for name in getter.keys(carrier):
            names = spellings.setdefault(name.lower(), [])
            if name not in names:
                names.append(name)
        headers: list[tuple[str, str]] = []
        for lower, names in spellings.items():
            if not self._reads(lower):
                continue
            if len(names) > 1 and _ignores_case(getter, carrier, names):
                names = names[:1]
            for name in names:
                headers.extend((name, value) for value in getter.get(carrier, name) or ())
        for name in self._named():
            if name not in spellings:
                headers.extend((name, value) for value in getter.get(carrier, name) or ())
        return headers


class CrosstracePropagator(_Propagator):
    """Injects what crosstrace's configured propagators write — tracecontext, baggage, b3,
    jaeger, and X-Correlation-ID — from crosstrace's context; extracts into it."""

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        from . import _native

        for name, value in _native.inject(_with_api_baggage(context)):
            setter.set(carrier, name, value)

    @property
    def fields(self) -> set[str]:
        from . import _native

        return set(_native.propagation_fields())


class _OneFormat(_Propagator):
    """The propagator of one format, registered under its name (``OTEL_PROPAGATORS``): the
    core's propagator of that format, whatever crosstrace's configured ones. It writes that
    format only, from crosstrace's context or another SDK's current span, and reads that format
    only."""

    _ONE_OF_SEVERAL = True
    #: The format, as OTEL_PROPAGATORS names it.
    FORMAT = ""
    #: The headers it reads: names, lowercase.
    READS: frozenset[str] = frozenset()

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        from . import _native

        for name, value in _native.inject_format(_with_api_baggage(context), self.FORMAT):
            setter.set(carrier, name, value)

    def _extract_lines(self, lines: list[tuple[str, str]]) -> Any:
        from . import _native

        return _native.extract_format(lines, self.FORMAT)

    def _reads(self, name: str) -> bool:
        return name in self.READS

    def _named(self) -> list[str]:
        return sorted(self.READS)

    @property
    def fields(self) -> set[str]:
        return set(self.READS)


class B3Propagator(_OneFormat):
    """``b3``: the single ``b3`` header. Reads the single header, else the ``X-B3-*`` ones (as
    OpenTelemetry's B3 propagators do)."""

    FORMAT = "b3"
    READS = frozenset({"b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"})

    @property
    def fields(self) -> set[str]:
        return {"b3"}


class B3MultiPropagator(B3Propagator):
    """``b3multi``: the ``X-B3-TraceId``, ``X-B3-SpanId`` and ``X-B3-Sampled`` headers
    (``X-B3-Flags: 1`` for debug, which implies sampled)."""

    FORMAT = "b3multi"

    @property
    def fields(self) -> set[str]:
        return {"x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"}


class JaegerPropagator(_OneFormat):
    """``jaeger``: ``uber-trace-id`` and the baggage (the correlation's entries included, as
    crosstrace's baggage carries them) as ``uberctx-*`` headers."""

    FORMAT = "jaeger"
    READS = frozenset({"uber-trace-id"})

    def _reads(self, name: str) -> bool:
        return name in self.READS or name.startswith("uberctx-")
