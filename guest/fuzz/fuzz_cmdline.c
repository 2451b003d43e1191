/* libFuzzer: the kernel command line path of kiln-init end to end: split /proc/cmdline, take kiln.config,
 * decode base64url, parse and validate the configuration. Also checks that base64url decoding is the
 * exact inverse of encoding for whatever it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../base64url.h"
#include "../cmdline.h"
#include "../config.h"

static struct json_doc doc;
static struct kiln_config cfg;
static unsigned char dec[JSON_MAX_INPUT + 1];
static char enc[B64URL_ENCODED_LEN(JSON_MAX_INPUT + 1) + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* /proc/cmdline is a NUL-terminated string: cut at the first NUL. */
  char *line = malloc(size + 1);
  memcpy(line, data, size);
  line[size] = 0;
  size_t len = strlen(line);
  struct kiln_cmdline kc;
  cmdline_parse(line, &kc);
  if (kc.config) {
    size_t cl = strlen(kc.config), bad;
    if (kc.config < line || kc.config + cl > line + len) abort();
    long n = b64url_decode(kc.config, cl, dec, sizeof dec, &bad);
    if (n >= 0) {
      size_t el = b64url_encode(dec, (size_t)n, enc);
      if (el != cl || memcmp(enc, kc.config, cl)) abort();
      struct kiln_config_error e;
      config_init(&cfg);
      (void)config_load(&cfg, &doc, (const char *)dec, (size_t)n, &e);
    } else if (bad > cl) {
      abort();
    }
  }
  free(line);
  return 0;
}
