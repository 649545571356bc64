/* The C side of the benchmark: the same span as the Rust side, through the C API. */
#include "crosstrace.h"

/* The name and keys as ids from ct_intern (ctbench_init). */
static uint32_t checkout, order_id, store, express;

/* `n` spans named "checkout" with 3 attributes: one call per attribute (mode 0), all at start
 * in one call (mode 1), and the same two with the name and keys interned (modes 2 and 3); mode
 * 4 is mode 0 with one-letter keys ("s", "i", "b": literals a compiler stores 2 bytes apart).
 * Returns the number of calls that failed. */
long ctbench_spans(long n, int mode) {
    static const ct_attribute attrs[3] = {
        {"order.id", CT_ATTRIBUTE_INT, 0, 12345, 0},
        {"store", CT_ATTRIBUTE_STRING, "berlin-01", 0, 0},
        {"express", CT_ATTRIBUTE_BOOL, 0, 1, 0},
    };
    const ct_interned_attribute keyed[3] = {
        {order_id, CT_ATTRIBUTE_INT, 0, 12345, 0},
        {store, CT_ATTRIBUTE_STRING, "berlin-01", 0, 0},
        {express, CT_ATTRIBUTE_BOOL, 0, 1, 0},
    };
    long failed = 0;
    for (long i = 0; i < n; i++) {
        ct_span *s = 0;
        if (mode == 0) {
            failed += ct_span_start("checkout", CT_SPAN_KIND_INTERNAL, 0, &s) != CT_OK;
            failed += ct_span_set_i64(s, "order.id", 12345) != CT_OK;
            failed += ct_span_set_str(s, "store", "berlin-01") != CT_OK;
            failed += ct_span_set_bool(s, "express", 1) != CT_OK;
        } else if (mode == 1) {
            failed += ct_span_start_with_attributes("checkout", CT_SPAN_KIND_INTERNAL, 0, attrs, 3,
                                                    &s) != CT_OK;
        } else if (mode == 2) {
            failed += ct_span_start_interned(checkout, CT_SPAN_KIND_INTERNAL, 0, 0, 0, &s) != CT_OK;
            failed += ct_span_set_i64_interned(s, order_id, 12345) != CT_OK;
            failed += ct_span_set_str_interned(s, store, "berlin-01") != CT_OK;
            failed += ct_span_set_bool_interned(s, express, 1) != CT_OK;
        } else if (mode == 3) {
            failed +=
                ct_span_start_interned(checkout, CT_SPAN_KIND_INTERNAL, 0, keyed, 3, &s) != CT_OK;
        } else {
            failed += ct_span_start("checkout", CT_SPAN_KIND_INTERNAL, 0, &s) != CT_OK;
            failed += ct_span_set_str(s, "s", "berlin-01") != CT_OK;
            failed += ct_span_set_i64(s, "i", 12345) != CT_OK;
            failed += ct_span_set_bool(s, "b", 1) != CT_OK;
        }
        ct_span_free(s);
    }
    return failed;
}

/* Initialises the C library as the Rust side is configured: no exporter (spans still go
 * through the batch processor), a queue big enough that nothing is dropped. */
int ctbench_init(void) {
    ct_config *cfg = ct_config_new();
    ct_config_set(cfg, "OTEL_BACKEND", "none");
    ct_config_set(cfg, "OTEL_BSP_MAX_QUEUE_SIZE", "262144");
    ct_config_set(cfg, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512");
    int rc = ct_init(cfg);
    ct_config_free(cfg);
    if (rc == CT_OK) rc = ct_intern("checkout", &checkout);
    if (rc == CT_OK) rc = ct_intern("order.id", &order_id);
    if (rc == CT_OK) rc = ct_intern("store", &store);
    if (rc == CT_OK) rc = ct_intern("express", &express);
    return rc;
}

int ctbench_flush(void) {
    return ct_force_flush(60000);
}
