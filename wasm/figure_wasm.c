/* figure_wasm.c - the figure module (relp_figure.js/.wasm): relp's figures
 * (relp.h, FIGURES: core/figure*.c) for the page's main thread and for Node,
 * without the engine. Its exports are relp.h's own figure functions, taken
 * as they are (they pass only pointers, sizes and ints; see
 * wasm/CMakeLists.txt); wasm/relp.mjs loadFigures wraps them. This file only
 * names the module's source: it is linked with --no-entry, there is nothing
 * to run. */
#include "relp.h"
