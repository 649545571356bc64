/*
 * A C component of the pipeline: joins the trace whose traceparent it is given and runs one
 * ETL step under it, in the given correlation context.
 *
 *   traced_job <traceparent> <correlation-id>
 *
 * Configured by the OTEL_* environment like every other crosstrace runtime. Prints
 * "trace_id span_id" of its top span on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "crosstrace.h"

static int fail(const char *what) {
    fprintf(stderr, "traced_job: %s: %s\n", what, ct_last_error() ? ct_last_error() : "?");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <traceparent> <correlation-id>\n", argv[0]);
        return 2;
    }
    if (ct_init_from_env() != CT_OK) return fail("init");
    ct_context *caller = NULL, *parent = NULL;
    if (ct_context_from_traceparent(argv[1], &caller) != CT_OK) return fail("traceparent");
    /* A span continuing a caller takes its correlation from the context it is given, never
     * from the thread: the job's correlation goes on that context. */
    if (ct_context_with_correlation(caller, argv[2], NULL, "price_refresh", &parent) != CT_OK)
        return fail("correlation");

    ct_span *job = NULL, *step = NULL, *db = NULL;
    if (ct_span_start_from("c_price_job", CT_SPAN_KIND_SERVER, parent, &job) != CT_OK)
        return fail("span");
    ct_span_set_str(job, "component", "c");
    ct_etl_span_start("price_refresh", "silver", job, &step);
    ct_span_set_etl_records(step, 3, 3, 0);
    ct_db_span_start("postgresql", "UPDATE", "silver_prices", step, &db);
    ct_span_set_db_rows(db, 3, 1);

    char trace_id[33], span_id[17];
    ct_span_trace_id(job, trace_id);
    ct_span_span_id(job, span_id);
    ct_span_free(db);
    ct_span_free(step);
    ct_span_free(job);
    ct_context_free(parent);
    ct_context_free(caller);

    uint64_t unsent = 0;
    if (ct_shutdown(10000, &unsent) != CT_OK || unsent != 0) return fail("shutdown");
    char *health = NULL;
    ct_health_json(&health);
    fprintf(stderr, "%s\n", health);
    ct_string_free(health);
    printf("%s %s\n", trace_id, span_id);
    return 0;
}
