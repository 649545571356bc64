#include "price_normalise.h"

#include <math.h>
#include <string.h>

#include "crosstrace.h"

static double rate_to_eur(const char *currency) {
    if (currency == NULL) return -1;
    if (strcmp(currency, "EUR") == 0) return 1.0;
    if (strcmp(currency, "USD") == 0) return 0.92;
    if (strcmp(currency, "GBP") == 0) return 1.17;
    return -1;
}

long pn_normalise_prices(const char *const *header_lines, size_t n_lines, const char *currency,
                         const double *prices, size_t n, long *out_cents) {
    ct_context *parent = NULL;
    ct_span *span = NULL;
    if (n_lines > 0 && ct_extract_lines(header_lines, n_lines, &parent) == CT_OK) {
        ct_span_start_from("normalise_prices", CT_SPAN_KIND_INTERNAL, parent, &span);
    } else {
        ct_span_start("normalise_prices", CT_SPAN_KIND_INTERNAL, NULL, &span);
    }
    ct_span_set_str(span, "component", "price_normalise");
    ct_span_set_str(span, "currency", currency ? currency : "");
    ct_span_set_i64(span, "etl.records.input", (int64_t)n);

    double rate = rate_to_eur(currency);
    if (rate < 0 || (n > 0 && (prices == NULL || out_cents == NULL))) {
        ct_span_record_error(span, "ValueError", "unknown currency or missing arrays", NULL);
        ct_span_free(span);
        ct_context_free(parent);
        return -1;
    }
    long rejected = 0;
    for (size_t i = 0; i < n; i++) {
        double p = prices[i];
        if (!isfinite(p) || p < 0) {
            out_cents[i] = -1;
            rejected++;
            continue;
        }
        out_cents[i] = (long)floor(p * rate * 100.0 + 0.5);
    }
    ct_span_set_i64(span, "etl.records.output", (int64_t)(n - (size_t)rejected));
    ct_span_set_i64(span, "etl.records.rejected", rejected);
    if (rejected > 0) ct_span_add_event(span, "prices_rejected");
    ct_span_set_status(span, CT_STATUS_OK, NULL);
    ct_span_free(span);
    ct_context_free(parent);
    return rejected;
}
