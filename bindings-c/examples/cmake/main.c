#include <stdio.h>

#include "crosstrace.h"

int main(void) {
    if (ct_init_from_env() != CT_OK) {
        fprintf(stderr, "init: %s\n", ct_last_error());
        return 1;
    }
    ct_span *span = NULL;
    ct_span_start("hello from cmake", CT_SPAN_KIND_INTERNAL, NULL, &span);
    ct_span_set_str(span, "greeting", "hello");
    ct_span_free(span);
    ct_shutdown(5000, NULL);
    printf("crosstrace %s\n", ct_version());
    return 0;
}
