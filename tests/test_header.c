/* test_header.c - relp.h compiles on its own as C99 (and as C++, from
 * the copy CMake makes of it, test_header.cpp) with -Wall -Wextra -pedantic; a few declarations are used
 * so the linker sees them. */
#include "relp.h"

#include <stdio.h>

int main(void) {
    struct relp_load_params lp = relp_load_default_params();
    struct relp_ctx_params cp = relp_ctx_default_params();
    printf("%s %d %d %d\n", relp_status_str(RELP_STATUS_OK), (int)lp.weight_dtype, cp.max_batch,
           relp_rules_preset("relp") != NULL);
    struct relp_figure *fig = relp_figure_init(); /* FIGURES */
    const int drawn = fig && relp_figure_draw_json(fig, "{\"kind\":\"nothing\"}", 18, NULL, 0) == RELP_STATUS_BAD_ARGUMENT;
    relp_figure_free(fig);
    return relp_rules_preset("grad") && drawn ? 0 : 1;
}
