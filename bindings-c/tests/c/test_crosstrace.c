/*
 * Tests of libcrosstrace, written in C against the generated header. Run as
 *   test_crosstrace <path to tests/vectors>
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crosstrace.h"

static int passed = 0, failed = 0;
static const char *current_test = "";

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            passed++;                                                                          \
        } else {                                                                               \
            failed++;                                                                          \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n", current_test, __FILE__, __LINE__, #cond); \
        }                                                                                      \
    } while (0)

#define CHECK_RC(expr, want)                                                              \
    do {                                                                                  \
        ct_result rc_ = (expr);                                                           \
        if (rc_ == (want)) {                                                              \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            fprintf(stderr, "FAIL %s (%s:%d): %s returned %s, want %s; last error: %s\n", \
                    current_test, __FILE__, __LINE__, #expr, ct_result_name(rc_),         \
                    ct_result_name(want), ct_last_error() ? ct_last_error() : "(none)");  \
        }                                                                                 \
    } while (0)

static void init_with(const char *const *kv) {
    ct_config *cfg = ct_config_new();
    for (; kv[0] != NULL; kv += 2) ct_config_set(cfg, kv[0], kv[1]);
    ct_result rc = ct_init(cfg);
    if (rc != CT_OK) {
        fprintf(stderr, "init failed: %s\n", ct_last_error());
        exit(2);
    }
    ct_config_free(cfg);
}

static void init_none(void) {
    const char *kv[] = {"OTEL_BACKEND", "none", "OTEL_SERVICE_NAME", "c-tests", NULL};
    init_with(kv);
}

static cJSON *health(void) {
    char *json = NULL;
    if (ct_health_json(&json) != CT_OK) return NULL;
    cJSON *h = cJSON_Parse(json);
    ct_string_free(json);
    return h;
}

static double health_num(const char *field) {
    cJSON *h = health();
    double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, field));
    cJSON_Delete(h);
    return v;
}

/* ------------------------------------------------------------------------------------------ */

static void test_version_and_result_names(void) {
    current_test = "version";
    CHECK(strlen(ct_version()) > 0);
    CHECK(strcmp(ct_result_name(CT_ERR_CONFIG), "CT_ERR_CONFIG") == 0);
    CHECK(CT_ERR_CONFIG == 10 && CT_ERR_INVALID_ARGUMENT == 15 && CT_ERR_PANIC == 1);
    CHECK(strcmp(ct_result_name(CT_OK), "CT_OK") == 0);
    /* Any number has a name: one that is no result code (a gap, a code from a newer library,
     * garbage) gets a fixed one rather than undefined behaviour. */
    const ct_result unknown[] = {6, 9, 16, 99, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(strcmp(ct_result_name(unknown[i]), "CT_UNKNOWN_RESULT") == 0);
    }
}

static void test_bad_config_names_the_variable(void) {
    current_test = "bad config";
    ct_config *cfg = ct_config_new();
    CHECK_RC(ct_config_set(cfg, "OTEL_SAMPLING_RATE", "1.5"), CT_OK);
    CHECK_RC(ct_init(cfg), CT_ERR_CONFIG);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "OTEL_SAMPLING_RATE") != NULL);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "1.5") != NULL);
    CHECK_RC(ct_config_set(cfg, "NOT_A_VARIABLE", "x"), CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_config_set(cfg, NULL, "x"), CT_ERR_NULL_POINTER);
    CHECK_RC(ct_config_set(NULL, "OTEL_BACKEND", "none"), CT_ERR_NULL_POINTER);
    ct_config_free(cfg);
}

/* libcrosstrace is built with the core's optional encoders: a build without them would refuse
 * these backends at init. */
static void test_every_backend_sets_up(void) {
    current_test = "every backend";
    const char *backends[][2] = {{"jaeger", "http://127.0.0.1:14268/api/traces"},
                                 {"zipkin", "http://127.0.0.1:9411/api/v2/spans"},
                                 {"otlp", "http://127.0.0.1:4318/v1/traces"}};
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        ct_config *cfg = ct_config_new();
        CHECK_RC(ct_config_set(cfg, "OTEL_BACKEND", backends[i][0]), CT_OK);
        CHECK_RC(ct_config_set(cfg, "OTEL_EXPORTER_ENDPOINT", backends[i][1]), CT_OK);
        ct_result rc = ct_init(cfg);
        if (rc != CT_OK) fprintf(stderr, "%s: %s\n", backends[i][0], ct_last_error());
        CHECK_RC(rc, CT_OK);
        ct_config_free(cfg);
    }
    init_none();
}

static void test_bad_input_never_crashes(void) {
    current_test = "bad input";
    init_none();
    /* A panic inside the library becomes an error code; the process goes on. */
    CHECK_RC(ct_debug_panic(), CT_ERR_PANIC);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "panic") != NULL);
    ct_span *s = NULL;
    CHECK_RC(ct_span_start(NULL, CT_SPAN_KIND_INTERNAL, NULL, &s), CT_ERR_NULL_POINTER);
    CHECK(s == NULL); /* outputs are written only on success */
    CHECK_RC(ct_span_start("\xff\xfe", CT_SPAN_KIND_INTERNAL, NULL, &s), CT_ERR_INVALID_UTF8);
    CHECK_RC(ct_span_start("x", 99, NULL, &s), CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "kind") != NULL);
    CHECK_RC(ct_span_start("x", CT_SPAN_KIND_INTERNAL, NULL, NULL), CT_ERR_NULL_POINTER);
    CHECK_RC(ct_span_set_str(NULL, "k", "v"), CT_ERR_NULL_POINTER);
    CHECK_RC(ct_span_end(NULL), CT_ERR_NULL_POINTER);

    CHECK_RC(ct_span_start("ok", CT_SPAN_KIND_INTERNAL, NULL, &s), CT_OK);
    CHECK(ct_last_error() == NULL);
    CHECK_RC(ct_span_set_str(s, "k", "\xc3\x28"), CT_ERR_INVALID_UTF8);
    CHECK_RC(ct_span_set_status(s, 7, NULL), CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_span_end(s), CT_OK);
    CHECK_RC(ct_span_end(s), CT_ERR_SPAN_ENDED);
    CHECK_RC(ct_span_set_i64(s, "late", 1), CT_ERR_SPAN_ENDED);
    ct_span_free(s);
    CHECK_RC(ct_span_end(s), CT_ERR_INVALID_HANDLE); /* freed: detected, not a crash */
    ct_span_free(s);                                 /* double free: detected, ignored */
    ct_span_free(NULL);
    /* The slot of a freed span is reused at once; the old handle still refuses, and leaves the
     * new span alone, however many spans come later. */
    ct_span *stale = s, *reused = NULL;
    CHECK_RC(ct_span_start("reuses the slot", CT_SPAN_KIND_INTERNAL, NULL, &reused), CT_OK);
    CHECK_RC(ct_span_set_i64(stale, "k", 1), CT_ERR_INVALID_HANDLE);
    ct_span_free(stale);
    CHECK_RC(ct_span_set_i64(reused, "k", 1), CT_OK);
    ct_span_free(reused);
    int later_ok = 1;
    for (int i = 0; i < 5000; i++) {
        ct_span *t = NULL;
        later_ok &= ct_span_start("later", CT_SPAN_KIND_INTERNAL, NULL, &t) == CT_OK;
        ct_span_free(t);
    }
    CHECK(later_ok);
    CHECK_RC(ct_span_end(stale), CT_ERR_INVALID_HANDLE);
    char id[33];
    CHECK_RC(ct_span_trace_id(stale, id), CT_ERR_INVALID_HANDLE);
    /* Not a handle at all (memory of the caller's, a small number): refused, never read. */
    long not_a_span[8] = {0};
    CHECK_RC(ct_span_end((ct_span *)not_a_span), CT_ERR_INVALID_HANDLE);
    CHECK_RC(ct_span_set_i64((ct_span *)(uintptr_t)0x10, "k", 1), CT_ERR_INVALID_HANDLE);
    ct_span_free((ct_span *)not_a_span);
    ct_config_free(NULL);
    ct_context_free(NULL);
    ct_string_free(NULL);
    ct_lines_free(NULL, 0);

    ct_context *cx = NULL;
    CHECK_RC(ct_context_from_traceparent("00-garbage", &cx), CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_correlation_begin("has space", NULL, NULL), CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_correlation_end(), CT_ERR_INVALID_ARGUMENT); /* nothing to end */
    CHECK_RC(ct_span_exit(), CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_extract_headers(NULL, 3, &cx), CT_ERR_NULL_POINTER);
}

static void test_spans_ids_parents_and_health(void) {
    current_test = "spans";
    init_none();
    ct_span *root = NULL, *child = NULL, *db = NULL;
    CHECK_RC(ct_etl_span_start("bronze_ingestion", "bronze", NULL, &root), CT_OK);
    CHECK_RC(ct_span_set_etl_records(root, 10, 9, 1), CT_OK);
    CHECK_RC(ct_span_set_str(root, "source", "pos"), CT_OK);
    CHECK_RC(ct_span_set_f64(root, "ratio", 0.9), CT_OK);
    CHECK_RC(ct_span_set_bool(root, "full", 1), CT_OK);
    CHECK_RC(ct_span_add_event(root, "checkpoint"), CT_OK);
    CHECK_RC(ct_span_start("normalise", CT_SPAN_KIND_INTERNAL, root, &child), CT_OK);
    CHECK_RC(ct_db_span_start("sqlite", "INSERT", "silver_prices", child, &db), CT_OK);
    CHECK_RC(ct_span_set_db_rows(db, 9, 1), CT_OK);
    CHECK_RC(ct_span_record_error(child, "ValueError", "bad price", NULL), CT_OK);

    char t1[33], t2[33], t3[33], s1[17];
    CHECK_RC(ct_span_trace_id(root, t1), CT_OK);
    CHECK_RC(ct_span_trace_id(child, t2), CT_OK);
    CHECK_RC(ct_span_trace_id(db, t3), CT_OK);
    CHECK_RC(ct_span_span_id(root, s1), CT_OK);
    CHECK(strlen(t1) == 32 && strlen(s1) == 16);
    CHECK(strcmp(t1, t2) == 0 && strcmp(t1, t3) == 0);

    /* Attributes in one call; a bad attribute type is refused. */
    ct_attribute attrs[3] = {
        {"order.id", CT_ATTRIBUTE_INT, NULL, 7, 0},
        {"store", CT_ATTRIBUTE_STRING, "berlin-01", 0, 0},
        {"express", CT_ATTRIBUTE_BOOL, NULL, 1, 0},
    };
    ct_span *batch = NULL;
    CHECK_RC(
        ct_span_start_with_attributes("with attrs", CT_SPAN_KIND_INTERNAL, root, attrs, 3, &batch),
        CT_OK);
    ct_attribute bad[1] = {{"x", 9, NULL, 0, 0}};
    ct_span *none = NULL;
    CHECK_RC(ct_span_start_with_attributes("bad", CT_SPAN_KIND_INTERNAL, NULL, bad, 1, &none),
             CT_ERR_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_RC(ct_span_start_with_attributes("x", CT_SPAN_KIND_INTERNAL, NULL, NULL, 2, &none),
             CT_ERR_NULL_POINTER);
    ct_span_free(batch);

    /* The thread's current span is the parent of spans started with a NULL parent. */
    CHECK_RC(ct_span_enter(child), CT_OK);
    ct_span *inner = NULL;
    CHECK_RC(ct_span_start("inner", CT_SPAN_KIND_CLIENT, NULL, &inner), CT_OK);
    char t4[33];
    ct_span_trace_id(inner, t4);
    CHECK(strcmp(t1, t4) == 0);
    CHECK_RC(ct_span_exit(), CT_OK);
    ct_span *other = NULL;
    CHECK_RC(ct_span_start("other-root", CT_SPAN_KIND_INTERNAL, NULL, &other), CT_OK);
    char t5[33];
    ct_span_trace_id(other, t5);
    CHECK(strcmp(t1, t5) != 0);

    ct_span_free(inner);
    ct_span_free(other);
    ct_span_free(db);
    ct_span_free(child);
    ct_span_free(root);
    CHECK_RC(ct_force_flush(5000), CT_OK);
    CHECK(health_num("spans_ended") == 6);
    CHECK(health_num("spans_exported") == 6);
}

static void collect(void *userdata, const char *name, const char *value) {
    cJSON_AddStringToObject((cJSON *)userdata, name, value);
}

static const char *lookup(void *userdata, const char *name) {
    const cJSON *headers = (const cJSON *)userdata;
    const cJSON *item;
    cJSON_ArrayForEach(item, headers) {
        if (strcasecmp(item->string, name) == 0) return item->valuestring;
    }
    return NULL;
}

static void test_correlation_and_propagation(void) {
    current_test = "correlation";
    init_none();
    CHECK_RC(ct_correlation_begin("job-7", "u1", "nightly"), CT_OK);
    CHECK_RC(ct_correlation_set_field("job_id", "j-7"), CT_OK);
    char *id = NULL;
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id != NULL && strcmp(id, "job-7") == 0);
    ct_string_free(id);

    CHECK_RC(ct_correlation_begin(NULL, NULL, NULL), CT_OK); /* nested, generated UUID */
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id != NULL && strlen(id) == 36 && id[14] == '4');
    ct_string_free(id);
    CHECK_RC(ct_correlation_end(), CT_OK);
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id != NULL && strcmp(id, "job-7") == 0); /* the outer one is back */
    ct_string_free(id);

    ct_span *s = NULL;
    CHECK_RC(ct_span_start("call inventory", CT_SPAN_KIND_CLIENT, NULL, &s), CT_OK);
    cJSON *headers = cJSON_CreateObject();
    CHECK_RC(ct_inject(s, collect, headers), CT_OK);
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(headers, "traceparent");
    char tid[33], sid[17];
    ct_span_trace_id(s, tid);
    ct_span_span_id(s, sid);
    CHECK(cJSON_IsString(tp) && strstr(tp->valuestring, tid) && strstr(tp->valuestring, sid));
    const cJSON *xc = cJSON_GetObjectItemCaseSensitive(headers, "x-correlation-id");
    CHECK(cJSON_IsString(xc) && strcmp(xc->valuestring, "job-7") == 0);
    const cJSON *bg = cJSON_GetObjectItemCaseSensitive(headers, "baggage");
    CHECK(cJSON_IsString(bg) && strstr(bg->valuestring, "correlation.job_id=j-7"));

    /* Extract through the callback, the array and libcurl-style lines: same context. */
    ct_context *a = NULL, *b = NULL, *c = NULL;
    CHECK_RC(ct_extract(lookup, headers, &a), CT_OK);
    ct_header arr[1] = {{"TraceParent", tp->valuestring}};
    CHECK_RC(ct_extract_headers(arr, 1, &b), CT_OK);
    char **lines = NULL;
    size_t n = 0;
    /* A NULL out-parameter is refused before the lines are built (valgrind: nothing lost). */
    CHECK_RC(ct_inject_lines(s, NULL, &n), CT_ERR_NULL_POINTER);
    CHECK(strstr(ct_last_error(), "out_lines") != NULL);
    CHECK_RC(ct_inject_lines(s, &lines, &n), CT_OK);
    CHECK(n >= 4);
    CHECK_RC(ct_extract_lines((const char *const *)lines, n, &c), CT_OK);
    ct_lines_free(lines, n);
    ct_context *all[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        char *json = NULL;
        CHECK_RC(ct_context_to_json(all[i], &json), CT_OK);
        cJSON *j = cJSON_Parse(json);
        const cJSON *span = cJSON_GetObjectItemCaseSensitive(j, "span");
        CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(span, "trace_id")),
                     tid) == 0);
        CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(span, "span_id")),
                     sid) == 0);
        cJSON_Delete(j);
        ct_string_free(json);
    }
    /* A server span under the extracted context joins the trace. */
    ct_span *server = NULL;
    CHECK_RC(ct_span_start_from("GET /stock", CT_SPAN_KIND_SERVER, a, &server), CT_OK);
    char tid2[33];
    ct_span_trace_id(server, tid2);
    CHECK(strcmp(tid, tid2) == 0);
    ct_span_free(server);
    ct_context_free(a);
    ct_context_free(b);
    ct_context_free(c);
    cJSON_Delete(headers);
    ct_span_free(s);
    CHECK_RC(ct_correlation_end(), CT_OK);
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id == NULL);
}

/* A NULL out-parameter is refused before anything starts: no span is started, ended, exported
 * or counted, and the error names the parameter. */
static void test_null_out_span_starts_nothing(void) {
    current_test = "NULL out_span";
    init_none();
    uint32_t name = 0;
    CHECK_RC(ct_intern("ghost", &name), CT_OK);
    ct_attribute attrs[1] = {{"k", CT_ATTRIBUTE_INT, NULL, 1, 0}};
    ct_interned_attribute iattrs[1] = {{name, CT_ATTRIBUTE_INT, NULL, 1, 0}};
    ct_result rcs[6] = {
        ct_span_start("ghost", CT_SPAN_KIND_INTERNAL, NULL, NULL),
        ct_span_start_with_attributes("ghost", CT_SPAN_KIND_INTERNAL, NULL, attrs, 1, NULL),
        ct_span_start_interned(name, CT_SPAN_KIND_INTERNAL, NULL, iattrs, 1, NULL),
        ct_span_start_from("ghost", CT_SPAN_KIND_SERVER, NULL, NULL),
        ct_etl_span_start("ghost", "bronze", NULL, NULL),
        ct_db_span_start("postgresql", "DELETE", "users", NULL, NULL),
    };
    for (int i = 0; i < 6; i++) {
        CHECK_RC(rcs[i], CT_ERR_NULL_POINTER);
    }
    /* The last call's error (each call sets its own). */
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "out_span") != NULL);
    CHECK_RC(ct_span_start("ghost", CT_SPAN_KIND_INTERNAL, NULL, NULL), CT_ERR_NULL_POINTER);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "out_span is NULL") != NULL);
    CHECK_RC(ct_force_flush(5000), CT_OK);
    CHECK(health_num("spans_started") == 0);
    CHECK(health_num("spans_ended") == 0);
    CHECK(health_num("spans_exported") == 0);
}

/* A flush whose spans could not be exported says so (CT_ERR_EXPORT, with how many and why), as
 * health counts them: a caller that checks the flush before exiting learns they are lost. */
static void test_flush_reports_lost_spans(void) {
    current_test = "flush reports lost spans";
    /* A port nobody listens on: bound, then closed (connections are refused). */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
          getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/v1/traces", ntohs(a.sin_port));
    const char *kv[] = {"OTEL_BACKEND",
                        "otlp",
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                        endpoint,
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                        "http/protobuf",
                        "OTEL_EXPORTER_OTLP_TIMEOUT",
                        "1000",
                        "OTEL_LOG_LEVEL",
                        "off",
                        NULL};
    init_with(kv);
    ct_span *span = NULL;
    CHECK_RC(ct_span_start("lost", CT_SPAN_KIND_INTERNAL, NULL, &span), CT_OK);
    CHECK_RC(ct_span_end(span), CT_OK);
    CHECK_RC(ct_force_flush(20000), CT_ERR_EXPORT);
    CHECK(ct_last_error() != NULL &&
          strstr(ct_last_error(), "1 span could not be exported while flushing") != NULL);
    CHECK(health_num("spans_export_failed") == 1);
    /* Nothing queued, nothing failed: the next flush is fine. */
    CHECK_RC(ct_force_flush(20000), CT_OK);
}

/* An error about an attribute array names the entry (its index, and its key when readable). */
static void test_attribute_errors_name_the_entry(void) {
    current_test = "attribute array errors";
    init_none();
    ct_span *s = NULL;
    ct_attribute attrs[3] = {
        {"store", CT_ATTRIBUTE_STRING, "berlin-01", 0, 0},
        {"db.name", CT_ATTRIBUTE_STRING, NULL, 0, 0},
        {NULL, CT_ATTRIBUTE_INT, NULL, 1, 0},
    };
    CHECK_RC(ct_span_start_with_attributes("x", CT_SPAN_KIND_INTERNAL, NULL, attrs, 3, &s),
             CT_ERR_NULL_POINTER);
    CHECK(s == NULL);
    CHECK(ct_last_error() != NULL &&
          strstr(ct_last_error(), "attributes[1] (key \"db.name\"): string_value is NULL") != NULL);
    attrs[1].string_value = "orders";
    CHECK_RC(ct_span_start_with_attributes("x", CT_SPAN_KIND_INTERNAL, NULL, attrs, 3, &s),
             CT_ERR_NULL_POINTER);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "attributes[2]: key is NULL") != NULL);
    attrs[2].key = "retries";
    attrs[2].type = 9;
    CHECK_RC(ct_span_start_with_attributes("x", CT_SPAN_KIND_INTERNAL, NULL, attrs, 3, &s),
             CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "attributes[2] (key \"retries\")") &&
          strstr(ct_last_error(), "attribute type"));
    attrs[2].key = "\xff";
    CHECK_RC(ct_span_start_with_attributes("x", CT_SPAN_KIND_INTERNAL, NULL, attrs, 3, &s),
             CT_ERR_INVALID_UTF8);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "attributes[2]: key is not valid"));

    uint32_t store = 0;
    CHECK_RC(ct_intern("store", &store), CT_OK);
    ct_interned_attribute iattrs[2] = {
        {store, CT_ATTRIBUTE_INT, NULL, 1, 0},
        {store, CT_ATTRIBUTE_STRING, NULL, 0, 0},
    };
    CHECK_RC(ct_span_start_interned(store, CT_SPAN_KIND_INTERNAL, NULL, iattrs, 2, &s),
             CT_ERR_NULL_POINTER);
    CHECK(ct_last_error() != NULL &&
          strstr(ct_last_error(), "attributes[1] (key \"store\"): string_value is NULL") != NULL);
    iattrs[1].key = 0; /* never an id */
    CHECK_RC(ct_span_start_interned(store, CT_SPAN_KIND_INTERNAL, NULL, iattrs, 2, &s),
             CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "attributes[1]: ") &&
          strstr(ct_last_error(), "an id from ct_intern"));
    CHECK(s == NULL);
}

/* -1 is "unknown"; another negative count is a mistake, refused before anything is recorded. */
static void test_etl_records_refuse_negatives(void) {
    current_test = "etl records";
    init_none();
    ct_span *s = NULL;
    CHECK_RC(ct_etl_span_start("load", "silver", NULL, &s), CT_OK);
    CHECK_RC(ct_span_set_etl_records(s, -1, 3, -1), CT_OK);
    CHECK_RC(ct_span_set_etl_records(s, 10, -5, 0), CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "output") &&
          strstr(ct_last_error(), "-5") && strstr(ct_last_error(), "-1"));
    CHECK_RC(ct_span_set_etl_records(s, INT64_MIN, 0, 0), CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "input"));
    CHECK_RC(ct_span_set_etl_records(s, 0, 0, -2), CT_ERR_INVALID_ARGUMENT);
    CHECK(ct_last_error() != NULL && strstr(ct_last_error(), "rejected"));
    ct_span_free(s);
}

/* The baggage a span injects, or "" (a new string; free it). */
static char *baggage_of(const ct_span *s) {
    cJSON *headers = cJSON_CreateObject();
    ct_inject(s, collect, headers);
    const char *b = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(headers, "baggage"));
    char *out = strdup(b ? b : "");
    cJSON_Delete(headers);
    return out;
}

/* A span started with a NULL parent under the thread's current context; its baggage. */
static char *baggage_now(void) {
    ct_span *s = NULL;
    ct_span_start("probe", CT_SPAN_KIND_INTERNAL, NULL, &s);
    char *b = baggage_of(s);
    ct_span_free(s);
    return b;
}

/* A field set while a span is entered belongs to the correlation context, not to the span's
 * entry: it outlives ct_span_exit, until its correlation ends (and no further). */
static void test_correlation_field_survives_span_exit(void) {
    current_test = "correlation field after enter";
    init_none();
    CHECK_RC(ct_correlation_begin("outer-1", NULL, NULL), CT_OK);
    CHECK_RC(ct_correlation_begin("job-8", NULL, NULL), CT_OK);
    ct_span *job = NULL, *inside = NULL;
    CHECK_RC(ct_span_start("job", CT_SPAN_KIND_INTERNAL, NULL, &job), CT_OK);
    CHECK_RC(ct_span_enter(job), CT_OK);
    CHECK_RC(ct_correlation_set_field("job_id", "j-8"), CT_OK);

    /* While entered: children have the span as parent, and the field. */
    CHECK_RC(ct_span_start("inside", CT_SPAN_KIND_INTERNAL, NULL, &inside), CT_OK);
    char t1[33], t2[33];
    ct_span_trace_id(job, t1);
    ct_span_trace_id(inside, t2);
    CHECK(strcmp(t1, t2) == 0);
    char *b = baggage_of(inside);
    CHECK(strstr(b, "correlation.job_id=j-8") != NULL);
    free(b);
    ct_span_free(inside);

    /* After the exit: still in the correlation, the field still there. */
    CHECK_RC(ct_span_exit(), CT_OK);
    char *id = NULL;
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id != NULL && strcmp(id, "job-8") == 0);
    ct_string_free(id);
    b = baggage_now();
    CHECK(strstr(b, "correlation.job_id=j-8") != NULL);
    free(b);

    /* The correlation ended: the outer one never had the field. */
    CHECK_RC(ct_correlation_end(), CT_OK);
    CHECK_RC(ct_correlation_id(&id), CT_OK);
    CHECK(id != NULL && strcmp(id, "outer-1") == 0);
    ct_string_free(id);
    b = baggage_now();
    CHECK(strstr(b, "job_id") == NULL);
    free(b);
    CHECK_RC(ct_correlation_end(), CT_OK);
    CHECK_RC(ct_span_exit(), CT_ERR_INVALID_ARGUMENT); /* the stack is empty again */
    ct_span_free(job);
}

/* ct_config_to_json shows no credential: an endpoint's userinfo and sensitive query values, and
 * every export header's value, are REDACTED (as in the error messages). */
static void test_config_json_redacts_credentials(void) {
    current_test = "config JSON redacts";
    ct_config *cfg = ct_config_new();
    CHECK_RC(ct_config_set(cfg, "OTEL_BACKEND", "otlp"), CT_OK);
    CHECK_RC(ct_config_set(cfg, "OTEL_EXPORTER_ENDPOINT",
                           "http://user:hunter2@collector:4318/v1/traces?token=t0k3n&tenant=a"),
             CT_OK);
    CHECK_RC(ct_config_set(cfg, "OTEL_EXPORTER_OTLP_HEADERS",
                           "x-api-key=SECRET123,authorization=Bearer abc.def.ghi,x-tenant=t-7f3"),
             CT_OK);
    char *json = NULL;
    CHECK_RC(ct_config_to_json(cfg, &json), CT_OK);
    CHECK(json != NULL);
    if (json != NULL) {
        const char *secrets[] = {"hunter2", "user:", "t0k3n", "SECRET123", "abc.def.ghi", "t-7f3"};
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
            if (strstr(json, secrets[i]) != NULL) fprintf(stderr, "  shown: %s\n", secrets[i]);
            CHECK(strstr(json, secrets[i]) == NULL);
        }
        cJSON *j = cJSON_Parse(json);
        const char *endpoint =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "endpoint"));
        CHECK(endpoint != NULL &&
              strcmp(endpoint, "http://REDACTED:REDACTED@collector:4318/v1/traces?token=REDACTED"
                               "&tenant=a") == 0);
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(j, "headers");
        CHECK(cJSON_GetArraySize(headers) == 3);
        const char *names[] = {"x-api-key", "authorization", "x-tenant"};
        for (size_t i = 0; i < 3; i++) {
            const char *v =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(headers, names[i]));
            CHECK(v != NULL && strcmp(v, "REDACTED") == 0);
        }
        cJSON_Delete(j);
    }
    ct_string_free(json);
    ct_config_free(cfg);
}

#define THREADS 8
#define SPANS_PER_THREAD 2000

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < SPANS_PER_THREAD; i++) {
        ct_span *s = NULL;
        if (ct_span_start("work", CT_SPAN_KIND_INTERNAL, NULL, &s) != CT_OK) return (void *)1;
        ct_span_set_i64(s, "i", i);
        ct_span_set_str(s, "thread", "worker");
        ct_span_free(s);
    }
    return NULL;
}

/* Joins the THREADS threads; how many returned non-NULL (a failed call). */
static int join_all(pthread_t *t) {
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        if (r != NULL) errors++;
    }
    return errors;
}

static void test_threads(void) {
    current_test = "threads";
    const char *kv[] = {"OTEL_BACKEND", "none", "OTEL_BSP_MAX_QUEUE_SIZE", "100000", NULL};
    init_with(kv);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, NULL);
    CHECK(join_all(t) == 0);
    CHECK_RC(ct_force_flush(10000), CT_OK);
    CHECK(health_num("spans_ended") == THREADS * SPANS_PER_THREAD);
    CHECK(health_num("spans_exported") == THREADS * SPANS_PER_THREAD);
}

/* Spans started, given attributes and freed from a pthread-key destructor, which runs after
 * the thread's Rust thread-locals are gone: the library takes its slow paths (the instance by
 * its lock, slots from the shared list) and loses nothing. A second thread then reuses the
 * slots those spans gave back. Making a span current there is refused with an error (the
 * thread's context stack is gone), not a caught panic. */
static pthread_key_t exit_key;
static int exit_rc[3], exit_enter_rc, exit_correlation_rc, exit_exit_rc;

static void at_thread_exit(void *value) {
    (void)value;
    for (int i = 0; i < 3; i++) {
        ct_span *s = NULL;
        exit_rc[i] = ct_span_start("at.thread.exit", CT_SPAN_KIND_INTERNAL, NULL, &s);
        if (exit_rc[i] == CT_OK) exit_rc[i] = ct_span_set_i64(s, "i", i);
        if (i == 0) exit_enter_rc = ct_span_enter(s);
        ct_span_free(s);
    }
    exit_correlation_rc = ct_correlation_begin(NULL, NULL, "at.thread.exit");
    exit_exit_rc = ct_span_exit();
}

static void *exiting_worker(void *arg) {
    (void)arg;
    ct_span *s = NULL;
    if (ct_span_start("before.exit", CT_SPAN_KIND_INTERNAL, NULL, &s) != CT_OK) return (void *)1;
    /* (The thread's context stack is in use before it exits, so it is torn down by then.) */
    if (ct_span_enter(s) != CT_OK || ct_span_exit() != CT_OK) return (void *)1;
    ct_span_free(s);
    pthread_setspecific(exit_key, (void *)1);
    return NULL;
}

static void test_spans_at_thread_exit(void) {
    current_test = "spans at thread exit";
    init_none();
    CHECK(pthread_key_create(&exit_key, at_thread_exit) == 0);
    for (int round = 0; round < 2; round++) {
        memset(exit_rc, 0xff, sizeof exit_rc);
        pthread_t t;
        void *r = (void *)1;
        CHECK(pthread_create(&t, NULL, exiting_worker, NULL) == 0);
        pthread_join(t, &r);
        CHECK(r == NULL);
        for (int i = 0; i < 3; i++) CHECK_RC(exit_rc[i], CT_OK);
        CHECK_RC(exit_enter_rc, CT_ERR_INVALID_ARGUMENT);
        CHECK_RC(exit_correlation_rc, CT_ERR_INVALID_ARGUMENT);
        CHECK_RC(exit_exit_rc, CT_ERR_INVALID_ARGUMENT);
    }
    pthread_key_delete(exit_key);
    CHECK_RC(ct_force_flush(10000), CT_OK);
    CHECK(health_num("spans_ended") == 8);
    CHECK(health_num("spans_exported") == 8);
    CHECK_RC(ct_shutdown(5000, NULL), CT_OK);
}

/* Many spans live at once, started on one thread and freed on another (past that thread's own
 * list of free slots: half of them go to the shared list, the rest when it exits), then started
 * again on a third (which takes its slots from the shared list): every handle works, the freed
 * ones are refused. */
#define MANY_LIVE 700
static ct_span *many[MANY_LIVE];

static void *start_many(void *arg) {
    (void)arg;
    for (int i = 0; i < MANY_LIVE; i++) {
        many[i] = NULL;
        if (ct_span_start("many", CT_SPAN_KIND_INTERNAL, NULL, &many[i]) != CT_OK) return (void *)1;
    }
    return NULL;
}

static void *free_many(void *arg) {
    (void)arg;
    for (int i = 0; i < MANY_LIVE; i++) {
        if (ct_span_set_i64(many[i], "i", i) != CT_OK) return (void *)1;
        ct_span_free(many[i]);
    }
    return NULL;
}

static void test_many_live_spans(void) {
    current_test = "many live spans";
    init_none();
    ct_span *freed[MANY_LIVE];
    for (int round = 0; round < 2; round++) {
        pthread_t t;
        void *r = (void *)1;
        CHECK(pthread_create(&t, NULL, start_many, NULL) == 0);
        pthread_join(t, &r);
        CHECK(r == NULL);
        r = (void *)1;
        CHECK(pthread_create(&t, NULL, free_many, NULL) == 0);
        pthread_join(t, &r);
        CHECK(r == NULL);
        memcpy(freed, many, sizeof freed);
    }
    int refused = 0;
    for (int i = 0; i < MANY_LIVE; i++)
        refused += ct_span_set_i64(freed[i], "i", i) == CT_ERR_INVALID_HANDLE;
    CHECK(refused == MANY_LIVE);
    CHECK_RC(ct_force_flush(10000), CT_OK);
    CHECK(health_num("spans_ended") == 2 * MANY_LIVE);
    CHECK(health_num("spans_exported") == 2 * MANY_LIVE);
    CHECK_RC(ct_shutdown(5000, NULL), CT_OK);
}

/* One span, used by every thread at once: calls are serialised on the handle, none is lost
 * (each thread adds its own attributes, so the span's vector grows while they all call: without
 * the serialisation it is reallocated under another thread's write). */
#define SHARED_CALLS 1000

struct shared_arg {
    ct_span *span;
    int thread;
};

static void *shared_worker(void *arg) {
    struct shared_arg *a = arg;
    char key[32];
    for (int i = 0; i < SHARED_CALLS; i++) {
        snprintf(key, sizeof key, "t%d.k%d", a->thread, i);
        if (ct_span_set_i64(a->span, key, i) != CT_OK) return (void *)1;
        if (i % 8 == 0 && ct_span_add_event(a->span, "step") != CT_OK) return (void *)1;
    }
    return NULL;
}

static void test_one_span_many_threads(void) {
    current_test = "one_span_many_threads";
    const char *kv[] = {"OTEL_BACKEND", "none", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "65536", NULL};
    init_with(kv);
    ct_span *s = NULL;
    CHECK_RC(ct_span_start("shared", CT_SPAN_KIND_INTERNAL, NULL, &s), CT_OK);
    pthread_t t[THREADS];
    struct shared_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].span = s;
        args[i].thread = i;
        pthread_create(&t[i], NULL, shared_worker, &args[i]);
    }
    CHECK(join_all(t) == 0);
    ct_span_free(s);
    CHECK_RC(ct_force_flush(10000), CT_OK);
    /* 128 events are kept per span; every other one is counted as dropped. */
    CHECK(health_num("events_dropped") == THREADS * (SHARED_CALLS / 8) - 128);
    CHECK(health_num("attributes_dropped") == 0);
    CHECK(health_num("spans_exported") == 1);
}

/* ---------------------------------------------------------------- shared vectors */

static char *read_text(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) exit(2);
    buf[len] = 0;
    fclose(f);
    return buf;
}

static cJSON *load(const char *dir, const char *name) {
    char *buf = read_text(dir, name);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) {
        fprintf(stderr, "bad JSON in %s/%s\n", dir, name);
        exit(2);
    }
    return j;
}

/* Every key of `want` equals the same key of `got`. */
static int subset(const cJSON *want, const cJSON *got) {
    const cJSON *w;
    cJSON_ArrayForEach(w, want) {
        if (!cJSON_Compare(w, cJSON_GetObjectItemCaseSensitive(got, w->string), 1)) {
            fprintf(stderr, "  field %s differs\n", w->string);
            return 0;
        }
    }
    return 1;
}

static void test_config_vectors(const char *dir, const char *file) {
    current_test = file;
    cJSON *v = load(dir, file);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(v, "cases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        ct_config *cfg = ct_config_new();
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "env")) {
            ct_config_set(cfg, e->string, e->valuestring);
        }
        char *json = NULL;
        ct_result rc = ct_config_to_json(cfg, &json);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "expect");
        if (want) {
            /* ct_config_to_json shows the export headers' names, their values REDACTED. */
            cJSON *expect = cJSON_Duplicate(want, 1);
            cJSON *h;
            cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(expect, "headers")) {
                cJSON_SetValuestring(h, "REDACTED");
            }
            cJSON *got = rc == CT_OK ? cJSON_Parse(json) : NULL;
            int ok = got != NULL && subset(expect, got);
            if (!ok)
                fprintf(stderr, "  case %s: %s\n", name, ct_last_error() ? ct_last_error() : json);
            CHECK(ok);
            cJSON_Delete(got);
            cJSON_Delete(expect);
        } else {
            const cJSON *err = cJSON_GetObjectItemCaseSensitive(c, "error");
            const char *var =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "variable"));
            const char *bound =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "expected_contains"));
            int ok = rc == CT_ERR_CONFIG && ct_last_error() && strstr(ct_last_error(), var) &&
                     (bound == NULL || strstr(ct_last_error(), bound));
            if (!ok) fprintf(stderr, "  case %s: rc %s\n", name, ct_result_name(rc));
            CHECK(ok);
        }
        ct_string_free(json);
        ct_config_free(cfg);
    }
    cJSON_Delete(v);
}

static void init_propagators(const cJSON *props) {
    char list[256] = "";
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        if (list[0]) strcat(list, ",");
        strcat(list, p->valuestring);
    }
    const char *kv[] = {"OTEL_BACKEND", "none", "OTEL_PROPAGATORS", list[0] ? list : "none", NULL};
    init_with(kv);
}

static void test_extract_vectors(const char *dir) {
    current_test = "vectors: propagation_extract";
    cJSON *v = load(dir, "propagation_extract.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(v, "cases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        init_propagators(cJSON_GetObjectItemCaseSensitive(c, "propagators"));
        /* An object (each name once) or a list of [name, value] lines (a name may repeat). */
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(c, "headers");
        int n = cJSON_GetArraySize(headers);
        ct_header *arr = calloc((size_t)n + 1, sizeof *arr);
        char **lines = calloc((size_t)n + 1, sizeof *lines);
        int i = 0;
        const cJSON *h;
        cJSON_ArrayForEach(h, headers) {
            int pair = cJSON_IsArray(h);
            arr[i].name = pair ? cJSON_GetArrayItem(h, 0)->valuestring : h->string;
            arr[i].value = pair ? cJSON_GetArrayItem(h, 1)->valuestring : h->valuestring;
            /* The same headers as "name: value" lines, for ct_extract_lines. */
            size_t len = strlen(arr[i].name) + strlen(arr[i].value) + 3;
            lines[i] = malloc(len);
            snprintf(lines[i], len, "%s: %s", arr[i].name, arr[i].value);
            i++;
        }
        ct_context *cx = NULL;
        CHECK_RC(ct_extract_headers(arr, (size_t)n, &cx), CT_OK);
        ct_context *from_lines = NULL;
        CHECK_RC(ct_extract_lines((const char *const *)lines, (size_t)n, &from_lines), CT_OK);
        char *json_lines = NULL;
        ct_context_to_json(from_lines, &json_lines);
        free(arr);
        for (int j = 0; j < n; j++) free(lines[j]);
        free(lines);
        char *json = NULL;
        ct_context_to_json(cx, &json);
        cJSON *got = cJSON_Parse(json);
        const cJSON *expect = cJSON_GetObjectItemCaseSensitive(c, "expect");
        const cJSON *want_span = cJSON_GetObjectItemCaseSensitive(expect, "span");
        const cJSON *got_span = cJSON_GetObjectItemCaseSensitive(got, "span");
        int ok = cJSON_IsNull(want_span) ? cJSON_IsNull(got_span) : subset(want_span, got_span);
        const cJSON *bag = cJSON_GetObjectItemCaseSensitive(expect, "baggage");
        if (bag) ok = ok && cJSON_Compare(bag, cJSON_GetObjectItemCaseSensitive(got, "baggage"), 1);
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(expect, "baggage_count");
        if (count)
            ok = ok && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(got, "baggage")) ==
                           (int)cJSON_GetNumberValue(count);
        const cJSON *corr = cJSON_GetObjectItemCaseSensitive(expect, "correlation");
        if (corr)
            ok = ok && cJSON_Compare(corr, cJSON_GetObjectItemCaseSensitive(got, "correlation"), 1);
        if (!ok) fprintf(stderr, "  case %s: got %s\n", name, json);
        CHECK(ok);
        /* Lines give the very same context as pairs. */
        int same = json && json_lines && strcmp(json, json_lines) == 0;
        if (!same) fprintf(stderr, "  case %s: lines gave %s\n", name, json_lines);
        CHECK(same);
        cJSON_Delete(got);
        ct_string_free(json);
        ct_string_free(json_lines);
        ct_context_free(cx);
        ct_context_free(from_lines);
    }
    cJSON_Delete(v);
}

/* A span continuing extracted headers while the thread has another correlation open: the
 * headers' correlation, else none (tests/vectors/extracted_correlation.json). */
static void test_extracted_correlation_vectors(const char *dir) {
    current_test = "vectors: extracted_correlation";
    cJSON *v = load(dir, "extracted_correlation.json");
    init_none();
    const char *current =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "current_correlation_id"));
    CHECK_RC(ct_correlation_begin(current, NULL, NULL), CT_OK);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(v, "cases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(c, "headers");
        ct_context *cx = NULL;
        if (!cJSON_IsNull(headers)) {
            ct_header arr[8];
            size_t n = 0;
            const cJSON *h;
            cJSON_ArrayForEach(h, headers) {
                arr[n].name = h->string;
                arr[n].value = h->valuestring;
                n++;
            }
            CHECK_RC(ct_extract_headers(arr, n, &cx), CT_OK);
        }
        ct_span *span = NULL;
        CHECK_RC(ct_span_start_from("continued", CT_SPAN_KIND_SERVER, cx, &span), CT_OK);
        char trace[33];
        ct_span_trace_id(span, trace);
        const char *want_trace =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "expect_trace_id"));
        int ok = want_trace ? strcmp(trace, want_trace) == 0
                            : strcmp(trace, "4bf92f3577b34da6a3ce929d0e0e4736") != 0;
        char **lines = NULL;
        size_t n = 0;
        CHECK_RC(ct_inject_lines(span, &lines, &n), CT_OK);
        const char *got = NULL;
        const char *prefix = "x-correlation-id: ";
        for (size_t i = 0; i < n; i++)
            if (strncasecmp(lines[i], prefix, strlen(prefix)) == 0) got = lines[i] + strlen(prefix);
        const char *want =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "expect_correlation_id"));
        ok = ok && (want ? got != NULL && strcmp(got, want) == 0 : got == NULL);
        if (!ok)
            fprintf(stderr, "  case %s: trace %s, correlation %s\n", name, trace,
                    got ? got : "(none)");
        CHECK(ok);
        ct_lines_free(lines, n);
        ct_span_free(span);
        ct_context_free(cx);
    }
    CHECK_RC(ct_correlation_end(), CT_OK);
    cJSON_Delete(v);
}

static void test_inject_vectors(const char *dir) {
    current_test = "vectors: propagation_inject";
    cJSON *v = load(dir, "propagation_inject.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(v, "cases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        init_propagators(cJSON_GetObjectItemCaseSensitive(c, "propagators"));
        char *ctx_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "context"));
        ct_context *cx = NULL;
        CHECK_RC(ct_context_from_json(ctx_json, &cx), CT_OK);
        free(ctx_json);
        cJSON *headers = cJSON_CreateObject();
        CHECK_RC(ct_context_inject(cx, collect, headers), CT_OK);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "expect_headers");
        int ok = cJSON_GetArraySize(want) == cJSON_GetArraySize(headers) && subset(want, headers);
        if (!ok) {
            char *got = cJSON_PrintUnformatted(headers);
            fprintf(stderr, "  case %s: got %s\n", name, got);
            free(got);
        }
        CHECK(ok);
        cJSON_Delete(headers);
        ct_context_free(cx);
    }
    cJSON_Delete(v);
}

static void test_error_kind_vectors(const char *dir) {
    current_test = "vectors: error_kinds";
    cJSON *v = load(dir, "error_kinds.json");
    const cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(v, "kinds")) {
        ct_result code =
            (ct_result)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(k, "c_code"));
        char want[64] = "CT_ERR_";
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "kind"));
        for (size_t i = 0; kind[i] && i < 50; i++) {
            char ch = kind[i];
            want[7 + i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
            want[8 + i] = 0;
        }
        CHECK(strcmp(ct_result_name(code), want) == 0);
    }
    cJSON_Delete(v);
}

static ct_attribute attribute_of(const cJSON *a) {
    ct_attribute attr = {0};
    attr.key = a->string;
    if (cJSON_IsString(a)) {
        attr.type = CT_ATTRIBUTE_STRING;
        attr.string_value = a->valuestring;
    } else if (cJSON_IsBool(a)) {
        attr.type = CT_ATTRIBUTE_BOOL;
        attr.int_value = cJSON_IsTrue(a);
    } else {
        attr.type = CT_ATTRIBUTE_DOUBLE;
        attr.double_value = a->valuedouble;
    }
    return attr;
}

static uint32_t kind_of(const char *k) {
    if (strcmp(k, "server") == 0) return CT_SPAN_KIND_SERVER;
    if (strcmp(k, "client") == 0) return CT_SPAN_KIND_CLIENT;
    if (strcmp(k, "producer") == 0) return CT_SPAN_KIND_PRODUCER;
    if (strcmp(k, "consumer") == 0) return CT_SPAN_KIND_CONSUMER;
    return CT_SPAN_KIND_INTERNAL;
}

/* An interned copy of a ct_attribute (its key an id from ct_intern). */
static ct_interned_attribute interned_of(const ct_attribute *a) {
    ct_interned_attribute k = {0, a->type, a->string_value, a->int_value, a->double_value};
    CHECK_RC(ct_intern(a->key, &k.key), CT_OK);
    return k;
}

/* The shared span program (tests/vectors/metrics_program.json) through the C API; the span
 * metrics text must equal metrics_program.prom byte for byte, as in every other runtime. With
 * `interned`, names and keys go as ids from ct_intern (the _interned functions). */
static void test_metrics_program(const char *dir, int interned) {
    current_test = interned ? "vectors: metrics_program, interned" : "vectors: metrics_program";
    cJSON *p = load(dir, "metrics_program.json");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(p, "config");
    ct_config *cfg = ct_config_new();
    const cJSON *c;
    cJSON_ArrayForEach(c, config) {
        if (strcmp(c->string, "service_name") == 0) {
            ct_config_set(cfg, "OTEL_SERVICE_NAME", c->valuestring);
        } else if (strcmp(c->string, "backend") == 0) {
            ct_config_set(cfg, "OTEL_BACKEND", c->valuestring);
        } else if (strcmp(c->string, "metrics_buckets_ms") == 0) {
            char buckets[256] = "";
            const cJSON *b;
            cJSON_ArrayForEach(b, c) {
                char one[32];
                snprintf(one, sizeof one, "%s%g", buckets[0] ? "," : "", b->valuedouble);
                strncat(buckets, one, sizeof buckets - strlen(buckets) - 1);
            }
            ct_config_set(cfg, "CROSSTRACE_METRICS_BUCKETS_MS", buckets);
        } else {
            fprintf(stderr, "  metrics_program: config key %s has no C mapping\n", c->string);
            CHECK(0);
        }
    }
    CHECK_RC(ct_init(cfg), CT_OK);
    ct_config_free(cfg);

    uint64_t base_ns =
        (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "base_unix_ms")) *
        1000000u;
    ct_header tp = {"traceparent", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                       p, "unsampled_parent_traceparent"))};
    ct_context *unsampled = NULL;
    CHECK_RC(ct_extract_headers(&tp, 1, &unsampled), CT_OK);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(p, "spans")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "name"));
        uint32_t kind = kind_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "kind")));
        uint64_t start = base_ns + (uint64_t)cJSON_GetNumberValue(
                                       cJSON_GetObjectItemCaseSensitive(s, "start_ms")) *
                                       1000000u;
        uint64_t end = base_ns + (uint64_t)cJSON_GetNumberValue(
                                     cJSON_GetObjectItemCaseSensitive(s, "end_ms")) *
                                     1000000u;
        ct_attribute attrs[8];
        size_t n = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "attributes")) {
            if (n < 8) attrs[n++] = attribute_of(a);
        }
        ct_span *span = NULL;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "unsampled_parent"))) {
            /* Under an extracted context; the attributes follow (the program's are strings). */
            CHECK_RC(ct_span_start_from(name, kind, unsampled, &span), CT_OK);
            for (size_t i = 0; i < n; i++) {
                CHECK(attrs[i].type == CT_ATTRIBUTE_STRING);
                if (interned) {
                    ct_interned_attribute k = interned_of(&attrs[i]);
                    CHECK_RC(ct_span_set_str_interned(span, k.key, k.string_value), CT_OK);
                } else {
                    CHECK_RC(ct_span_set_str(span, attrs[i].key, attrs[i].string_value), CT_OK);
                }
            }
        } else if (interned) {
            uint32_t name_id = 0;
            CHECK_RC(ct_intern(name, &name_id), CT_OK);
            ct_interned_attribute keyed[8];
            for (size_t i = 0; i < n; i++) keyed[i] = interned_of(&attrs[i]);
            CHECK_RC(ct_span_start_interned(name_id, kind, NULL, keyed, n, &span), CT_OK);
        } else {
            CHECK_RC(ct_span_start_with_attributes(name, kind, NULL, attrs, n, &span), CT_OK);
        }
        CHECK_RC(ct_span_set_start_time(span, start), CT_OK);
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "attributes_after")) {
            if (interned) {
                uint32_t key = 0;
                CHECK_RC(ct_intern(a->string, &key), CT_OK);
                CHECK_RC(ct_span_set_str_interned(span, key, a->valuestring), CT_OK);
            } else {
                CHECK_RC(ct_span_set_str(span, a->string, a->valuestring), CT_OK);
            }
        }
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "status"));
        const char *description =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "description"));
        if (status && strcmp(status, "ok") == 0)
            CHECK_RC(ct_span_set_status(span, CT_STATUS_OK, NULL), CT_OK);
        if (status && strcmp(status, "error") == 0)
            CHECK_RC(ct_span_set_status(span, CT_STATUS_ERROR, description), CT_OK);
        CHECK_RC(ct_span_end_at(span, end), CT_OK);
        CHECK_RC(ct_span_end_at(span, end), CT_ERR_SPAN_ENDED);
        ct_span_free(span);
    }
    ct_context_free(unsampled);
    char *text = NULL;
    CHECK_RC(ct_metrics_text(&text), CT_OK);
    char *golden = read_text(dir, "metrics_program.prom");
    int same = text != NULL && strcmp(text, golden) == 0;
    if (!same)
        fprintf(stderr, "  metrics text differs from metrics_program.prom:\n%s\n",
                text ? text : "(null)");
    CHECK(same);
    free(golden);
    ct_string_free(text);
    cJSON_Delete(p);
}

/* Names and keys are looked up by the address C passes them at; a buffer reused for another
 * string (shorter, longer, same prefix) must give that string, not the one seen there before:
 * on the stack, and in the program's own writable data. */
static char static_buf[32];

static void reused_buffer(char *buf) {
    init_none();
    const char *names[] = {"reused.alpha", "reused.beta", "reused.alp", "reused.alphabet",
                           "reused.alpha"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        strcpy(buf, names[i]);
        ct_span *s = NULL;
        CHECK_RC(ct_span_start(buf, CT_SPAN_KIND_INTERNAL, NULL, &s), CT_OK);
        CHECK_RC(ct_span_set_i64(s, buf, 1), CT_OK);
        ct_span_free(s);
    }
    /* String values too: a client span's peer.service labels its metrics series. */
    const char *targets[] = {"svc.alpha", "svc.beta", "svc.alp", "svc.alpha"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        strcpy(buf, targets[i]);
        ct_span *s = NULL;
        CHECK_RC(ct_span_start("reused.call", CT_SPAN_KIND_CLIENT, NULL, &s), CT_OK);
        CHECK_RC(ct_span_set_str(s, "peer.service", buf), CT_OK);
        strcpy(buf, "overwritten after the call");
        ct_span_free(s);
    }
    /* A value seen again and again at one address is interned (after 8 sightings); the buffer
     * changing after that still gives the new value. */
    const char *again[] = {"svc.gamma", "svc.gamma", "svc.gamma", "svc.gamma", "svc.gamma",
                           "svc.gamma", "svc.gamma", "svc.gamma", "svc.gamma", "svc.gamma",
                           "svc.delta", "svc.gamma", "svc.gam"};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        strcpy(buf, again[i]);
        ct_span *s = NULL;
        CHECK_RC(ct_span_start("reused.call", CT_SPAN_KIND_CLIENT, NULL, &s), CT_OK);
        CHECK_RC(ct_span_set_str(s, "peer.service", buf), CT_OK);
        ct_span_free(s);
    }
    char *text = NULL;
    CHECK_RC(ct_metrics_text(&text), CT_OK);
    const char *want_targets[][2] = {{"svc.alpha", "2"},  {"svc.beta", "1"},  {"svc.alp", "1"},
                                     {"svc.gamma", "11"}, {"svc.delta", "1"}, {"svc.gam", "1"}};
    for (size_t i = 0; i < 6; i++) {
        char line[128];
        snprintf(line, sizeof line, "status=\"unset\",target_service=\"%s\"} %s\n",
                 want_targets[i][0], want_targets[i][1]);
        int found = text != NULL && strstr(text, line) != NULL;
        if (!found) fprintf(stderr, "  no line ending in: %s", line);
        CHECK(found);
    }
    const char *want[][2] = {
        {"reused.alpha", "2"}, {"reused.beta", "1"}, {"reused.alp", "1"}, {"reused.alphabet", "1"}};
    for (size_t i = 0; i < 4; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "span_name=\"%s\",span_kind=\"internal\",status=\"unset\"} %s\n", want[i][0],
                 want[i][1]);
        int found = text != NULL && strstr(text, line) != NULL;
        if (!found) fprintf(stderr, "  no line ending in: %s", line);
        CHECK(found);
    }
    ct_string_free(text);
    CHECK_RC(ct_shutdown(5000, NULL), CT_OK);
}

static void test_reused_name_buffer(void) {
    char buf[32];
    current_test = "a reused name buffer on the stack";
    reused_buffer(buf);
    current_test = "a reused name buffer in static data";
    reused_buffer(static_buf);
}

/* Interned names and keys: one id per string, usable from any thread; an id that ct_intern did
 * not hand out is refused with CT_ERR_INVALID_ARGUMENT and a message naming the argument. */
static uint32_t shared_key;

static void *interned_worker(void *arg) {
    (void)arg;
    uint32_t again = 0;
    int ok = ct_intern("interned.key", &again) == CT_OK && again == shared_key;
    ct_span *s = NULL;
    ok = ok && ct_span_start("interned-thread", CT_SPAN_KIND_INTERNAL, NULL, &s) == CT_OK;
    ok = ok && ct_span_set_i64_interned(s, shared_key, 1) == CT_OK;
    ct_span_free(s);
    return ok ? (void *)1 : NULL;
}

static void *interned_filler(void *arg) {
    (void)arg;
    char name[32];
    int ok = 1;
    for (int i = 0; i < 2100 && ok; i++) {
        ct_span *s = NULL;
        snprintf(name, sizeof name, "filler-%d", i);
        ok = ct_span_start(name, CT_SPAN_KIND_INTERNAL, NULL, &s) == CT_OK;
        ct_span_free(s);
    }
    uint32_t prev = 0;
    for (int i = 0; i < 1100 && ok; i++) {
        uint32_t id = 0;
        snprintf(name, sizeof name, "interned-%d", i);
        ok = ct_intern(name, &id) == CT_OK && id > prev;
        prev = id;
        ct_span *s = NULL;
        ok = ok && ct_span_start_interned(id, CT_SPAN_KIND_INTERNAL, NULL, NULL, 0, &s) == CT_OK;
        ct_span_free(s);
    }
    if (!ok)
        fprintf(stderr, "  interned_filler: %s\n", ct_last_error() ? ct_last_error() : "(none)");
    return ok ? (void *)1 : NULL;
}

static void test_interned_strings(void) {
    current_test = "interned strings";
    init_none();
    uint32_t a = 0, b = 0, c = 0, untouched = 77;
    CHECK_RC(ct_intern("interned.key", &a), CT_OK);
    CHECK_RC(ct_intern("interned.key", &b), CT_OK);
    CHECK_RC(ct_intern("interned.other", &c), CT_OK);
    CHECK(a != 0 && a == b && c != 0 && c != a);
    shared_key = a;
    CHECK_RC(ct_intern(NULL, &untouched), CT_ERR_NULL_POINTER);
    CHECK_RC(ct_intern("bad\xff", &untouched), CT_ERR_INVALID_UTF8);
    CHECK_RC(ct_intern("fine", NULL), CT_ERR_NULL_POINTER);
    char long_name[200];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    CHECK_RC(ct_intern(long_name, &untouched), CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "128 bytes") != NULL);
    CHECK(untouched == 77);
    /* The id after the last one handed out is in an allocated chunk but unassigned. */
    uint32_t last = 0;
    CHECK_RC(ct_intern("interned.last", &last), CT_OK);
    ct_span *unassigned = NULL;
    CHECK_RC(ct_span_start_interned(last + 1, CT_SPAN_KIND_INTERNAL, NULL, NULL, 0, &unassigned),
             CT_ERR_INVALID_ARGUMENT);
    CHECK(unassigned == NULL);

    ct_span *s = NULL, *none = NULL;
    const uint32_t bogus[] = {0, 999999, 0xffffffffu};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        CHECK_RC(ct_span_start_interned(bogus[i], CT_SPAN_KIND_INTERNAL, NULL, NULL, 0, &none),
                 CT_ERR_INVALID_ARGUMENT);
        CHECK(none == NULL && strstr(ct_last_error(), "name") &&
              strstr(ct_last_error(), "ct_intern"));
    }
    ct_interned_attribute attrs[2] = {
        {a, CT_ATTRIBUTE_INT, NULL, 5, 0},
        {c, CT_ATTRIBUTE_STRING, "value", 0, 0},
    };
    CHECK_RC(ct_span_start_interned(c, CT_SPAN_KIND_SERVER, NULL, attrs, 2, &s), CT_OK);
    attrs[1].key = 424242;
    CHECK_RC(ct_span_start_interned(c, CT_SPAN_KIND_INTERNAL, NULL, attrs, 2, &none),
             CT_ERR_INVALID_ARGUMENT);
    CHECK(none == NULL && strstr(ct_last_error(), "attributes[1]: invalid key=\"424242\""));
    attrs[1].key = c;
    attrs[1].type = 9;
    CHECK_RC(ct_span_start_interned(c, CT_SPAN_KIND_INTERNAL, NULL, attrs, 2, &none),
             CT_ERR_INVALID_ARGUMENT);
    CHECK_RC(ct_span_start_interned(c, CT_SPAN_KIND_INTERNAL, NULL, NULL, 1, &none),
             CT_ERR_NULL_POINTER);
    CHECK_RC(ct_span_start_interned(c, 42, NULL, NULL, 0, &none), CT_ERR_INVALID_ARGUMENT);
    CHECK(none == NULL);

    CHECK_RC(ct_span_set_str_interned(s, a, "text"), CT_OK);
    CHECK_RC(ct_span_set_f64_interned(s, a, 0.5), CT_OK);
    CHECK_RC(ct_span_set_bool_interned(s, c, 1), CT_OK);
    CHECK_RC(ct_span_set_i64_interned(s, 0, 1), CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "key") != NULL);
    CHECK_RC(ct_span_set_str_interned(s, a, NULL), CT_ERR_NULL_POINTER);

    /* A child under an interned-name parent is in its trace. */
    ct_span *child = NULL;
    CHECK_RC(ct_span_start_interned(a, CT_SPAN_KIND_INTERNAL, s, NULL, 0, &child), CT_OK);
    char t1[33], t2[33];
    CHECK_RC(ct_span_trace_id(s, t1), CT_OK);
    CHECK_RC(ct_span_trace_id(child, t2), CT_OK);
    CHECK(strcmp(t1, t2) == 0);
    ct_span_free(child);
    ct_span_free(s);
    CHECK_RC(ct_span_set_i64_interned(s, a, 1), CT_ERR_INVALID_HANDLE);

    pthread_t t[4];
    int ok = 1;
    for (int i = 0; i < 4; i++) ok = ok && pthread_create(&t[i], NULL, interned_worker, NULL) == 0;
    CHECK(ok);
    for (int i = 0; i < 4 && ok; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        ok = ok && r != NULL;
    }
    CHECK(ok);

    /* A thread whose own cache of names is full (2,048 distinct span names) still interns, and
     * more than a chunk (1,024) of ids come out distinct and resolve to their strings. */
    pthread_t filler;
    CHECK(pthread_create(&filler, NULL, interned_filler, NULL) == 0);
    void *r = NULL;
    pthread_join(filler, &r);
    CHECK(r != NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* A process that traces and then forks: each child draws its own ids, its export thread (the
 * console backend, into a file per child) sends its own spans and none of the parent's queued
 * ones, and its shutdown is prompt. */

#define FORK_CHILDREN 8
#define FORK_SPANS 1000

/* `n` root spans named `name`; their trace and span ids (48 hex digits each) written to out,
 * which has room for one more byte (the last id's terminating NUL). */
static void fork_spans(const char *name, int n, char *out) {
    for (int i = 0; i < n; i++) {
        ct_span *s = NULL;
        if (ct_span_start(name, CT_SPAN_KIND_INTERNAL, NULL, &s) != CT_OK) continue;
        ct_span_trace_id(s, out + (size_t)i * 48);
        ct_span_span_id(s, out + (size_t)i * 48 + 32);
        ct_span_free(s);
    }
}

static int cmp48(const void *a, const void *b) {
    return memcmp(a, b, 48);
}
static int cmp16(const void *a, const void *b) {
    return memcmp(a, b, 16);
}

/* Number of lines of `path` holding `needle`; -1 when unreadable. */
static int count_in_file(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child: spans, ids to the pipe, then its own checks; the exit status says which failed. */
static int fork_child(int fd, const char *log) {
    int log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log_fd < 0 || dup2(log_fd, 2) < 0) return 10;
    close(log_fd);
    char *ids = malloc((size_t)FORK_SPANS * 48 + 1);
    fork_spans("fork-child", FORK_SPANS, ids);
    ssize_t want = (ssize_t)FORK_SPANS * 48, off = 0;
    while (off < want) {
        ssize_t w = write(fd, ids + off, (size_t)(want - off));
        if (w <= 0) return 11;
        off += w;
    }
    free(ids);
    close(fd);
    if (ct_force_flush(10000) != CT_OK) return 12;
    if (health_num("spans_ended") != FORK_SPANS || health_num("spans_exported") != FORK_SPANS)
        return 13;
    double begin = now_s();
    uint64_t unsent = 1;
    if (ct_shutdown(10000, &unsent) != CT_OK || unsent != 0) return 14;
    if (now_s() - begin > 2.0) return 15;
    return 0;
}

static void test_fork(void) {
    current_test = "fork";
    char dir[] = "/tmp/crosstrace-fork-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char parent_log[64];
    snprintf(parent_log, sizeof parent_log, "%s/parent.log", dir);
    /* The parent's console output goes to a file for the length of the test (fd 2 only; the
     * checks below are made after it is back). */
    fflush(stderr);
    int saved = dup(2);
    int log_fd = open(parent_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(log_fd, 2);
    close(log_fd);
    const char *kv[] = {
        "OTEL_BACKEND", "console", "OTEL_SERVICE_NAME", "c-fork", "OTEL_BSP_SCHEDULE_DELAY",
        "60000",        NULL};
    init_with(kv);

    size_t total = (size_t)(FORK_CHILDREN + 1) * FORK_SPANS;
    char *all = malloc(total * 48 + 1);
    fork_spans("fork-parent", FORK_SPANS, all);
    ct_result flushed_before = ct_force_flush(5000);
    char queued[50 * 48 + 1];
    fork_spans("queued", 50, queued); /* still queued at the forks: the parent's to send */

    pid_t pids[FORK_CHILDREN];
    ssize_t got[FORK_CHILDREN];
    for (int c = 0; c < FORK_CHILDREN; c++) {
        int fds[2];
        got[c] = -1;
        pids[c] = -1;
        if (pipe(fds) != 0) continue;
        char log[64];
        snprintf(log, sizeof log, "%s/child-%d.log", dir, c);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(fork_child(fds[1], log));
        }
        pids[c] = pid;
        close(fds[1]);
        char *dst = all + ((size_t)(c + 1) * FORK_SPANS) * 48;
        ssize_t n = 0, r;
        while (n < (ssize_t)FORK_SPANS * 48 &&
               (r = read(fds[0], dst + n, (size_t)FORK_SPANS * 48 - (size_t)n)) > 0)
            n += r;
        close(fds[0]);
        got[c] = n;
    }
    int status[FORK_CHILDREN];
    for (int c = 0; c < FORK_CHILDREN; c++) {
        status[c] = -1;
        if (pids[c] > 0) waitpid(pids[c], &status[c], 0);
    }
    /* The parent still sends what it had queued (once: no child sent it). */
    ct_result flushed_after = ct_force_flush(5000);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    CHECK_RC(flushed_before, CT_OK);
    CHECK_RC(flushed_after, CT_OK);
    CHECK(count_in_file(parent_log, "queued [internal]") == 50);
    for (int c = 0; c < FORK_CHILDREN; c++) {
        CHECK(got[c] == (ssize_t)FORK_SPANS * 48);
        int ok = WIFEXITED(status[c]) && WEXITSTATUS(status[c]) == 0;
        CHECK(ok);
        if (!ok) fprintf(stderr, "child %d: status %#x (see fork_child)\n", c, status[c]);
        char log[64];
        snprintf(log, sizeof log, "%s/child-%d.log", dir, c);
        CHECK(count_in_file(log, "fork-child [internal]") == FORK_SPANS);
        CHECK(count_in_file(log, "queued [internal]") == 0);
        remove(log);
    }
    /* No trace id and no span id repeats among the parent's and the children's spans. */
    qsort(all, total, 48, cmp48);
    int repeated_trace = 0;
    for (size_t i = 1; i < total; i++)
        repeated_trace += memcmp(all + (i - 1) * 48, all + i * 48, 32) == 0;
    CHECK(repeated_trace == 0);
    for (size_t i = 0; i < total; i++) memmove(all + i * 16, all + i * 48 + 32, 16);
    qsort(all, total, 16, cmp16);
    int repeated_span = 0;
    for (size_t i = 1; i < total; i++)
        repeated_span += memcmp(all + (i - 1) * 16, all + i * 16, 16) == 0;
    CHECK(repeated_span == 0);
    free(all);
    remove(parent_log);
    rmdir(dir);
}

int main(int argc, char **argv) {
    const char *vectors = argc > 1 ? argv[1] : "tests/vectors";
    /* A second argument runs only the fork test ("fork") or all but it ("no-fork"): under
     * valgrind the fork test runs on its own, with the suppression of fork-child.supp. */
    const char *only = argc > 2 ? argv[2] : "";
    if (strcmp(only, "fork") == 0) {
        test_fork();
        printf("%d passed, %d failed\n", passed, failed);
        return failed == 0 ? 0 : 1;
    }
    test_version_and_result_names();
    test_bad_config_names_the_variable();
    test_every_backend_sets_up();
    test_reused_name_buffer();
    test_bad_input_never_crashes();
    test_spans_ids_parents_and_health();
    test_correlation_and_propagation();
    test_null_out_span_starts_nothing();
    test_flush_reports_lost_spans();
    test_attribute_errors_name_the_entry();
    test_etl_records_refuse_negatives();
    test_correlation_field_survives_span_exit();
    test_config_json_redacts_credentials();
    test_threads();
    test_spans_at_thread_exit();
    test_many_live_spans();
    test_one_span_many_threads();
    test_config_vectors(vectors, "config_env.json");
    test_config_vectors(vectors, "config_bounds.json");
    test_extract_vectors(vectors);
    test_inject_vectors(vectors);
    test_extracted_correlation_vectors(vectors);
    test_error_kind_vectors(vectors);
    test_metrics_program(vectors, 0);
    test_metrics_program(vectors, 1);
    test_interned_strings();
    if (strcmp(only, "no-fork") != 0) test_fork();
    init_none();
    uint64_t unsent = 0;
    CHECK_RC(ct_shutdown(5000, &unsent), CT_OK);
    CHECK(unsent == 0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
