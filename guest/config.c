/* Every check in this file is repeated on the host, in the same order and words, by bootConfigProblem() in
 * src/manifest/bootConfig.ts, so that bake and launch refuse what would stop the boot here; a check changed
 * here changes there too (test/e2e/guest-config-parity.test.ts compares the two on a corpus). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct ctx {
  const struct json_doc *d;
  struct kiln_config_error *err;
  char path[JSON_PATH_MAX];
};

static int bad(struct ctx *x, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->err->msg, sizeof x->err->msg, fmt, ap);
  va_end(ap);
  memcpy(x->err->path, x->path, sizeof x->path);
  return -1;
}

static size_t push_key(struct ctx *x, const char *k, size_t l) {
  size_t saved = strlen(x->path);
  json_path_key(x->path, sizeof x->path, k, l);
  return saved;
}
static size_t push_index(struct ctx *x, uint32_t i) {
  size_t saved = strlen(x->path);
  json_path_index(x->path, sizeof x->path, i);
  return saved;
}
static void pop(struct ctx *x, size_t saved) { x->path[saved] = 0; }

/* A value quoted for a message. Rotates through a few buffers so one message can quote twice. */
static const char *qv(const char *s, size_t l) {
  static char bufs[3][72];
  static int k;
  k = (k + 1) % 3;
  return json_quote(bufs[k], sizeof bufs[k], s, l);
}
static const char *qs(const char *s) { return qv(s, strlen(s)); }

static const char *kind(const struct json_node *n) {
  if (n->type == JSON_TRUE || n->type == JSON_FALSE) return "a boolean";
  return json_type_name(n->type);
}

static int want(struct ctx *x, const struct json_node *n, int type, const char *what) {
  int ok = type == JSON_TRUE ? (n->type == JSON_TRUE || n->type == JSON_FALSE) : n->type == type;
  if (!ok) return bad(x, "must be %s, not %s", what, kind(n));
  return 0;
}

static int get_string(struct ctx *x, const struct json_node *n, const char **out) {
  if (want(x, n, JSON_STRING, "a string")) return -1;
  const char *s = json_str(x->d, n);
  if (strlen(s) != n->len) return bad(x, "must not contain a NUL character (\\u0000)");
  *out = s;
  return 0;
}

static int get_nonempty(struct ctx *x, const struct json_node *n, const char **out) {
  if (get_string(x, n, out)) return -1;
  if (!**out) return bad(x, "must not be empty");
  return 0;
}

static int get_abs_path(struct ctx *x, const struct json_node *n, const char **out) {
  if (get_string(x, n, out)) return -1;
  const char *s = *out;
  size_t l = strlen(s);
  if (s[0] != '/') return bad(x, "%s is not an absolute path (it must start with \"/\")", qs(s));
  if (l > 4095) return bad(x, "path is longer than 4095 bytes");
  return 0;
}

/* Walk the members of object n, reporting any key not in `known`. */
static int check_keys(struct ctx *x, const struct json_node *n, const char *const *known, const char *list) {
  for (const struct json_node *m = json_first(x->d, n); m; m = json_next(x->d, m)) {
    int ok = 0;
    for (const char *const *k = known; *k && !ok; k++)
      ok = m->key_len == strlen(*k) && !memcmp(json_key(x->d, m), *k, m->key_len);
    if (!ok) {
      size_t s = push_key(x, json_key(x->d, m), m->key_len);
      int r = bad(x, "unknown key (known keys here: %s)", list);
      pop(x, s);
      return r;
    }
  }
  return 0;
}

int config_parse_ipv4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int part = 0; part < 4; part++) {
    if (part) {
      if (*s != '.') return -1;
      s++;
    }
    if (*s < '0' || *s > '9') return -1;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9') return -1; /* leading zero: octal to some parsers */
    unsigned n = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
      n = n * 10 + (unsigned)(*s++ - '0');
      if (++digits > 3 || n > 255) return -1;
    }
    v = v << 8 | n;
  }
  if (*s) return -1;
  *out = v;
  return 0;
}

int config_parse_cidr(const char *s, uint32_t *addr, int *prefix) {
  const char *slash = strchr(s, '/');
  char a[16];
  if (!slash || slash - s > 15) return -1;
  memcpy(a, s, (size_t)(slash - s));
  a[slash - s] = 0;
  if (config_parse_ipv4(a, addr)) return -1;
  const char *p = slash + 1;
  if (*p < '0' || *p > '9' || (*p == '0' && p[1])) return -1;
  int n = 0;
  while (*p >= '0' && *p <= '9') {
    n = n * 10 + (*p++ - '0');
    if (n > 32) return -1;
  }
  if (*p) return -1;
  *prefix = n;
  return 0;
}

static uint32_t mask_of(int prefix) { return prefix ? 0xffffffffu << (32 - prefix) : 0; }

static int get_ipv4(struct ctx *x, const struct json_node *n, uint32_t *out) {
  const char *s;
  if (get_string(x, n, &s)) return -1;
  if (config_parse_ipv4(s, out)) return bad(x, "%s is not an IPv4 address like \"10.0.2.2\"", qs(s));
  return 0;
}

static int get_cidr(struct ctx *x, const struct json_node *n, uint32_t *addr, int *prefix) {
  const char *s;
  if (get_string(x, n, &s)) return -1;
  if (config_parse_cidr(s, addr, prefix))
    return bad(x, "%s is not an IPv4 address with a prefix length like \"10.0.2.15/24\"", qs(s));
  return 0;
}

/* Decimal integer in [lo, hi]. */
static int get_int(struct ctx *x, const struct json_node *n, int64_t lo, int64_t hi, int64_t *out) {
  if (want(x, n, JSON_NUMBER, "an integer")) return -1;
  if (json_int(x->d, n, out) || *out < lo || *out > hi)
    return bad(x, "must be an integer from %lld to %lld, not %s", (long long)lo, (long long)hi,
               json_str(x->d, n));
  return 0;
}

static int load_version(struct ctx *x, const struct json_node *root) {
  const struct json_node *v = json_get(x->d, root, "v");
  size_t s = push_key(x, "v", 1);
  int64_t n;
  if (!v) return bad(x, "is missing: a boot configuration starts with {\"v\":1");
  if (v->type != JSON_NUMBER || json_int(x->d, v, &n))
    return bad(x, "must be the integer %d, not %s", KILN_CONFIG_VERSION,
               v->type == JSON_NUMBER ? json_str(x->d, v) : kind(v));
  if (n != KILN_CONFIG_VERSION)
    return bad(x, "unsupported version %lld: this kiln-init reads version %d (use a matching kiln)", (long long)n,
               KILN_CONFIG_VERSION);
  pop(x, s);
  return 0;
}

static int load_hostname(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  const char *s;
  if (get_nonempty(x, n, &s)) return -1;
  size_t l = strlen(s);
  if (l > 64) return bad(x, "%s is longer than 64 bytes", qs(s));
  for (size_t i = 0; i < l; i++) {
    char ch = s[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
             ch == '.';
    if (!ok || (i == 0 && (ch == '-' || ch == '.')))
      return bad(x, "%s is not a host name (letters, digits, '-' and '.')", qs(s));
  }
  c->hostname = s;
  return 0;
}

static int load_env(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  if (want(x, n, JSON_OBJECT, "an object of strings")) return -1;
  for (const struct json_node *m = json_first(x->d, n); m; m = json_next(x->d, m)) {
    const char *k = json_key(x->d, m);
    size_t s = push_key(x, k, m->key_len);
    const char *v;
    if (!m->key_len) return bad(x, "a variable name must not be empty");
    if (strlen(k) != m->key_len) return bad(x, "a variable name must not contain a NUL character");
    if (strchr(k, '=')) return bad(x, "a variable name must not contain '='");
    if (get_string(x, m, &v)) return -1;
    int i = 0;
    while (i < c->n_env && strcmp(c->env[i].key, k)) i++;
    if (i == c->n_env) {
      if (c->n_env == KILN_MAX_ENV) return bad(x, "too many variables (limit %d)", KILN_MAX_ENV);
      c->n_env++;
    }
    c->env[i] = (struct kiln_kv){k, v};
    pop(x, s);
  }
  return 0;
}

static int load_rc(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  static const char *const known[] = {"bin", "argv", "mode", "ready", "ready_timeout_ms", "argv_xen_dm",
                                      "uid", "gid", NULL};
  if (want(x, n, JSON_ARRAY, "an array of programs")) return -1;
  if (n->len > KILN_MAX_RC) return bad(x, "too many programs (limit %d)", KILN_MAX_RC);
  c->n_rc = 0;
  int main_at = -1, dm_at = -1;
  uint32_t i = 0;
  for (const struct json_node *e = json_first(x->d, n); e; e = json_next(x->d, e), i++) {
    size_t s = push_index(x, i);
    struct kiln_rc *r = &c->rc[c->n_rc];
    memset(r, 0, sizeof *r);
    if (want(x, e, JSON_OBJECT, "an object like {\"bin\":\"/bin/prog\"}")) return -1;
    if (check_keys(x, e, known, "bin, argv, mode, ready, ready_timeout_ms, argv_xen_dm, uid, gid")) return -1;
    const struct json_node *bin = json_get(x->d, e, "bin");
    const struct json_node *argv = json_get(x->d, e, "argv");
    const struct json_node *mode = json_get(x->d, e, "mode");
    const struct json_node *ready = json_get(x->d, e, "ready");
    const struct json_node *timeout = json_get(x->d, e, "ready_timeout_ms");
    const struct json_node *dm = json_get(x->d, e, "argv_xen_dm");
    const struct json_node *uid = json_get(x->d, e, "uid");
    const struct json_node *gid = json_get(x->d, e, "gid");
    size_t s2 = push_key(x, "bin", 3);
    if (!bin) return bad(x, "is missing: name the program's absolute path in the image");
    if (get_abs_path(x, bin, &r->bin)) return -1;
    size_t bl = strlen(r->bin);
    if (r->bin[bl - 1] == '/') return bad(x, "%s names a directory, not a program", qs(r->bin));
    pop(x, s2);
    if (argv) {
      s2 = push_key(x, "argv", 4);
      if (want(x, argv, JSON_ARRAY, "an array of strings")) return -1;
      if (!argv->len) return bad(x, "must not be empty: argv[0] is the program's name");
      if (argv->len > KILN_MAX_ARGS) return bad(x, "too many arguments (limit %d)", KILN_MAX_ARGS);
      uint32_t j = 0;
      for (const struct json_node *a = json_first(x->d, argv); a; a = json_next(x->d, a), j++) {
        size_t s3 = push_index(x, j);
        if (get_string(x, a, &r->argv[j])) return -1;
        pop(x, s3);
      }
      r->argc = (int)j;
      pop(x, s2);
    } else {
      r->argv[0] = strrchr(r->bin, '/') + 1;
      r->argc = 1;
    }
    r->argv[r->argc] = NULL;
    r->mode = KILN_MAIN;
    if (mode) {
      const char *m;
      s2 = push_key(x, "mode", 4);
      if (get_string(x, mode, &m)) return -1;
      if (!strcmp(m, "bg")) r->mode = KILN_BG;
      else if (!strcmp(m, "setup")) r->mode = KILN_SETUP;
      else if (strcmp(m, "main")) return bad(x, "%s is not a mode: use \"main\", \"bg\" or \"setup\"", qs(m));
      pop(x, s2);
    }
    if (r->mode == KILN_MAIN) {
      if (main_at >= 0) {
        s2 = push_key(x, "mode", 4);
        return bad(x, "a second main program (rc[%d] is main; \"main\" is the default): set \"mode\":\"bg\"",
                   main_at);
      }
      main_at = (int)i;
    }
    if (ready) {
      s2 = push_key(x, "ready", 5);
      if (r->mode != KILN_BG)
        return bad(x, "is for \"bg\" programs only (a setup program is awaited until it exits; main starts last)");
      if (get_abs_path(x, ready, &r->ready)) return -1;
      r->ready_timeout_ms = KILN_READY_TIMEOUT_MS;
      pop(x, s2);
    }
    if (timeout) {
      int64_t ms;
      s2 = push_key(x, "ready_timeout_ms", 16);
      if (!ready) return bad(x, "needs \"ready\" on the same program");
      if (get_int(x, timeout, 1, KILN_READY_TIMEOUT_MAX_MS, &ms)) return -1;
      r->ready_timeout_ms = (int)ms;
      pop(x, s2);
    }
    if (dm) {
      s2 = push_key(x, "argv_xen_dm", 11);
      if (want(x, dm, JSON_TRUE, "a boolean")) return -1;
      r->xen_dm = dm->type == JSON_TRUE;
      if (r->xen_dm && dm_at >= 0)
        return bad(x, "a second device model (rc[%d] has \"argv_xen_dm\": true): libxl starts one", dm_at);
      if (r->xen_dm) dm_at = (int)i;
      pop(x, s2);
    }
    r->uid = r->gid = -1;
    if (uid) {
      s2 = push_key(x, "uid", 3);
      if (get_int(x, uid, 0, KILN_ID_MAX, &r->uid)) return -1;
      r->gid = r->uid;
      pop(x, s2);
    }
    if (gid) {
      s2 = push_key(x, "gid", 3);
      if (!uid) return bad(x, "needs \"uid\" on the same program");
      if (get_int(x, gid, 0, KILN_ID_MAX, &r->gid)) return -1;
      pop(x, s2);
    }
    c->n_rc++;
    pop(x, s);
  }
  return 0;
}

static int ifname_ok(const char *s) {
  size_t l = strlen(s);
  if (!l || l > KILN_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
  for (; *s; s++)
    if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

static int load_net(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  static const char *const known[] = {"if", "addr", "dhcp", "gw", "dns", "mtu", NULL};
  if (want(x, n, JSON_ARRAY, "an array of interfaces")) return -1;
  if (n->len > KILN_MAX_NET) return bad(x, "too many interfaces (limit %d)", KILN_MAX_NET);
  c->n_net = 0;
  uint32_t i = 0;
  for (const struct json_node *e = json_first(x->d, n); e; e = json_next(x->d, e), i++) {
    size_t s = push_index(x, i), s2;
    struct kiln_net *t = &c->net[c->n_net];
    memset(t, 0, sizeof *t);
    if (want(x, e, JSON_OBJECT, "an object like {\"if\":\"eth0\"}")) return -1;
    if (check_keys(x, e, known, "if, addr, dhcp, gw, dns, mtu")) return -1;
    const struct json_node *v;
    s2 = push_key(x, "if", 2);
    if (!(v = json_get(x->d, e, "if"))) return bad(x, "is missing: name the interface, like \"eth0\"");
    if (get_string(x, v, &t->ifname)) return -1;
    if (!ifname_ok(t->ifname)) return bad(x, "%s is not an interface name (1-15 characters, no '/')", qs(t->ifname));
    for (int k = 0; k < c->n_net; k++)
      if (!strcmp(c->net[k].ifname, t->ifname)) return bad(x, "%s is configured twice (net[%d])", qs(t->ifname), k);
    pop(x, s2);
    if ((v = json_get(x->d, e, "addr"))) {
      s2 = push_key(x, "addr", 4);
      if (get_cidr(x, v, &t->addr, &t->prefix)) return -1;
      t->has_addr = 1;
      pop(x, s2);
    }
    if ((v = json_get(x->d, e, "dhcp"))) {
      s2 = push_key(x, "dhcp", 4);
      if (want(x, v, JSON_TRUE, "a boolean")) return -1;
      t->dhcp = v->type == JSON_TRUE;
      if (t->dhcp && t->has_addr)
        return bad(x, "cannot be true with \"addr\": the address comes from DHCP or from \"addr\", not both");
      pop(x, s2);
    }
    if ((v = json_get(x->d, e, "gw"))) {
      s2 = push_key(x, "gw", 2);
      if (get_ipv4(x, v, &t->gw)) return -1;
      if (!t->has_addr) return bad(x, "needs \"addr\" on the same interface");
      t->has_gw = 1;
      pop(x, s2);
    }
    if ((v = json_get(x->d, e, "dns"))) {
      s2 = push_key(x, "dns", 3);
      if (want(x, v, JSON_ARRAY, "an array of IPv4 addresses")) return -1;
      if (v->len > KILN_MAX_DNS) return bad(x, "too many servers (limit %d)", KILN_MAX_DNS);
      uint32_t j = 0;
      for (const struct json_node *a = json_first(x->d, v); a; a = json_next(x->d, a), j++) {
        size_t s3 = push_index(x, j);
        if (get_ipv4(x, a, &t->dns[j])) return -1;
        pop(x, s3);
      }
      t->n_dns = (int)j;
      pop(x, s2);
    }
    if ((v = json_get(x->d, e, "mtu"))) {
      int64_t m;
      s2 = push_key(x, "mtu", 3);
      if (get_int(x, v, 68, 65535, &m)) return -1;
      t->mtu = (int)m;
      pop(x, s2);
    }
    c->n_net++;
    pop(x, s);
  }
  return 0;
}

int config_pseudo_fs(const char *fs) {
  /* Kept explicit: any other type is a block device's file system and waits for /dev/<dev>. */
  static const char *const pseudo[] = {"binfmt_misc", "bpf", "cgroup2", "configfs", "debugfs", "devpts",
                                       "hugetlbfs", "mqueue", "proc", "ramfs", "securityfs", "sysfs",
                                       "tmpfs", "tracefs", "xenfs", NULL};
  for (const char *const *p = pseudo; *p; p++)
    if (!strcmp(*p, fs)) return 1;
  return 0;
}

static int load_blk(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  static const char *const known[] = {"dev", "fs", "mount", "ro", "cache", NULL};
  if (want(x, n, JSON_ARRAY, "an array of block devices")) return -1;
  if (n->len > KILN_MAX_BLK) return bad(x, "too many block devices (limit %d)", KILN_MAX_BLK);
  c->n_blk = 0;
  uint32_t i = 0;
  for (const struct json_node *e = json_first(x->d, n); e; e = json_next(x->d, e), i++) {
    size_t s = push_index(x, i), s2;
    struct kiln_blk *b = &c->blk[c->n_blk];
    memset(b, 0, sizeof *b);
    if (want(x, e, JSON_OBJECT, "an object like {\"dev\":\"vdb\",\"mount\":\"/data\"}")) return -1;
    if (check_keys(x, e, known, "dev, fs, mount, ro, cache")) return -1;
    const struct json_node *v;
    s2 = push_key(x, "dev", 3);
    if (!(v = json_get(x->d, e, "dev"))) return bad(x, "is missing: name the device under /dev, like \"vdb\"");
    if (get_nonempty(x, v, &b->dev)) return -1;
    if (strchr(b->dev, '/') || !strcmp(b->dev, ".") || !strcmp(b->dev, "..") || strlen(b->dev) > 64)
      return bad(x, "%s is not a device name under /dev (like \"vdb\", without \"/dev/\")", qs(b->dev));
    pop(x, s2);
    b->fs = "ext4";
    if ((v = json_get(x->d, e, "fs"))) {
      s2 = push_key(x, "fs", 2);
      if (get_nonempty(x, v, &b->fs)) return -1;
      for (const char *p = b->fs; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.') || p - b->fs > 31)
          return bad(x, "%s is not a file system type like \"ext4\"", qs(b->fs));
      pop(x, s2);
    }
    s2 = push_key(x, "mount", 5);
    if (!(v = json_get(x->d, e, "mount"))) return bad(x, "is missing: name the mount point, like \"/data\"");
    if (get_abs_path(x, v, &b->mount)) return -1;
    if (!strcmp(b->mount, "/")) return bad(x, "cannot mount over \"/\": choose a directory like \"/data\"");
    pop(x, s2);
    if ((v = json_get(x->d, e, "ro"))) {
      s2 = push_key(x, "ro", 2);
      if (want(x, v, JSON_TRUE, "a boolean")) return -1;
      b->ro = v->type == JSON_TRUE;
      pop(x, s2);
    }
    if ((v = json_get(x->d, e, "cache"))) {
      s2 = push_key(x, "cache", 5);
      if (want(x, v, JSON_TRUE, "a boolean")) return -1;
      b->cache = v->type == JSON_TRUE;
      if (b->cache && strcmp(b->fs, "9p")) return bad(x, "is for 9p shares only, not %s", qs(b->fs));
      pop(x, s2);
    }
    c->n_blk++;
    pop(x, s);
  }
  return 0;
}

/* sysctl keys: "net.ipv4.ip_forward" or, as sysctl(8) allows, "net/ipv4/conf/eth0.100/rp_filter". */
static int sysctl_key_ok(const char *k) {
  char sep = strchr(k, '/') ? '/' : '.';
  const char *seg = k;
  for (const char *p = k;; p++) {
    if (*p == sep || !*p) {
      size_t l = (size_t)(p - seg);
      if (!l || (l == 1 && seg[0] == '.') || (l == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
      if (!*p) return 1;
      seg = p + 1;
      continue;
    }
    unsigned char ch = (unsigned char)*p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '-' || ch == '.' || ch == '/'))
      return 0;
  }
}

static int load_sysctl(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  if (want(x, n, JSON_OBJECT, "an object of strings")) return -1;
  if (n->len > KILN_MAX_SYSCTL) return bad(x, "too many settings (limit %d)", KILN_MAX_SYSCTL);
  c->n_sysctl = 0;
  for (const struct json_node *m = json_first(x->d, n); m; m = json_next(x->d, m)) {
    const char *k = json_key(x->d, m);
    size_t s = push_key(x, k, m->key_len);
    const char *v;
    if (strlen(k) != m->key_len || !sysctl_key_ok(k) || m->key_len > 200)
      return bad(x, "%s is not a sysctl name like \"net.ipv4.ip_forward\"", qv(k, m->key_len));
    if (get_string(x, m, &v)) return -1;
    c->sysctl[c->n_sysctl++] = (struct kiln_kv){k, v};
    pop(x, s);
  }
  return 0;
}

static int load_routes(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  static const char *const known[] = {"dst", "via", NULL};
  if (want(x, n, JSON_ARRAY, "an array of routes")) return -1;
  if (n->len > KILN_MAX_ROUTES) return bad(x, "too many routes (limit %d)", KILN_MAX_ROUTES);
  c->n_routes = 0;
  uint32_t i = 0;
  for (const struct json_node *e = json_first(x->d, n); e; e = json_next(x->d, e), i++) {
    size_t s = push_index(x, i), s2;
    struct kiln_route *r = &c->routes[c->n_routes];
    memset(r, 0, sizeof *r);
    if (want(x, e, JSON_OBJECT, "an object like {\"dst\":\"10.1.0.0/16\",\"via\":\"10.0.2.2\"}")) return -1;
    if (check_keys(x, e, known, "dst, via")) return -1;
    const struct json_node *v;
    s2 = push_key(x, "dst", 3);
    if (!(v = json_get(x->d, e, "dst"))) return bad(x, "is missing: give a network like \"10.1.0.0/16\"");
    if (v->type == JSON_STRING && !strcmp(json_str(x->d, v), "default")) {
      r->dst = 0;
      r->prefix = 0;
    } else {
      if (get_cidr(x, v, &r->dst, &r->prefix)) return -1;
      if (r->dst & ~mask_of(r->prefix))
        return bad(x, "%s has host bits set beyond the /%d prefix", qs(json_str(x->d, v)), r->prefix);
    }
    pop(x, s2);
    s2 = push_key(x, "via", 3);
    if (!(v = json_get(x->d, e, "via"))) return bad(x, "is missing: give the gateway's address");
    if (get_ipv4(x, v, &r->via)) return -1;
    pop(x, s2);
    c->n_routes++;
    pop(x, s);
  }
  return 0;
}

static int load_cwd(struct ctx *x, struct kiln_config *c, const struct json_node *n) {
  return get_abs_path(x, n, &c->cwd);
}

void config_init(struct kiln_config *c) {
  memset(c, 0, sizeof *c);
  c->cwd = "/";
  c->env[0] = (struct kiln_kv){"PATH", "/bin:/usr/bin:/sbin:/usr/sbin"};
  c->env[1] = (struct kiln_kv){"HOME", "/"};
  c->n_env = 2;
}

int config_merge(struct kiln_config *c, const struct json_doc *doc, struct kiln_config_error *err) {
  struct ctx x = {.d = doc, .err = err};
  const struct json_node *root = json_root(doc);
  err->path[0] = 0;
  err->msg[0] = 0;
  if (root->type != JSON_OBJECT) return bad(&x, "the configuration must be an object, not %s", kind(root));
  if (load_version(&x, root)) return -1;
  static const struct {
    const char *key;
    int (*load)(struct ctx *, struct kiln_config *, const struct json_node *);
  } keys[] = {
      {"hostname", load_hostname}, {"env", load_env},       {"rc", load_rc},         {"net", load_net},
      {"blk", load_blk},           {"sysctl", load_sysctl}, {"routes", load_routes}, {"cwd", load_cwd},
  };
  for (const struct json_node *m = json_first(doc, root); m; m = json_next(doc, m)) {
    const char *k = json_key(doc, m);
    if (m->key_len == 1 && k[0] == 'v') continue;
    size_t s = push_key(&x, k, m->key_len);
    size_t i = 0;
    while (i < sizeof keys / sizeof keys[0] && !(strlen(keys[i].key) == m->key_len && !strcmp(keys[i].key, k))) i++;
    if (i == sizeof keys / sizeof keys[0])
      return bad(&x, "unknown key (version 1 knows v, hostname, env, rc, net, blk, sysctl, routes, cwd)");
    if (keys[i].load(&x, c, m)) return -1;
    pop(&x, s);
  }
  return 0;
}

int config_load(struct kiln_config *c, struct json_doc *doc, const char *text, size_t len,
                struct kiln_config_error *err) {
  struct json_error je;
  if (json_parse(doc, text, len, &je)) {
    memcpy(err->path, je.path, sizeof err->path);
    snprintf(err->msg, sizeof err->msg, "invalid JSON at byte %zu: %s", je.offset, je.msg);
    return -1;
  }
  return config_merge(c, doc, err);
}

const struct kiln_rc *config_main(const struct kiln_config *c) {
  for (int i = 0; i < c->n_rc; i++)
    if (c->rc[i].mode == KILN_MAIN) return &c->rc[i];
  return NULL;
}
