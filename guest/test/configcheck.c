/* What kiln-init's config_load() makes of each file named on the command line, one line per file: "ok", or
 * the key path and the message of its refusal, tab-separated. The host repeats these checks before it boots
 * anything (src/manifest/bootConfig.ts); test/e2e/guest-config-parity.test.ts holds the two to each other. */
#include <stdio.h>

#include "../config.h"

static struct json_doc doc;
static struct kiln_config cfg;
static char buf[JSON_MAX_INPUT + 1];

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) return 2;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct kiln_config_error e;
    config_init(&cfg);
    /* init.c's read_file(): a source that fills the whole buffer is larger than kiln-init reads. */
    if (n == sizeof buf) printf("\tlarger than %d bytes\n", JSON_MAX_INPUT);
    else if (config_load(&cfg, &doc, buf, n, &e)) printf("%s\t%s\n", e.path, e.msg);
    else puts("ok");
  }
  return 0;
}
