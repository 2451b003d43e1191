/* libFuzzer: configuration validation over arbitrary JSON. Accepted configs hold only sane values (what
 * init.c relies on without checking again); rejected ones name a path and a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../config.h"

static struct json_doc doc;
static struct kiln_config cfg;

static void sane_string(const char *s) {
  if (!s) abort();
  (void)strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct kiln_config_error e;
  char *in = malloc(size ? size : 1);
  if (size) memcpy(in, data, size);
  config_init(&cfg);
  int r = config_load(&cfg, &doc, in, size, &e);
  free(in);
  if (r) {
    if (!e.msg[0] || memchr(e.path, 0, sizeof e.path) == NULL) abort();
    return 0;
  }
  if (cfg.n_rc > KILN_MAX_RC || cfg.n_env > KILN_MAX_ENV || cfg.n_net > KILN_MAX_NET || cfg.n_blk > KILN_MAX_BLK ||
      cfg.n_sysctl > KILN_MAX_SYSCTL || cfg.n_routes > KILN_MAX_ROUTES)
    abort();
  int mains = 0;
  for (int i = 0; i < cfg.n_rc; i++) {
    const struct kiln_rc *rc = &cfg.rc[i];
    if (rc->bin[0] != '/' || rc->argc < 1 || rc->argc > KILN_MAX_ARGS || rc->argv[rc->argc]) abort();
    for (int j = 0; j < rc->argc; j++) sane_string(rc->argv[j]);
    mains += rc->mode == KILN_MAIN;
  }
  if (mains > 1) abort();
  for (int i = 0; i < cfg.n_env; i++)
    if (!cfg.env[i].key[0] || strchr(cfg.env[i].key, '=')) abort();
  for (int i = 0; i < cfg.n_net; i++) {
    const struct kiln_net *n = &cfg.net[i];
    if (!n->ifname[0] || strlen(n->ifname) > KILN_IFNAME_MAX || n->prefix < 0 || n->prefix > 32) abort();
    if (n->n_dns > KILN_MAX_DNS || (n->mtu && (n->mtu < 68 || n->mtu > 65535))) abort();
  }
  for (int i = 0; i < cfg.n_blk; i++)
    if (strchr(cfg.blk[i].dev, '/') || cfg.blk[i].mount[0] != '/' || !cfg.blk[i].fs[0]) abort();
  for (int i = 0; i < cfg.n_sysctl; i++)
    if (strstr(cfg.sysctl[i].key, "..") && strchr(cfg.sysctl[i].key, '/') == NULL) abort();
  if (cfg.hostname && strlen(cfg.hostname) > 64) abort();
  if (cfg.cwd[0] != '/') abort();
  return 0;
}
