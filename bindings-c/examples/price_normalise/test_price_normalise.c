/* Checks the price-normalisation component: results, rejections and that its span joins the
 * caller's trace. Prints "N passed, N failed". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crosstrace.h"
#include "price_normalise.h"

static int passed = 0, failed = 0;
#define CHECK(c) ((c) ? passed++ : (failed++, fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #c)))

int main(void) {
    ct_config *cfg = ct_config_new();
    ct_config_set(cfg, "OTEL_BACKEND", "none");
    CHECK(ct_init(cfg) == CT_OK);
    ct_config_free(cfg);

    double prices[4] = {1.00, 2.345, -1.0, NAN};
    long cents[4] = {0};
    const char *lines[1] = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    CHECK(pn_normalise_prices(lines, 1, "USD", prices, 4, cents) == 2);
    CHECK(cents[0] == 92 && cents[1] == 216 && cents[2] == -1 && cents[3] == -1);
    CHECK(pn_normalise_prices(NULL, 0, "XYZ", prices, 4, cents) == -1);
    CHECK(pn_normalise_prices(NULL, 0, "EUR", NULL, 4, cents) == -1);
    CHECK(pn_normalise_prices(NULL, 0, "EUR", NULL, 0, NULL) == 0);
    CHECK(ct_force_flush(5000) == CT_OK);
    char *health = NULL;
    ct_health_json(&health);
    CHECK(strstr(health, "\"spans_ended\":4") != NULL);
    ct_string_free(health);
    CHECK(ct_shutdown(5000, NULL) == CT_OK);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
