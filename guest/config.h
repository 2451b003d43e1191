/* kiln-init's boot configuration, schema version 1: validated from parsed JSON into fixed-size structs.
 *
 * Several sources are merged in order, later wins, top-level key by top-level key; "env" merges by
 * variable name. Strings point into the json_doc they came from, so every doc passed to config_merge()
 * must outlive the config. Every error names the key path (rc[0].bin) and what is wrong with it. */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stdint.h>

#include "json.h"

/* The host makes every check of config.c and json.c before it boots anything, with these limits
 * (GUEST_LIMITS in src/manifest/bootConfig.ts; test/e2e/guest-config-parity.test.ts holds the two equal):
 * a limit or a check changed here changes there too. */
#define KILN_CONFIG_VERSION 1
#define KILN_MAX_RC 16
#define KILN_MAX_ARGS 64
#define KILN_MAX_ENV 128
#define KILN_MAX_NET 8
#define KILN_MAX_DNS 4
#define KILN_MAX_BLK 8
#define KILN_MAX_SYSCTL 64
#define KILN_MAX_ROUTES 32
#define KILN_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define KILN_READY_TIMEOUT_MS 30000
#define KILN_READY_TIMEOUT_MAX_MS 3600000
/* uid and gid: 2^32-1 is (uid_t)-1, which setuid(2) takes for "no change". */
#define KILN_ID_MAX 4294967294LL

/* rc entries run in array order: setup to completion, bg started (and awaited when it has `ready`); main
 * starts last, after every other entry, wherever it stands. */
enum kiln_mode { KILN_MAIN, KILN_BG, KILN_SETUP };

struct kiln_rc {
  const char *bin;
  const char *argv[KILN_MAX_ARGS + 1]; /* NULL-terminated */
  int argc;
  enum kiln_mode mode;
  const char *ready;    /* bg only: an absolute path that exists once the program is ready, or NULL */
  int ready_timeout_ms; /* how long to wait for `ready` */
  int xen_dm;           /* "argv_xen_dm": libxl's device model arguments follow argv (at most one entry) */
  int64_t uid, gid;     /* run as this user and group; -1: as root (gid defaults to uid) */
};

/* IPv4 addresses in host byte order. */
struct kiln_net {
  const char *ifname;
  int has_addr;
  int dhcp; /* address, netmask, router, DNS and MTU from a DHCP server; "dns" and "mtu" given here win */
  uint32_t addr;
  int prefix;
  int has_gw;
  uint32_t gw;
  uint32_t dns[KILN_MAX_DNS];
  int n_dns;
  int mtu; /* 0: leave as is */
};

struct kiln_blk {
  const char *dev; /* name under /dev */
  const char *fs;
  const char *mount;
  int ro;
  int cache; /* 9p: let the guest cache names and data (cache=loose): fast, blind to the host's changes */
};

struct kiln_route {
  uint32_t dst;
  int prefix;
  uint32_t via;
};

struct kiln_kv {
  const char *key;
  const char *value;
};

struct kiln_config {
  const char *hostname; /* NULL: leave the kernel's */
  const char *cwd;
  struct kiln_kv env[KILN_MAX_ENV];
  int n_env;
  struct kiln_rc rc[KILN_MAX_RC];
  int n_rc;
  struct kiln_net net[KILN_MAX_NET];
  int n_net;
  struct kiln_blk blk[KILN_MAX_BLK];
  int n_blk;
  struct kiln_kv sysctl[KILN_MAX_SYSCTL];
  int n_sysctl;
  struct kiln_route routes[KILN_MAX_ROUTES];
  int n_routes;
};

struct kiln_config_error {
  char path[JSON_PATH_MAX]; /* e.g. rc[0].bin; empty for the document as a whole */
  char msg[256];
};

/* Defaults: no hostname, cwd "/", env PATH=/bin:/usr/bin:/sbin:/usr/sbin and HOME=/, nothing else. */
void config_init(struct kiln_config *c);

/* Validate a parsed document and merge it over c. Returns 0, or -1 with err filled (c is then partly
 * merged and must not be used: a config error stops the boot). */
int config_merge(struct kiln_config *c, const struct json_doc *doc, struct kiln_config_error *err);

/* Parse text into doc, then config_merge(). JSON syntax errors come back as config errors too. */
int config_load(struct kiln_config *c, struct json_doc *doc, const char *text, size_t len,
                struct kiln_config_error *err);

/* The main program (at most one), or NULL. */
const struct kiln_rc *config_main(const struct kiln_config *c);

/* File systems mounted without a device: `dev` is only the source name shown in /proc/mounts. */
int config_pseudo_fs(const char *fs);

/* Parsers shared with the tests: strict dotted quad (no leading zeros) and a.b.c.d/n. Return 0 or -1. */
int config_parse_ipv4(const char *s, uint32_t *out);
int config_parse_cidr(const char *s, uint32_t *addr, int *prefix);

#endif
