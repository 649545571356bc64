/*
 * The price-normalisation component of the retail pipeline: a shared library built on
 * libcrosstrace. Callers (the Python ETL job, through ctypes) pass their propagation headers so
 * its spans join their trace.
 */
#ifndef PRICE_NORMALISE_H
#define PRICE_NORMALISE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Converts `n` prices in `currency` (EUR, USD, GBP) to euro cents, rounding half up, into
 * `out_cents`. Negative or non-finite prices are rejected: their output is -1.
 * `header_lines` are `n_lines` "name: value" propagation headers (traceparent, baggage, ...);
 * NULL/0 starts under the thread's current context. Returns the number of rejected prices, or
 * -1 if the arguments are invalid (an unknown currency, NULL arrays).
 */
long pn_normalise_prices(const char *const *header_lines, size_t n_lines, const char *currency,
                         const double *prices, size_t n, long *out_cents);

#ifdef __cplusplus
}
#endif

#endif
