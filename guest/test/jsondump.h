/* Test-only: write a parsed document back as compact JSON (strings re-escaped, numbers verbatim), so tests
 * and fuzzers can check that parse(dump(parse(x))) gives the same document. */
#ifndef KILN_JSONDUMP_H
#define KILN_JSONDUMP_H

#include <stddef.h>

#include "../json.h"

/* Returns the length written (out NUL-terminated), or -1 when cap is too small. */
long json_dump(const struct json_doc *d, char *out, size_t cap);

#endif
