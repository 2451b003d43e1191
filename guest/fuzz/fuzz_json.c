/* libFuzzer: the JSON parser never reads out of bounds, and whatever it accepts dumps to JSON that parses
 * to the same dump (so escapes, UTF-8 and numbers decode consistently). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "../test/jsondump.h"

static struct json_doc doc, doc2;
static char out1[JSON_MAX_INPUT * 8], out2[JSON_MAX_INPUT * 8];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct json_error e;
  /* An exact-size heap copy, so ASan sees any read past the end. */
  char *in = malloc(size ? size : 1);
  if (size) memcpy(in, data, size);
  int r = json_parse(&doc, in, size, &e);
  free(in);
  if (r) {
    if (!e.msg || e.offset > size) abort();
    return 0;
  }
  if (doc.n_nodes < 1 || doc.str_len > size + 1) abort();
  long n = json_dump(&doc, out1, sizeof out1);
  if (n < 0) abort();
  if (json_parse(&doc2, out1, (size_t)n, &e)) abort();
  long n2 = json_dump(&doc2, out2, sizeof out2);
  if (n2 != n || memcmp(out1, out2, (size_t)n)) abort();
  if (doc2.n_nodes != doc.n_nodes) abort();
  return 0;
}
