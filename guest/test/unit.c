/* Host unit tests of kiln-init's pure parsers (json, config, cmdline, base64url, dhcp, xenstore) and of its
 * xenstore exchange against a fake xenstored on a socket pair. Output is TAP: one "ok N - name" or
 * "not ok N - name" line per check, details as "# " lines, then "1..N". The exit status is 1 when any check
 * failed. test/e2e/guest-unit.test.ts builds and runs this under ASan and UBSan. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../base64url.h"
#include "../cmdline.h"
#include "../config.h"
#include "../dhcp.h"
#include "../fwcfg.h"
#include "../json.h"
#include "../xenstore.h"
#include "jsondump.h"

static int n_checks, n_failed;
static struct json_doc doc, doc2, docs[3];
static struct kiln_config cfg;
static char out[JSON_MAX_INPUT * 8];

static void check(int ok, const char *fmt, ...) {
  char raw[512], name[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  /* one line per check, whatever bytes the case holds */
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)raw; *p; p++)
    o += (size_t)(*p < 0x20 || *p == 0x7f ? sprintf(name + o, "\\x%02x", *p) : sprintf(name + o, "%c", *p));
  n_checks++;
  if (!ok) n_failed++;
  printf("%sok %d - %s\n", ok ? "" : "not ", n_checks, name);
}

static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("# ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* ---- JSON ---- */

/* Parses, and the canonical dump equals `want` (NULL: same as the input). */
static void json_ok(const char *in, const char *want) {
  struct json_error e;
  int r = json_parse(&doc, in, strlen(in), &e);
  if (r) {
    check(0, "json accepts %s", in);
    note("error at %zu: %s", e.offset, e.msg);
    return;
  }
  long n = json_dump(&doc, out, sizeof out);
  int same = n >= 0 && !strcmp(out, want ? want : in);
  check(same, "json accepts %s", in);
  if (!same) note("dump: %s", n >= 0 ? out : "(overflow)");
  /* and what it dumps parses to the same dump again */
  if (n >= 0) {
    static char again[sizeof out];
    memcpy(again, out, (size_t)n + 1);
    int r2 = json_parse(&doc2, again, strlen(again), &e);
    long n2 = r2 ? -1 : json_dump(&doc2, out, sizeof out);
    check(n2 >= 0 && !strcmp(out, again), "json round-trips %s", in);
  }
}

static void json_bad_n(const char *in, size_t len, const char *msg, long offset, const char *path, const char *label) {
  struct json_error e;
  int r = json_parse(&doc, in, len, &e);
  int ok = r == -1 && strstr(e.msg, msg) && (offset < 0 || (long)e.offset == offset) && (!path || !strcmp(e.path, path));
  check(ok, "json rejects %s: %s", label, msg);
  if (!ok) note(r ? "got at %zu (path %s): %s" : "accepted%.0zu%s%s", r ? e.offset : 0, r ? e.path : "", r ? e.msg : "");
}

static void json_bad(const char *in, const char *msg, long offset, const char *path) {
  json_bad_n(in, strlen(in), msg, offset, path, in);
}

static void json_string_is(const char *in, const char *bytes, size_t len) {
  struct json_error e;
  int r = json_parse(&doc, in, strlen(in), &e);
  const struct json_node *n = json_root(&doc);
  int ok = !r && n->type == JSON_STRING && n->len == len && !memcmp(json_str(&doc, n), bytes, len) &&
           json_str(&doc, n)[len] == 0;
  check(ok, "json decodes %s", in);
  if (!ok && r) note("error at %zu: %s", e.offset, e.msg);
}

static void test_json(void) {
  json_ok("null", NULL);
  json_ok("true", NULL);
  json_ok("false", NULL);
  json_ok("0", NULL);
  json_ok("-0", NULL);
  json_ok("123", NULL);
  json_ok("-12.5e-3", NULL);
  json_ok("1E+10", NULL);
  json_ok("0.000", NULL);
  json_ok("\"\"", NULL);
  json_ok(" \t\r\n{ } \n", "{}");
  json_ok("[ ]", "[]");
  json_ok("[1, [2, [3, {}]], {\"a\" : {\"b\" : null}}]", "[1,[2,[3,{}]],{\"a\":{\"b\":null}}]");
  json_ok("{\"v\":1,\"rc\":[{\"bin\":\"/bin/x\",\"argv\":[\"x\",\"-p\"]}]}", NULL);
  json_ok("{\"\":1}", NULL);
  json_ok("{\"a\":1,\"A\":2}", NULL);

  json_string_is("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
  json_string_is("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
  json_string_is("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
  json_string_is("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
  json_string_is("\"a\\u0000b\"", "a\0b", 3);
  json_string_is("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
  json_string_is("\"\xef\xbf\xbf\"", "\xef\xbf\xbf", 3);
  json_string_is("\"\x7f\"", "\x7f", 1);

  json_bad("", "empty input", 0, "");
  json_bad("   ", "empty input", 3, "");
  json_bad("{\"a\":1,}", "expected a string key", 7, "");
  json_bad("[1,]", "unexpected character", 3, "[1]");
  json_bad("[1 2]", "expected ',' or ']'", 3, "[0]");
  json_bad("{\"a\" 1}", "expected ':'", 5, "a");
  json_bad("{a:1}", "expected a string key", 1, "");
  json_bad("'x'", "unexpected character", 0, "");
  json_bad("01", "leading zero", 1, "");
  json_bad("-01", "leading zero", 2, "");
  json_bad("1.", "digit expected after '.'", 2, "");
  json_bad(".5", "unexpected character", 0, "");
  json_bad("-", "bad number", 1, "");
  json_bad("1e", "exponent", 2, "");
  json_bad("1e+", "exponent", 3, "");
  json_bad("+1", "unexpected character", 0, "");
  json_bad("0x10", "unexpected data after the value", 1, "");
  json_bad("NaN", "unexpected character", 0, "");
  json_bad("-Infinity", "bad number", 1, "");
  json_bad("tru", "unexpected character", 0, "");
  json_bad("nul", "unexpected character", 0, "");
  json_bad("truex", "unexpected data after the value", 4, "");
  json_bad("\"abc", "unterminated string", 4, "");
  json_bad("\"abc\\", "unterminated string", 5, "");
  json_bad("\"\\x\"", "unknown escape", 2, "");
  json_bad("\"\\u12\"", "truncated \\u escape", 3, "");
  json_bad("\"\\u12\"x", "bad hex digit", 3, "");
  json_bad("\"\\u12", "truncated \\u escape", 3, "");
  json_bad("\"\\u12G4\"", "bad hex digit", 3, "");
  json_bad("\"\\ud800\"", "high surrogate not followed", 7, "");
  json_bad("\"\\ud800\\u0041\"", "high surrogate not followed", 13, "");
  json_bad("\"\\udc00\"", "lone low surrogate", 7, "");
  json_bad("\"a\nb\"", "control character", 2, "");
  json_bad("\"a\tb\"", "control character", 2, "");
  json_bad("\"\xff\"", "invalid UTF-8", 1, "");
  json_bad("\"\xc0\xaf\"", "invalid UTF-8", 1, "");
  json_bad("\"\xe0\x80\xaf\"", "invalid UTF-8", 1, "");
  json_bad("\"\xed\xa0\x80\"", "invalid UTF-8", 1, "");
  json_bad("\"\xe2\x82\"", "invalid UTF-8", 1, "");
  json_bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1, "");
  json_bad("\"\x80\"", "invalid UTF-8", 1, "");
  json_bad("\xef\xbb\xbf{}", "unexpected character", 0, "");
  json_bad("{} x", "unexpected data after the value", 3, "");
  json_bad("{}{}", "unexpected data after the value", 2, "");
  json_bad("1 2", "unexpected data after the value", 2, "");
  json_bad("{\"a\":1,\"a\":2}", "duplicate key", 7, "a");
  json_bad("{\"rc\":[{\"bin\":\"x\",\"bin\":\"y\"}]}", "duplicate key", -1, "rc[0].bin");
  json_bad("{\"a\\u0000\":1,\"a\":2,\"a\\u0000\":3}", "duplicate key", -1, "[\"a\\x00\"]");
  json_bad("{\"rc\":[{\"bin\":\"/x\"},{\"bin\":1,]}]}", "expected a string key", 29, "rc[1]");
  json_bad("{\"env\":{\"A\":\"1\",\"B\":tru}}", "unexpected character", -1, "env.B");
  json_bad("[[1],[2],[3,\"x]]", "unterminated string", -1, "[2][1]");
  json_bad_n("[1\0]", 4, "expected ',' or ']'", 2, "[0]", "a NUL byte");
  json_bad_n("\"a\0\"", 4, "control character", 2, "", "a NUL byte in a string");

  /* depth */
  char deep[64];
  memset(deep, '[', 16);
  memset(deep + 16, ']', 16);
  deep[32] = 0;
  json_ok(deep, NULL);
  memset(deep, '[', 17);
  memset(deep + 17, ']', 17);
  deep[34] = 0;
  json_bad(deep, "nested too deeply", 16, "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]");
  /* deep nesting with objects, and far more than the limit */
  static char big[JSON_MAX_INPUT + 2];
  size_t o = 0;
  for (int i = 0; i < 10000; i++) o += (size_t)sprintf(big + o, "{\"a\":");
  json_bad_n(big, o, "nested too deeply", -1, NULL, "10000 nested objects");

  /* node count: the root array plus 4095 elements fits, one more does not */
  o = 0;
  big[o++] = '[';
  for (int i = 0; i < 4095; i++) big[o++] = '0', big[o++] = ',';
  big[o - 1] = ']';
  struct json_error e;
  check(json_parse(&doc, big, o, &e) == 0 && json_root(&doc)->len == 4095, "json accepts 4096 values");
  big[o - 1] = ',';
  big[o++] = '0';
  big[o++] = ']';
  json_bad_n(big, o, "too many values", -1, "[4095]", "4097 values");

  /* input size: a 65536-byte string parses, one byte more is refused before parsing */
  memset(big, 'x', JSON_MAX_INPUT);
  big[0] = big[JSON_MAX_INPUT - 1] = '"';
  check(json_parse(&doc, big, JSON_MAX_INPUT, &e) == 0 && json_root(&doc)->len == JSON_MAX_INPUT - 2,
        "json accepts 65536 bytes");
  json_bad_n(big, JSON_MAX_INPUT + 1, "input too large", 0, "", "65537 bytes");
  /* the decoded-string buffer is big enough even for a final number filling the input */
  memset(big, '1', JSON_MAX_INPUT);
  check(json_parse(&doc, big, JSON_MAX_INPUT, &e) == 0 && json_root(&doc)->len == JSON_MAX_INPUT,
        "json accepts a 65536-digit number");

  /* json_int */
  const struct {
    const char *in;
    int ok;
    long long v;
  } ints[] = {{"0", 1, 0},
              {"-0", 1, 0},
              {"42", 1, 42},
              {"9223372036854775807", 1, 9223372036854775807LL},
              {"-9223372036854775808", 1, -9223372036854775807LL - 1},
              {"9223372036854775808", 0, 0},
              {"-9223372036854775809", 0, 0},
              {"1.0", 0, 0},
              {"1e2", 0, 0},
              {"\"1\"", 0, 0}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    int64_t v = 0;
    int r = json_parse(&doc, ints[i].in, strlen(ints[i].in), &e) ? -2 : json_int(&doc, json_root(&doc), &v);
    check(ints[i].ok ? r == 0 && v == ints[i].v : r == -1, "json_int %s %s", ints[i].in,
          ints[i].ok ? "is an int64" : "is refused");
  }

  /* json_get */
  const char *g = "{\"a\":1,\"bb\":[true],\"b\":\"x\"}";
  json_parse(&doc, g, strlen(g), &e);
  const struct json_node *b = json_get(&doc, json_root(&doc), "b");
  check(b && b->type == JSON_STRING && !strcmp(json_str(&doc, b), "x") && !json_get(&doc, json_root(&doc), "c"),
        "json_get finds members by whole key");

  /* json_quote */
  char qb[16];
  check(!strcmp(json_quote(qb, sizeof qb, "a\"b\\\n", 5), "\"a\\\"b\\\\\\x0a\""), "json_quote escapes");
  check(!strcmp(json_quote(qb, sizeof qb, "abcdefghijklmnopqrstuvwxyz", 26), "\"abcdefghij...\""),
        "json_quote truncates long values visibly");
}

/* ---- config ---- */

static int load1(const char *text, struct kiln_config_error *e) {
  config_init(&cfg);
  return config_load(&cfg, &docs[0], text, strlen(text), e);
}

static void config_bad(const char *text, const char *path, const char *msg) {
  struct kiln_config_error e;
  int r = load1(text, &e);
  int ok = r == -1 && !strcmp(e.path, path) && strstr(e.msg, msg);
  check(ok, "config rejects %s: key \"%s\": %s", text, path, msg);
  if (!ok) note(r ? "got key \"%s\": %s" : "accepted%s%s", r ? e.path : "", r ? e.msg : "");
}

static const char *env_of(const char *k) {
  for (int i = 0; i < cfg.n_env; i++)
    if (!strcmp(cfg.env[i].key, k)) return cfg.env[i].value;
  return NULL;
}

static void test_config(void) {
  struct kiln_config_error e;
  check(load1("{\"v\":1}", &e) == 0 && cfg.n_rc == 0 && !cfg.hostname && !strcmp(cfg.cwd, "/") && cfg.n_env == 2 &&
            !strcmp(env_of("PATH"), "/bin:/usr/bin:/sbin:/usr/sbin") && !strcmp(env_of("HOME"), "/") &&
            !config_main(&cfg),
        "config {\"v\":1} gives the defaults");

  const char *full =
      "{\"v\":1,\"hostname\":\"web\",\"env\":{\"PORT\":\"8080\"},"
      "\"rc\":[{\"bin\":\"/bin/httpd\",\"argv\":[\"httpd\",\"-p\",\"8080\"],\"mode\":\"main\"},"
      "{\"bin\":\"/bin/helper\",\"argv\":[\"helper\"],\"mode\":\"bg\"}],"
      "\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/24\",\"gw\":\"10.0.2.2\",\"dns\":[\"10.0.2.3\"],\"mtu\":1500}],"
      "\"blk\":[{\"dev\":\"vdb\",\"fs\":\"ext4\",\"mount\":\"/data\",\"ro\":false}],"
      "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
      "\"routes\":[{\"dst\":\"10.1.0.0/16\",\"via\":\"10.0.2.2\"}],"
      "\"cwd\":\"/\"}";
  int r = load1(full, &e);
  if (r) note("error: key \"%s\": %s", e.path, e.msg);
  const struct kiln_rc *m = config_main(&cfg);
  check(!r && !strcmp(cfg.hostname, "web") && !strcmp(env_of("PORT"), "8080") && cfg.n_env == 3, "config full: hostname, env");
  check(!r && cfg.n_rc == 2 && m == &cfg.rc[0] && !strcmp(m->bin, "/bin/httpd") && m->argc == 3 &&
            !strcmp(m->argv[2], "8080") && !m->argv[3] && cfg.rc[1].mode == KILN_BG && !strcmp(cfg.rc[1].argv[0], "helper"),
        "config full: rc");
  const struct kiln_net *n = &cfg.net[0];
  check(!r && cfg.n_net == 1 && !strcmp(n->ifname, "eth0") && n->has_addr && n->addr == 0x0a00020f && n->prefix == 24 &&
            n->has_gw && n->gw == 0x0a000202 && n->n_dns == 1 && n->dns[0] == 0x0a000203 && n->mtu == 1500,
        "config full: net");
  check(!r && cfg.n_blk == 1 && !strcmp(cfg.blk[0].dev, "vdb") && !strcmp(cfg.blk[0].fs, "ext4") &&
            !strcmp(cfg.blk[0].mount, "/data") && !cfg.blk[0].ro,
        "config full: blk");
  check(!r && cfg.n_sysctl == 1 && !strcmp(cfg.sysctl[0].key, "net.ipv4.ip_forward") && !strcmp(cfg.sysctl[0].value, "1"),
        "config full: sysctl");
  check(!r && cfg.n_routes == 1 && cfg.routes[0].dst == 0x0a010000 && cfg.routes[0].prefix == 16 &&
            cfg.routes[0].via == 0x0a000202,
        "config full: routes");

  r = load1("{\"v\":1,\"rc\":[{\"bin\":\"/usr/bin/hello\"}],\"blk\":[{\"dev\":\"vdc\",\"mount\":\"/m\",\"ro\":true}]}", &e);
  check(!r && cfg.rc[0].argc == 1 && !strcmp(cfg.rc[0].argv[0], "hello") && !cfg.rc[0].argv[1] &&
            cfg.rc[0].mode == KILN_MAIN && !strcmp(cfg.blk[0].fs, "ext4") && cfg.blk[0].ro,
        "config defaults: argv [basename(bin)], mode main, fs ext4");
  r = load1("{\"v\":1,\"blk\":[{\"dev\":\"share0\",\"fs\":\"9p\",\"mount\":\"/h\",\"cache\":true},"
            "{\"dev\":\"share1\",\"fs\":\"9p\",\"mount\":\"/i\"}]}", &e);
  check(!r && cfg.n_blk == 2 && cfg.blk[0].cache && !cfg.blk[1].cache, "config blk: cache on a 9p share");
  r = load1("{\"v\":1,\"blk\":[{\"dev\":\"vdb\",\"mount\":\"/d\",\"cache\":true}]}", &e);
  check(r && !strcmp(e.path, "blk[0].cache") && strstr(e.msg, "9p"), "config blk: cache is for 9p only");
  r = load1("{\"v\":1,\"rc\":[{\"bin\":\"/a\",\"mode\":\"bg\"},{\"bin\":\"/b\",\"mode\":\"bg\"}]}", &e);
  check(!r && cfg.n_rc == 2 && !config_main(&cfg), "config allows only bg programs (no main)");
  r = load1("{\"v\":1,\"rc\":[{\"bin\":\"/m\"},{\"bin\":\"/s\",\"mode\":\"setup\"},"
            "{\"bin\":\"/d\",\"mode\":\"bg\",\"ready\":\"/run/d.sock\"},"
            "{\"bin\":\"/e\",\"mode\":\"bg\",\"ready\":\"/run/e\",\"ready_timeout_ms\":500}]}", &e);
  if (r) note("error: key \"%s\": %s", e.path, e.msg);
  check(!r && cfg.n_rc == 4 && config_main(&cfg) == &cfg.rc[0] && cfg.rc[1].mode == KILN_SETUP && !cfg.rc[1].ready &&
            cfg.rc[2].mode == KILN_BG && !strcmp(cfg.rc[2].ready, "/run/d.sock") &&
            cfg.rc[2].ready_timeout_ms == KILN_READY_TIMEOUT_MS && cfg.rc[3].ready_timeout_ms == 500 && !cfg.rc[0].ready,
        "config rc: setup mode, bg ready with the default and a given timeout, array order kept");
  r = load1("{\"v\":1,\"rc\":[{\"bin\":\"/s\",\"mode\":\"setup\"}]}", &e);
  check(!r && cfg.n_rc == 1 && !config_main(&cfg), "config allows only setup programs (no main)");
  check(config_pseudo_fs("xenfs") && config_pseudo_fs("tmpfs") && config_pseudo_fs("proc") &&
            config_pseudo_fs("devpts") && !config_pseudo_fs("ext4") && !config_pseudo_fs("9p") &&
            !config_pseudo_fs("") && !config_pseudo_fs("xenfs2"),
        "config_pseudo_fs: xenfs, tmpfs, proc, devpts; not ext4, 9p");
  r = load1("{\"v\":1,\"rc\":[{\"bin\":\"/p\",\"mode\":\"bg\"},{\"bin\":\"/q\",\"argv_xen_dm\":true},"
            "{\"bin\":\"/r\",\"mode\":\"bg\",\"argv_xen_dm\":false}]}", &e);
  check(!r && cfg.n_rc == 3 && !cfg.rc[0].xen_dm && cfg.rc[1].xen_dm && !cfg.rc[2].xen_dm,
        "config rc: argv_xen_dm true on one entry, false on another");
  r = load1("{\"v\":1,\"rc\":[]}", &e);
  check(!r && cfg.n_rc == 0, "config rc [] means no program");
  r = load1("{\"v\":1,\"routes\":[{\"dst\":\"default\",\"via\":\"10.0.2.2\"},{\"dst\":\"10.9.9.9/32\",\"via\":\"10.0.2.3\"}]}", &e);
  check(!r && cfg.n_routes == 2 && cfg.routes[0].prefix == 0 && cfg.routes[1].prefix == 32, "config routes: default and /32");
  r = load1("{\"v\":1,\"env\":{\"PATH\":\"/opt/bin\",\"E\":\"caf\\u00e9\"}}", &e);
  check(!r && cfg.n_env == 3 && !strcmp(env_of("PATH"), "/opt/bin") && !strcmp(env_of("E"), "caf\xc3\xa9"),
        "config env overrides the default PATH and decodes escapes");
  r = load1("{\"v\":1,\"sysctl\":{\"net/ipv4/conf/eth0.100/rp_filter\":\"0\"}}", &e);
  check(!r && cfg.n_sysctl == 1, "config sysctl accepts the slash form");

  /* merging: later wins key by key; env by variable name; lists are replaced whole */
  config_init(&cfg);
  const char *a = "{\"v\":1,\"hostname\":\"a\",\"env\":{\"A\":\"1\",\"B\":\"2\"},\"rc\":[{\"bin\":\"/x\"},{\"bin\":\"/y\",\"mode\":\"bg\"}],\"cwd\":\"/srv\"}";
  const char *b = "{\"v\":1,\"hostname\":\"b\",\"env\":{\"B\":\"3\",\"C\":\"4\"}}";
  const char *c = "{\"v\":1,\"rc\":[{\"bin\":\"/z\",\"argv\":[\"z\",\"1\"]}]}";
  r = config_load(&cfg, &docs[0], a, strlen(a), &e) || config_load(&cfg, &docs[1], b, strlen(b), &e) ||
      config_load(&cfg, &docs[2], c, strlen(c), &e);
  check(!r && !strcmp(cfg.hostname, "b") && !strcmp(env_of("A"), "1") && !strcmp(env_of("B"), "3") &&
            !strcmp(env_of("C"), "4") && cfg.n_env == 5 && !strcmp(cfg.cwd, "/srv"),
        "config merge: later hostname wins, env merges by name, untouched keys stay");
  check(!r && cfg.n_rc == 1 && !strcmp(cfg.rc[0].bin, "/z") && !strcmp(cfg.rc[0].argv[1], "1"),
        "config merge: a later rc replaces the whole list");

  config_bad("[]", "", "must be an object, not an array");
  config_bad("\"x\"", "", "must be an object, not a string");
  config_bad("{}", "v", "is missing");
  config_bad("{\"hostname\":\"x\"}", "v", "is missing");
  config_bad("{\"v\":2,\"future\":1}", "v", "unsupported version 2");
  config_bad("{\"v\":0}", "v", "unsupported version 0");
  config_bad("{\"v\":\"1\"}", "v", "must be the integer 1, not a string");
  config_bad("{\"v\":1.0}", "v", "must be the integer 1, not 1.0");
  config_bad("{\"v\":null}", "v", "must be the integer 1, not null");
  config_bad("{\"v\":1,\"x\":1}", "x", "unknown key");
  config_bad("{\"v\":1,\"Rc\":[]}", "Rc", "unknown key");
  config_bad("{\"v\":1,\"a b\":1}", "[\"a b\"]", "unknown key");
  config_bad("{\"v\":1,\"rc\":{}}", "rc", "must be an array of programs, not an object");
  config_bad("{\"v\":1,\"rc\":[\"/bin/x\"]}", "rc[0]", "must be an object");
  config_bad("{\"v\":1,\"rc\":[{\"argv\":[\"a\"]}]}", "rc[0].bin", "is missing");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\"},{\"bin\":\"bin/x\"}]}", "rc[1].bin", "\"bin/x\" is not an absolute path");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"\"}]}", "rc[0].bin", "is not an absolute path");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/bin/\"}]}", "rc[0].bin", "names a directory");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/bin/x\\u0000y\"}]}", "rc[0].bin", "must not contain a NUL");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"argv\":[]}]}", "rc[0].argv", "must not be empty");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"argv\":\"x -p\"}]}", "rc[0].argv", "must be an array of strings, not a string");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"argv\":[\"a\",1]}]}", "rc[0].argv[1]", "must be a string, not a number");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\"},{\"bin\":\"/y\"}]}", "rc[1].mode", "a second main program (rc[0] is main");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"fg\"}]}", "rc[0].mode",
             "\"fg\" is not a mode: use \"main\", \"bg\" or \"setup\"");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":true}]}", "rc[0].mode", "must be a string, not a boolean");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"cwd\":\"/\"}]}", "rc[0].cwd",
             "unknown key (known keys here: bin, argv, mode, ready, ready_timeout_ms, argv_xen_dm, uid, gid)");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"ready\":\"/run/x\"}]}", "rc[0].ready", "is for \"bg\" programs only");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"setup\",\"ready\":\"/run/x\"}]}", "rc[0].ready",
             "is for \"bg\" programs only");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready\":\"run/x\"}]}", "rc[0].ready",
             "\"run/x\" is not an absolute path");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready\":true}]}", "rc[0].ready",
             "must be a string, not a boolean");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready_timeout_ms\":100}]}",
             "rc[0].ready_timeout_ms", "needs \"ready\"");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready\":\"/r\",\"ready_timeout_ms\":0}]}",
             "rc[0].ready_timeout_ms", "from 1 to 3600000, not 0");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready\":\"/r\",\"ready_timeout_ms\":3600001}]}",
             "rc[0].ready_timeout_ms", "from 1 to 3600000, not 3600001");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"ready\":\"/r\",\"ready_timeout_ms\":\"5\"}]}",
             "rc[0].ready_timeout_ms", "must be an integer, not a string");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"argv_xen_dm\":\"yes\"}]}", "rc[0].argv_xen_dm",
             "must be a boolean, not a string");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"mode\":\"bg\",\"argv_xen_dm\":true},{\"bin\":\"/y\",\"argv_xen_dm\":false},"
             "{\"bin\":\"/z\",\"mode\":\"bg\",\"argv_xen_dm\":true}]}",
             "rc[2].argv_xen_dm", "a second device model (rc[0] has \"argv_xen_dm\": true)");
  config_bad("{\"v\":1,\"env\":[]}", "env", "must be an object of strings, not an array");
  config_bad("{\"v\":1,\"env\":{\"PORT\":8080}}", "env.PORT", "must be a string, not a number");
  config_bad("{\"v\":1,\"env\":{\"A=B\":\"1\"}}", "env[\"A=B\"]", "must not contain '='");
  config_bad("{\"v\":1,\"env\":{\"\":\"1\"}}", "env[\"\"]", "must not be empty");
  config_bad("{\"v\":1,\"hostname\":\"web server\"}", "hostname", "is not a host name");
  config_bad("{\"v\":1,\"hostname\":\"\"}", "hostname", "must not be empty");
  config_bad("{\"v\":1,\"hostname\":\"-x\"}", "hostname", "is not a host name");
  config_bad("{\"v\":1,\"hostname\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "hostname",
             "longer than 64 bytes");
  config_bad("{\"v\":1,\"net\":[{\"addr\":\"10.0.2.15/24\"}]}", "net[0].if", "is missing");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"abcdefghijklmnop\"}]}", "net[0].if", "is not an interface name");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"a/b\"}]}", "net[0].if", "is not an interface name");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\"},{\"if\":\"eth0\"}]}", "net[1].if", "\"eth0\" is configured twice (net[0])");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.300/24\"}]}", "net[0].addr",
             "\"10.0.2.300/24\" is not an IPv4 address with a prefix length");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/33\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"010.0.2.15/24\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/024\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2/24\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15.1/24\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\" 10.0.2.15/24\"}]}", "net[0].addr", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"gw\":\"10.0.2.2\"}]}", "net[0].gw", "needs \"addr\"");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/24\",\"gw\":\"10.0.2\"}]}", "net[0].gw",
             "\"10.0.2\" is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dns\":\"10.0.2.3\"}]}", "net[0].dns", "must be an array");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dns\":[\"10.0.2.3\",\"x\"]}]}", "net[0].dns[1]", "is not an IPv4 address");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"mtu\":10}]}", "net[0].mtu", "from 68 to 65535, not 10");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"mtu\":1500.5}]}", "net[0].mtu", "not 1500.5");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"mtu\":\"1500\"}]}", "net[0].mtu", "must be an integer, not a string");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"addr\":\"10.0.2.15/24\",\"dhcp\":true}]}", "net[0].dhcp",
             "cannot be true with \"addr\"");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dhcp\":1}]}", "net[0].dhcp", "a boolean");
  config_bad("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dhcp\":true,\"gw\":\"10.0.2.2\"}]}", "net[0].gw", "needs \"addr\"");
  {
    int r2 = load1("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dhcp\":true,\"dns\":[\"1.1.1.1\"],\"mtu\":1400}]}", &e);
    check(!r2 && cfg.net[0].dhcp && !cfg.net[0].has_addr && cfg.net[0].n_dns == 1 && cfg.net[0].mtu == 1400,
          "config net: dhcp with dns and mtu of its own");
    r2 = load1("{\"v\":1,\"net\":[{\"if\":\"eth0\",\"dhcp\":false,\"addr\":\"10.0.2.15/24\"}]}", &e);
    check(!r2 && !cfg.net[0].dhcp && cfg.net[0].has_addr, "config net: dhcp false with addr");
  }
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"vdb\"}]}", "blk[0].mount", "is missing");
  config_bad("{\"v\":1,\"blk\":[{\"mount\":\"/data\"}]}", "blk[0].dev", "is missing");
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"/dev/vdb\",\"mount\":\"/data\"}]}", "blk[0].dev", "without \"/dev/\"");
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"vdb\",\"mount\":\"/\"}]}", "blk[0].mount", "cannot mount over");
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"vdb\",\"mount\":\"data\"}]}", "blk[0].mount", "not an absolute path");
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"vdb\",\"mount\":\"/d\",\"ro\":\"yes\"}]}", "blk[0].ro", "must be a boolean, not a string");
  config_bad("{\"v\":1,\"blk\":[{\"dev\":\"vdb\",\"mount\":\"/d\",\"fs\":\"ext4 -o x\"}]}", "blk[0].fs", "not a file system type");
  config_bad("{\"v\":1,\"sysctl\":{\"net.ipv4.ip_forward\":1}}", "sysctl[\"net.ipv4.ip_forward\"]", "must be a string, not a number");
  config_bad("{\"v\":1,\"sysctl\":{\"net..x\":\"1\"}}", "sysctl[\"net..x\"]", "is not a sysctl name");
  config_bad("{\"v\":1,\"sysctl\":{\"../../etc/x\":\"1\"}}", "sysctl[\"../../etc/x\"]", "is not a sysctl name");
  config_bad("{\"v\":1,\"sysctl\":{\"a/../b\":\"1\"}}", "sysctl[\"a/../b\"]", "is not a sysctl name");
  config_bad("{\"v\":1,\"sysctl\":{\"a b\":\"1\"}}", "sysctl[\"a b\"]", "is not a sysctl name");
  config_bad("{\"v\":1,\"routes\":[{\"dst\":\"10.1.2.0/16\",\"via\":\"10.0.2.2\"}]}", "routes[0].dst", "host bits set");
  config_bad("{\"v\":1,\"routes\":[{\"dst\":\"10.1.0.0/16\"}]}", "routes[0].via", "is missing");
  config_bad("{\"v\":1,\"routes\":[{\"via\":\"10.0.2.2\"}]}", "routes[0].dst", "is missing");
  config_bad("{\"v\":1,\"cwd\":\"srv\"}", "cwd", "is not an absolute path");
  config_bad("{\"v\":1,\"cwd\":[]}", "cwd", "must be a string, not an array");
  config_bad("{\"v\":1,\"rc\":[{\"bin\":\"/x\",]}", "rc[0]", "invalid JSON at byte 25: expected a string key");
  config_bad("{\"v\":1,\"v\":1}", "v", "invalid JSON at byte 7: duplicate key");

  /* limits */
  char t[8192];
  size_t o = (size_t)sprintf(t, "{\"v\":1,\"rc\":[");
  for (int i = 0; i < KILN_MAX_RC + 1; i++) o += (size_t)sprintf(t + o, "%s{\"bin\":\"/x\",\"mode\":\"bg\"}", i ? "," : "");
  sprintf(t + o, "]}");
  config_bad(t, "rc", "too many programs (limit 16)");
  o = (size_t)sprintf(t, "{\"v\":1,\"rc\":[{\"bin\":\"/x\",\"argv\":[");
  for (int i = 0; i < KILN_MAX_ARGS; i++) o += (size_t)sprintf(t + o, "%s\"%d\"", i ? "," : "", i);
  sprintf(t + o, "]}]}");
  check(load1(t, &e) == 0 && cfg.rc[0].argc == KILN_MAX_ARGS && !cfg.rc[0].argv[KILN_MAX_ARGS], "config takes 64 arguments");
  o = (size_t)sprintf(t, "{\"v\":1,\"env\":{");
  for (int i = 0; i < KILN_MAX_ENV - 1; i++) o += (size_t)sprintf(t + o, "%s\"V%d\":\"x\"", i ? "," : "", i);
  sprintf(t + o, "}}");
  config_bad(t, "env.V126", "too many variables (limit 128)");
}

/* ---- cmdline ---- */

static int xs_on(const struct kiln_cmdline *kc) { return kc->xs; }
static int seed_taken(const struct kiln_cmdline *kc) { return kc->has_seed; }
static int time_taken(const struct kiln_cmdline *kc) { return kc->time_s >= 0; }

/* Whether no command line of `lines` makes cmdline_parse set what `taken` reads; each that does is noted. */
static int none_taken(const char *const *lines, size_t n, int (*taken)(const struct kiln_cmdline *),
                      const char *what) {
  int none = 1;
  for (size_t k = 0; k < n; k++) {
    char line[256];
    struct kiln_cmdline kc;
    snprintf(line, sizeof line, "%s", lines[k]);
    cmdline_parse(line, &kc);
    if (taken(&kc)) {
      note("%s %s", lines[k], what);
      none = 0;
    }
  }
  return none;
}

static void test_cmdline(void) {
  char line[512];
  struct kiln_cmdline kc;

  strcpy(line, "console=ttyS0 quiet panic=-1 kiln.config=eyJ2IjoxfQ kiln.debug=1\n");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "eyJ2IjoxfQ") && kc.debug == 1, "cmdline finds kiln.config and kiln.debug");

  strcpy(line, "quiet");
  cmdline_parse(line, &kc);
  check(!kc.config && !kc.debug && !kc.dev, "cmdline without kiln parameters");

  strcpy(line, "quiet kiln.dev=net,blk reboot=t");
  cmdline_parse(line, &kc);
  check(kc.dev && !strcmp(kc.dev, "net,blk"), "cmdline finds kiln.dev");

  strcpy(line, "kiln.dev=net kiln.dev=none");
  cmdline_parse(line, &kc);
  check(kc.dev && !strcmp(kc.dev, "none"), "cmdline: the last kiln.dev wins");

  strcpy(line, "kiln.config=a kiln.config=b kiln.debug kiln.debug=0");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "b") && kc.debug == 0, "cmdline: the last value wins");

  strcpy(line, "kiln.debug");
  cmdline_parse(line, &kc);
  check(kc.debug == 1 && !kc.xs, "cmdline: bare kiln.debug turns it on");

  strcpy(line, "console=hvc0 kiln.xs=1");
  cmdline_parse(line, &kc);
  check(kc.xs == 1, "cmdline finds kiln.xs=1");
  const char *xs_off[] = {"kiln.xs", "kiln.xs=0", "kiln.xs=", "kiln.xs=yes", "kiln.xs=1 kiln.xs=0", "kiln.xsx=1"};
  check(none_taken(xs_off, sizeof xs_off / sizeof xs_off[0], xs_on, "turned xenstore on"),
        "cmdline: only kiln.xs=1 turns xenstore on (a read in dom0 would block)");

  strcpy(line,
         "kiln.hold=1 kiln.seed=00ff10aa00000000000000000000000000000000000000000000000000000001 "
         "kiln.time=1796688000.123456789 kiln.config=e30");
  cmdline_parse(line, &kc);
  check(kc.hold && kc.has_seed && kc.seed[0] == 0 && kc.seed[1] == 0xff && kc.seed[2] == 0x10 &&
            kc.seed[3] == 0xaa && kc.seed[31] == 1 && kc.time_s == 1796688000LL && kc.time_ns == 123456789 &&
            kc.config && !strcmp(kc.config, "e30"),
        "cmdline finds kiln.hold, kiln.seed, kiln.time (a restored boot state's parameters)");
  const char *bad_seed[] = {"kiln.seed=00", "kiln.seed=" "00FF10aa00000000000000000000000000000000000000000000000000000001",
                            "kiln.seed=00ff10aa000000000000000000000000000000000000000000000000000000011",
                            "kiln.seed", "kiln.seed=00ff10aa0000000000000000000000000000000000000000000000000000000g"};
  check(none_taken(bad_seed, sizeof bad_seed / sizeof bad_seed[0], seed_taken, "was taken as a seed"),
        "cmdline: a seed is exactly 64 lower-case hex digits");
  const char *bad_time[] = {"kiln.time=1", "kiln.time=1.5", "kiln.time=.123456789", "kiln.time=1.1234567890",
                            "kiln.time=1234567890123.000000000", "kiln.time=-1.000000000", "kiln.time=1.12345678x",
                            "kiln.time=5.000000000 kiln.time=x"};
  check(none_taken(bad_time, sizeof bad_time / sizeof bad_time[0], time_taken, "was taken as a time"),
        "cmdline: a time is <seconds>.<9 digits>, and a bad last one leaves none");

  strcpy(line, "kiln.config=a -- kiln.config=b kiln.debug=1");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "a") && !kc.debug, "cmdline stops at \"--\" (the rest is init's argv)");

  strcpy(line, "x=\"a -- b\" kiln.config=q");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "q"), "cmdline: quotes hide \"--\"");

  strcpy(line, "\t kiln.config=\"x y\"\t\n");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "x y"), "cmdline: quoted value with a space");

  strcpy(line, "\"kiln.config=p q\"");
  cmdline_parse(line, &kc);
  check(kc.config && !strcmp(kc.config, "p q"), "cmdline: quoted whole parameter");

  /* splitting exactly like the kernel's next_arg() */
  strcpy(line, "foo bar=\"baz qux\" \"quoted param\" x=\" y\" z=\"a\"b w=a\"b c\"d e=\xa0" "f g\xa0h");
  const char *want[][2] = {{"foo", NULL},     {"bar", "baz qux"}, {"quoted param", NULL}, {"x", " y"},
                           {"z", "a\"b"},     {"w", "a\"b c\"d"}, {"e", ""},              {"f", NULL},
                           {"g", NULL},       {"h", NULL}};
  char *args = line;
  size_t i = 0;
  int ok = 1;
  while (*args) {
    char *p, *v;
    args = cmdline_next(args, &p, &v);
    if (i >= sizeof want / sizeof want[0]) {
      ok = 0;
      note("extra parameter %s", p);
      break;
    }
    int same = !strcmp(p, want[i][0]) && (want[i][1] ? v && !strcmp(v, want[i][1]) : !v);
    if (!same) note("parameter %zu: got %s=%s", i, p, v ? v : "(none)");
    ok &= same;
    i++;
  }
  check(ok && i == sizeof want / sizeof want[0], "cmdline splits like the kernel (quotes, NBSP)");
  check(cmdline_parameq("a-b_c", "a_b-c") && !cmdline_parameq("ab", "abc") && !cmdline_parameq("a.b", "a-b"),
        "cmdline_parameq");
}

/* ---- base64url ---- */

static void test_base64url(void) {
  const char *vec[][2] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},         {"foo", "Zm9v"},
                          {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
    char enc[32];
    unsigned char dec[32];
    size_t bad, l = strlen(vec[i][0]);
    b64url_encode((const unsigned char *)vec[i][0], l, enc);
    long n = b64url_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof dec, &bad);
    check(!strcmp(enc, vec[i][1]) && n == (long)l && !memcmp(dec, vec[i][0], l), "base64url %s <-> %s", vec[i][1],
          vec[i][0]);
  }
  const struct {
    const char *in;
    size_t bad;
  } bads[] = {{"Zg==", 2}, {"Z", 1}, {"Zm9vY", 5}, {"Zh", 1}, {"Zm9=", 3}, {"Zm+v", 2}, {"Zm/v", 2}, {"Zm 9", 2},
              {"Zm9\n", 3}};
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    unsigned char dec[32];
    size_t bad = 99;
    long n = b64url_decode(bads[i].in, strlen(bads[i].in), dec, sizeof dec, &bad);
    check(n == -1 && bad == bads[i].bad, "base64url rejects \"%s\" at %zu", bads[i].in, bads[i].bad);
    if (n != -1 || bad != bads[i].bad) note("got %ld, bad at %zu", n, bad);
  }
  unsigned char dec[4];
  size_t bad;
  check(b64url_decode("Zm9vYmFy", 8, dec, sizeof dec, &bad) == -1 && bad == 8, "base64url refuses to overflow its output");
  /* every byte value and every length up to 300 round-trips */
  unsigned char raw[300], back[300];
  char enc[B64URL_ENCODED_LEN(300) + 1];
  int ok = 1;
  for (int i = 0; i < 300; i++) raw[i] = (unsigned char)(i * 7 + 3);
  for (size_t l = 0; l <= 300 && ok; l++) {
    size_t el = b64url_encode(raw, l, enc);
    long n = b64url_decode(enc, el, back, sizeof back, &bad);
    ok = el == B64URL_ENCODED_LEN(l) && n == (long)l && !memcmp(raw, back, l) && !strpbrk(enc, "+/=");
  }
  check(ok, "base64url round-trips every length up to 300");
}

/* ---- DHCP ---- */

static const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* A server reply as RFC 2131 lays it out: op 2, the client's xid and MAC, yiaddr, the cookie, `opts`. */
static size_t reply(uint8_t *b, uint32_t xid, const uint8_t *opts, size_t n) {
  memset(b, 0, 240);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  b[4] = (uint8_t)(xid >> 24), b[5] = (uint8_t)(xid >> 16), b[6] = (uint8_t)(xid >> 8), b[7] = (uint8_t)xid;
  b[16] = 10, b[17] = 0, b[18] = 2, b[19] = 15; /* yiaddr 10.0.2.15 */
  b[20] = 10, b[21] = 0, b[22] = 2, b[23] = 2;  /* siaddr */
  memcpy(b + 28, MAC, 6);
  b[236] = 99, b[237] = 130, b[238] = 83, b[239] = 99;
  memcpy(b + 240, opts, n);
  return 240 + n;
}

static void test_dhcp(void) {
  uint8_t m[DHCP_MSG_MAX], r[1024];
  size_t n = dhcp_build(m, DHCP_DISCOVER, 0xdeadbeef, MAC, 0, 0, 0);
  check(n == 300 && m[0] == 1 && m[1] == 1 && m[2] == 6 && m[4] == 0xde && m[7] == 0xef && m[10] == 0x80 &&
            !memcmp(m + 28, MAC, 6) && m[236] == 99 && m[239] == 99 && m[240] == 53 && m[241] == 1 && m[242] == 1,
        "dhcp DISCOVER: BOOTP request, broadcast flag, our MAC, cookie, type first");
  n = dhcp_build(m, DHCP_REQUEST, 7, MAC, 0, 0x0a00020f, 0x0a000202);
  check(m[242] == 3 && m[243] == 50 && m[244] == 4 && m[245] == 10 && m[248] == 15 && m[249] == 54 && m[251] == 10 &&
            m[254] == 2,
        "dhcp REQUEST (selecting): requested address and server identifier");
  n = dhcp_build(m, DHCP_REQUEST, 7, MAC, 0x0a00020f, 0, 0);
  check(m[10] == 0 && m[12] == 10 && m[15] == 15 && m[243] == 57, "dhcp REQUEST (renewing): ciaddr, unicast, no 50/54");

  struct dhcp_lease l;
  static const uint8_t ack[] = {53, 1, 5, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0, 3, 8, 10, 0, 2, 2, 10, 0, 2, 1,
                                6, 8, 10, 0, 2, 3, 8, 8, 8, 8, 51, 4, 0, 0, 0x0e, 0x10, 26, 2, 5, 0xdc, 0, 0, 255};
  n = reply(r, 42, ack, sizeof ack);
  check(!dhcp_parse(r, n, 42, MAC, &l) && l.type == DHCP_ACK && l.addr == 0x0a00020f && l.server == 0x0a000202 &&
            l.prefix == 24 && l.router == 0x0a000202 && l.n_dns == 2 && l.dns[1] == 0x08080808 && l.lease_s == 3600 &&
            l.renew_s == 1800 && l.mtu == 1500,
        "dhcp ACK: address, server, /24, first router, two DNS, lease, T1 = lease/2, MTU");
  check(dhcp_parse(r, n, 43, MAC, &l) == -1, "dhcp: another transaction's reply is not ours");
  uint8_t other[6] = {2, 0, 0, 0, 0, 1};
  check(dhcp_parse(r, n, 42, other, &l) == -1, "dhcp: another client's reply is not ours");
  check(dhcp_parse(r, n - 1, 42, MAC, &l) == -1, "dhcp: no end option: refused");
  check(dhcp_parse(r, 239, 42, MAC, &l) == -1, "dhcp: shorter than BOOTP: refused");
  static const uint8_t overrun[] = {53, 1, 2, 6, 200, 10};
  n = reply(r, 1, overrun, sizeof overrun);
  check(dhcp_parse(r, n, 1, MAC, &l) == -1, "dhcp: an option longer than the message: refused");
  static const uint8_t offer[] = {53, 1, 2, 0, 0, 58, 4, 0, 0, 0, 100, 51, 4, 0xff, 0xff, 0xff, 0xff, 255};
  n = reply(r, 1, offer, sizeof offer);
  check(!dhcp_parse(r, n, 1, MAC, &l) && l.type == DHCP_OFFER && l.server == 0x0a000202 && l.prefix == -1 &&
            l.lease_s == 0xffffffffu && l.renew_s == 100 && !l.router && !l.n_dns,
        "dhcp OFFER: pads skipped, no server id: siaddr; infinite lease with T1; no mask");
  static const uint8_t holes[] = {53, 1, 5, 1, 4, 255, 0, 255, 0, 255};
  n = reply(r, 1, holes, sizeof holes);
  check(!dhcp_parse(r, n, 1, MAC, &l) && l.prefix == -1, "dhcp: a non-contiguous netmask is no prefix");
  static const uint8_t inform[] = {53, 1, 8, 255};
  n = reply(r, 1, inform, sizeof inform);
  check(dhcp_parse(r, n, 1, MAC, &l) == -1, "dhcp: a message type other than OFFER, ACK, NAK: refused");
  static const uint8_t nak[] = {53, 1, 6, 255};
  n = reply(r, 1, nak, sizeof nak);
  check(!dhcp_parse(r, n, 1, MAC, &l) && l.type == DHCP_NAK, "dhcp NAK");
  static const uint8_t badlen[] = {53, 2, 5, 0, 255};
  n = reply(r, 1, badlen, sizeof badlen);
  check(dhcp_parse(r, n, 1, MAC, &l) == -1, "dhcp: a message type of the wrong length: refused");
}

/* ---- xenstore ---- */

static uint32_t u32_at(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* A reply as xenstored (through the xenbus device) sends it: header, then len payload bytes. */
static size_t xs_reply(unsigned char *b, uint32_t type, uint32_t id, const char *body, size_t len) {
  uint32_t h[4] = {type, id, 0, (uint32_t)len};
  memcpy(b, h, sizeof h);
  memcpy(b + XS_HEADER, body, len);
  return XS_HEADER + len;
}

struct fake_key {
  const char *path;
  const char *value; /* NULL: the key does not exist */
  size_t len;        /* 0: strlen(value) */
};

enum fake_mode { FAKE_OK, FAKE_SILENT, FAKE_CLOSE, FAKE_WRONG_ID, FAKE_EACCES, FAKE_DRIP };

static int read_all(int fd, unsigned char *b, size_t n) {
  for (size_t o = 0; o < n;) {
    ssize_t r = read(fd, b + o, n - o);
    if (r <= 0) return -1;
    o += (size_t)r;
  }
  return 0;
}

static void write_all(int fd, const unsigned char *b, size_t n) {
  for (size_t o = 0; o < n;) {
    ssize_t w = write(fd, b + o, n - o);
    if (w <= 0) return;
    o += (size_t)w;
  }
}

/* The children of `dir` among `keys`, in table order, as an XS_DIRECTORY reply lists them. Returns the
 * payload's length, or -1 when dir has no children (ENOENT). */
static long fake_list(const struct fake_key *keys, const char *dir, char *out, size_t cap) {
  size_t dl = strlen(dir), o = 0;
  int any = 0;
  for (const struct fake_key *k = keys; k->path; k++) {
    const char *name = k->path + dl + 1;
    if (strncmp(k->path, dir, dl) || k->path[dl] != '/' || strchr(name, '/')) continue;
    size_t l = strlen(name) + 1;
    if (l > cap - o) break;
    memcpy(out + o, name, l);
    o += l;
    any = 1;
  }
  return any ? (long)o : -1;
}

/* A fake xenstored serving `keys` on fd; writes each path it was asked for, one per line, to `seen` (a
 * listing as "ls PATH"). A request that is not a well-formed XS_READ or XS_DIRECTORY outside a transaction
 * gets the error EINVAL. */
static void fake_xenstored(int fd, int seen, const struct fake_key *keys, enum fake_mode mode) {
  static unsigned char req[XS_MSG_MAX], rep[XS_MSG_MAX];
  static char names[XS_PAYLOAD_MAX];
  while (read_all(fd, req, XS_HEADER) == 0) {
    uint32_t type = u32_at(req), id = u32_at(req + 4), tx = u32_at(req + 8), len = u32_at(req + 12);
    if (len > XS_PAYLOAD_MAX || read_all(fd, req + XS_HEADER, len)) break;
    const char *path = (const char *)req + XS_HEADER;
    int ok = (type == XS_READ || type == XS_DIRECTORY) && tx == 0 && len > 1 && !path[len - 1] &&
             strlen(path) == len - 1;
    if (ok) {
      if (type == XS_DIRECTORY) write_all(seen, (const unsigned char *)"ls ", 3);
      write_all(seen, (const unsigned char *)path, len - 1);
      write_all(seen, (const unsigned char *)"\n", 1);
    }
    if (mode == FAKE_CLOSE) break;
    if (mode == FAKE_SILENT) continue;
    const struct fake_key *k = keys;
    while (ok && k->path && strcmp(k->path, path)) k++;
    long listed = ok && type == XS_DIRECTORY ? fake_list(keys, path, names, sizeof names) : -1;
    uint32_t rid = mode == FAKE_WRONG_ID ? id + 1 : id;
    size_t n;
    if (!ok) n = xs_reply(rep, XS_ERROR, id, "EINVAL", 7);
    else if (mode == FAKE_EACCES) n = xs_reply(rep, XS_ERROR, id, "EACCES", 7);
    else if (type == XS_DIRECTORY) n = listed < 0 ? xs_reply(rep, XS_ERROR, id, "ENOENT", 7)
                                                 : xs_reply(rep, XS_DIRECTORY, rid, names, (size_t)listed);
    else if (!k->path || !k->value) n = xs_reply(rep, XS_ERROR, id, "ENOENT", 7);
    else n = xs_reply(rep, XS_READ, rid, k->value, k->len ? k->len : strlen(k->value));
    if (mode == FAKE_DRIP) {
      /* in pieces, across the header's end, with pauses: the client must gather a reply from partial reads */
      struct timespec t = {0, 2 * 1000 * 1000};
      for (size_t o = 0; o < n; o += 7) {
        write_all(fd, rep + o, n - o < 7 ? n - o : 7);
        nanosleep(&t, NULL);
      }
    } else {
      write_all(fd, rep, n);
    }
  }
}

struct xs_run;
typedef int (*xs_client)(int fd, struct xs_run *x);

struct xs_run {
  int r;
  size_t len;
  char why[256];
  char seen[16384];
  /* in */
  size_t cap;
  int timeout_ms;
  /* out: xs_read_target(), xs_read_dm_argv() */
  long target;
  struct xs_dm dm;
};

static char xs_out[JSON_MAX_INPUT + 8];
static const char *dm_args[1100];

static int client_config(int fd, struct xs_run *x) {
  return xs_read_config(fd, x->timeout_ms, xs_out, x->cap, &x->len, x->why, sizeof x->why);
}

static int client_target(int fd, struct xs_run *x) {
  return xs_read_target(fd, x->timeout_ms, &x->target, x->why, sizeof x->why);
}

/* One key's value, with x->cap bytes of room (what stage_boot_files reads: a disk's backend and params). */
static int client_read(int fd, struct xs_run *x) {
  int r = xs_read(fd, x->timeout_ms, "device/vbd/51728/backend", xs_out, x->cap, x->why, sizeof x->why);
  x->len = r == XS_OK ? strlen(xs_out) : 0;
  return r;
}

/* The device model's arguments of domain 5, into dm_args and xs_out; x->dm.max says how many fit. */
static int client_dm(int fd, struct xs_run *x) {
  memset(dm_args, 0, sizeof dm_args);
  x->dm.target = 5;
  x->dm.argv = dm_args;
  x->dm.store = xs_out;
  x->dm.cap = x->cap;
  return xs_read_dm_argv(fd, x->timeout_ms, &x->dm, x->why, sizeof x->why);
}

/* `client` talking to a fake xenstored serving `keys`. */
static struct xs_run xs_talk(xs_client client, const struct fake_key *keys, enum fake_mode mode, size_t cap,
                             int timeout_ms, int dm_max) {
  static struct xs_run x;
  memset(&x, 0, sizeof x);
  x.cap = cap;
  x.timeout_ms = timeout_ms;
  x.dm.max = dm_max;
  int sv[2], pv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(pv)) {
    x.r = 99;
    return x;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    close(pv[0]);
    fake_xenstored(sv[1], pv[1], keys, mode);
    _exit(0);
  }
  close(sv[1]);
  close(pv[1]);
  x.r = client(sv[0], &x);
  close(sv[0]);
  size_t o = 0;
  ssize_t k;
  while (o < sizeof x.seen - 1 && (k = read(pv[0], x.seen + o, sizeof x.seen - 1 - o)) > 0) o += (size_t)k;
  close(pv[0]);
  waitpid(pid, NULL, 0);
  return x;
}

static struct xs_run xs_against(const struct fake_key *keys, enum fake_mode mode, size_t cap, int timeout_ms) {
  return xs_talk(client_config, keys, mode, cap, timeout_ms, 0);
}

static void test_xenstore(void) {
  unsigned char m[XS_MSG_MAX + 8];
  size_t n = xs_build(m, sizeof m, XS_READ, 7, "kiln/config");
  check(n == XS_HEADER + 12 && u32_at(m) == XS_READ && u32_at(m + 4) == 7 && u32_at(m + 8) == 0 &&
            u32_at(m + 12) == 12 && !memcmp(m + XS_HEADER, "kiln/config", 12),
        "xenstore read request: XS_READ, request id, no transaction, the path with its NUL");
  static char longpath[XS_PAYLOAD_MAX + 1];
  memset(longpath, 'a', XS_PAYLOAD_MAX);
  check(xs_build(m, sizeof m, XS_READ, 1, longpath) == 0, "xenstore: a path beyond the payload limit is not sent");
  check(xs_build(m, XS_HEADER + 11, XS_READ, 1, "kiln/config") == 0, "xenstore: a request larger than the buffer is not built");
  check(xs_msg_size(m, 0) == XS_HEADER && xs_msg_size(m, 15) == XS_HEADER && xs_msg_size(m, 16) == XS_HEADER + 12,
        "xenstore message size: the header first, then header plus payload");

  const char *v = NULL;
  size_t vl = 0;
  char why[128];
  n = xs_reply(m, XS_READ, 3, "{\"v\":1}", 7);
  check(xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why) == XS_OK && vl == 7 && v == (const char *)m + XS_HEADER,
        "xenstore read reply: the value, in place");
  n = xs_reply(m, XS_READ, 3, "", 0);
  check(xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why) == XS_OK && vl == 0, "xenstore: an empty value");
  n = xs_reply(m, XS_ERROR, 3, "ENOENT", 7);
  check(xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why) == XS_NONE, "xenstore: ENOENT means no such key");
  n = xs_reply(m, XS_ERROR, 3, "ENOENT", 6);
  check(xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why) == XS_NONE, "xenstore: ENOENT without its NUL too");
  n = xs_reply(m, XS_ERROR, 3, "ENOENTX", 8);
  check(xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why) == XS_IO, "xenstore: only ENOENT itself is no key");
  n = xs_reply(m, XS_ERROR, 3, "EACCES", 7);
  int r = xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why);
  check(r == XS_IO && !strcmp(why, "error \"EACCES\""), "xenstore: another error is a failure naming it");
  n = xs_reply(m, XS_READ, 4, "x", 1);
  r = xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why);
  check(r == XS_IO && strstr(why, "request 4 instead of 3"), "xenstore: a reply to another request is refused");
  n = xs_reply(m, 15 /* XS_WATCH_EVENT */, 3, "a\0b", 4);
  r = xs_parse_reply(m, n, XS_READ, 3, &v, &vl, why, sizeof why);
  check(r == XS_IO && strstr(why, "type 15"), "xenstore: a reply of another type is refused");
  n = xs_reply(m, XS_READ, 3, "abc", 3);
  check(xs_parse_reply(m, n - 1, XS_READ, 3, &v, &vl, why, sizeof why) == XS_IO, "xenstore: a truncated reply is refused");
  uint32_t huge = XS_PAYLOAD_MAX + 1;
  memcpy(m + 12, &huge, 4);
  check(xs_msg_size(m, XS_HEADER) == -1, "xenstore: a header announcing more than 4096 bytes is refused");

  const struct {
    const char *in;
    int want;
  } counts[] = {{"1", 1},  {"3", 3},  {"64", 64},  {"65", -1},  {"0", -1},      {"07", -1}, {"100", -1},
                {"", -1},  {"{\"v\":1}", 0}, {"3a", 0}, {"-1", 0}, {" 3", 0}, {"3\n", 0}};
  int ok = 1;
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    int got = xs_chunk_count(counts[i].in, strlen(counts[i].in));
    if (got != counts[i].want) note("chunk count of \"%s\": %d, not %d", counts[i].in, got, counts[i].want);
    ok &= got == counts[i].want;
  }
  check(ok, "xenstore chunk count: 1 to 64 in plain decimal; other non-digits are the configuration");

  /* the whole exchange, against a fake xenstored */
  static const char doc[] = "{\"v\":1,\"hostname\":\"xen\"}";
  const struct fake_key none[] = {{NULL, NULL, 0}};
  struct xs_run x = xs_against(none, FAKE_OK, JSON_MAX_INPUT, 2000);
  check(x.r == XS_NONE && !strcmp(x.seen, "kiln/config\n"), "xenstore config: no key, no configuration");
  const struct fake_key whole[] = {{"kiln/config", doc, 0}, {NULL, NULL, 0}};
  x = xs_against(whole, FAKE_OK, JSON_MAX_INPUT, 2000);
  check(x.r == XS_OK && x.len == strlen(doc) && !memcmp(xs_out, doc, x.len), "xenstore config: the value itself");
  x = xs_against(whole, FAKE_DRIP, JSON_MAX_INPUT, 2000);
  check(x.r == XS_OK && x.len == strlen(doc) && !memcmp(xs_out, doc, x.len),
        "xenstore config: a reply arriving in pieces is gathered");
  const struct fake_key chunked[] = {{"kiln/config", "3", 0},
                                     {"kiln/config/0", "{\"v\":1,", 0},
                                     {"kiln/config/1", "\"hostname\"", 0},
                                     {"kiln/config/2", ":\"xen\"}", 0},
                                     {NULL, NULL, 0}};
  x = xs_against(chunked, FAKE_OK, JSON_MAX_INPUT, 2000);
  check(x.r == XS_OK && x.len == strlen(doc) && !memcmp(xs_out, doc, x.len) &&
            !strcmp(x.seen, "kiln/config\nkiln/config/0\nkiln/config/1\nkiln/config/2\n"),
        "xenstore config: three chunks read in order and joined");
  if (x.r) note("%d: %s; asked for: %s", x.r, x.why, x.seen);

  /* the largest: 64 chunks of 1024 bytes, exactly JSON_MAX_INPUT */
  static char big[XS_MAX_CHUNKS][1024];
  static char names[XS_MAX_CHUNKS][24];
  static struct fake_key many[XS_MAX_CHUNKS + 2];
  many[0] = (struct fake_key){"kiln/config", "64", 0};
  for (int i = 0; i < XS_MAX_CHUNKS; i++) {
    memset(big[i], 'a' + i % 26, sizeof big[i]);
    snprintf(names[i], sizeof names[i], "kiln/config/%d", i);
    many[i + 1] = (struct fake_key){names[i], big[i], sizeof big[i]};
  }
  many[XS_MAX_CHUNKS + 1] = (struct fake_key){NULL, NULL, 0};
  x = xs_against(many, FAKE_OK, JSON_MAX_INPUT, 2000);
  check(x.r == XS_OK && x.len == JSON_MAX_INPUT && xs_out[0] == 'a' && xs_out[JSON_MAX_INPUT - 1] == 'a' + 63 % 26,
        "xenstore config: 64 chunks of 1 KiB fill the 64 KiB limit");
  x = xs_against(many, FAKE_OK, JSON_MAX_INPUT - 1, 2000);
  check(x.r == XS_BAD && strstr(x.why, "larger than 65535 bytes"), "xenstore config: one byte more is refused");

  const struct fake_key gap[] = {{"kiln/config", "3", 0}, {"kiln/config/0", "{", 0}, {"kiln/config/2", "}", 0},
                                 {NULL, NULL, 0}};
  x = xs_against(gap, FAKE_OK, JSON_MAX_INPUT, 2000);
  check(x.r == XS_BAD && !strcmp(x.why, "kiln/config/1 is missing (kiln/config says 3 chunks)"),
        "xenstore config: a missing chunk is a configuration error");
  const char *badcounts[] = {"0", "65", "007", ""};
  for (size_t i = 0; i < sizeof badcounts / sizeof badcounts[0]; i++) {
    const struct fake_key bc[] = {{"kiln/config", badcounts[i], 0}, {NULL, NULL, 0}};
    x = xs_against(bc, FAKE_OK, JSON_MAX_INPUT, 2000);
    check(x.r == XS_BAD && strstr(x.why, "the number of its chunks (1 to 64)"),
          "xenstore config: chunk count \"%s\" is refused", badcounts[i]);
  }
  x = xs_against(whole, FAKE_SILENT, JSON_MAX_INPUT, 200);
  check(x.r == XS_IO && !strcmp(x.why, "no reply to a read of kiln/config within 200 ms (is xenstored running?)"),
        "xenstore config: a silent xenstore is a failure after the timeout, not a hang");
  x = xs_against(chunked, FAKE_CLOSE, JSON_MAX_INPUT, 2000);
  check(x.r == XS_IO && strstr(x.why, "connection closed"), "xenstore config: a closed connection is a failure");
  x = xs_against(whole, FAKE_EACCES, JSON_MAX_INPUT, 2000);
  check(x.r == XS_IO && !strcmp(x.why, "reading kiln/config: error \"EACCES\""),
        "xenstore config: a refused read is a failure naming the error");
  x = xs_against(chunked, FAKE_WRONG_ID, JSON_MAX_INPUT, 2000);
  check(x.r == XS_IO && strstr(x.why, "instead of 1"), "xenstore config: a reply to another request is a failure");
}


/* ---- Xen stub domains: libxl's target, vm path and dm-argv ---- */

#define VM "/vm/00000000-0000-0000-0000-000000000005"
#define DM VM "/image/dm-argv"

/* The target's vm path and a libxl dm-argv of n arguments ("arg1".."argN"), listed in the order of `order`
 * (the numbers 1..n; NULL: in order). */
static struct fake_key dm_keys[1100];
static char dm_names[1100][64], dm_values[1100][16];
static void dm_table(int n, const int *order) {
  int k = 0;
  dm_keys[k++] = (struct fake_key){"/local/domain/5/vm", VM, 0};
  for (int i = 0; i < n; i++) {
    int a = order ? order[i] : i + 1;
    snprintf(dm_names[i], sizeof dm_names[i], DM "/%03d", a);
    snprintf(dm_values[i], sizeof dm_values[i], "arg%d", a);
    dm_keys[k++] = (struct fake_key){dm_names[i], dm_values[i], 0};
  }
  dm_keys[k] = (struct fake_key){NULL, NULL, 0};
}

/* dm_args[0..n) are "arg1".."argN", in order. */
static int dm_in_order(int n) {
  for (int i = 0; i < n; i++) {
    char want[16];
    snprintf(want, sizeof want, "arg%d", i + 1);
    if (!dm_args[i] || strcmp(dm_args[i], want)) {
      note("argument %d is %s, not %s", i + 1, dm_args[i] ? dm_args[i] : "(none)", want);
      return 0;
    }
  }
  return !dm_args[n];
}

static void test_xen_stubdom(void) {
  unsigned char m[XS_MSG_MAX + 8];
  char why[256];
  size_t n = xs_build(m, sizeof m, XS_DIRECTORY, 9, DM);
  check(n == XS_HEADER + sizeof DM && u32_at(m) == XS_DIRECTORY && u32_at(m + 4) == 9 && u32_at(m + 12) == sizeof DM &&
            !memcmp(m + XS_HEADER, DM, sizeof DM),
        "xen stubdom: a listing request is XS_DIRECTORY (1) with the path and its NUL");
  const char *v = NULL;
  size_t vl = 0;
  n = xs_reply(m, XS_DIRECTORY, 9, "002\0" "001\0", 8);
  check(xs_parse_reply(m, n, XS_DIRECTORY, 9, &v, &vl, why, sizeof why) == XS_OK && vl == 8 &&
            v == (const char *)m + XS_HEADER,
        "xen stubdom: a listing reply, the names in place");
  n = xs_reply(m, XS_READ, 9, "x", 1);
  int r = xs_parse_reply(m, n, XS_DIRECTORY, 9, &v, &vl, why, sizeof why);
  check(r == XS_IO && strstr(why, "type 2 to a listing"), "xen stubdom: a read reply to a listing is refused");
  n = xs_reply(m, XS_DIRECTORY, 9, "001", 4);
  r = xs_parse_reply(m, n, XS_READ, 9, &v, &vl, why, sizeof why);
  check(r == XS_IO && strstr(why, "type 1 to a read"), "xen stubdom: a listing reply to a read is refused");

  const struct {
    const char *in;
    long want;
  } ids[] = {{"5", 5},   {"1", 1},   {"32751", 32751}, {"32752", -1}, {"0", -1},  {"05", -1},
             {"", -1},   {"5\n", -1}, {"-5", -1},      {"123456", -1}, {" 5", -1}, {"5a", -1}};
  int ok = 1;
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    long got = xs_domid(ids[i].in, strlen(ids[i].in));
    if (got != ids[i].want) note("domid \"%s\": %ld, not %ld", ids[i].in, got, ids[i].want);
    ok &= got == ids[i].want;
  }
  check(ok, "xen stubdom: a domain id is plain decimal from 1 to 32751");

  /* the listing: names are exactly 001..N, in any order; numeric, not the order xenstored lists them in */
  const struct {
    const char *list;
    size_t len;
    int want;
    const char *why;
  } lists[] = {
      {"001\0", 4, 1, NULL},
      {"003\0" "001\0" "002\0", 12, 3, NULL},
      {"", 0, -1, DM " holds no arguments"},
      {"\0", 1, -1, DM " holds no arguments"},
      {"001\0" "003\0", 8, -1, DM "/002 is missing (2 arguments listed, up to 003)"},
      {"002\0" "003\0", 8, -1, DM "/001 is missing (2 arguments listed, up to 003)"},
      {"001\0" "001\0", 8, -1, DM "/002 is missing (2 arguments listed, up to 001)"},
      {"001\0" "000\0", 8, -1, DM " holds \"000\", not an argument number like \"001\""},
      {"1\0", 2, -1, DM " holds \"1\", not an argument number like \"001\""},
      {"0001\0", 5, -1, DM " holds \"0001\", not an argument number like \"001\""},
      {"001\0abc\0", 8, -1, DM " holds \"abc\", not an argument number like \"001\""},
      {"001\0\0", 5, -1, DM " holds \"\", not an argument number like \"001\""},
      {"001\0" "002", 7, -1, "the listing of " DM " is malformed (its last name has no NUL)"},
  };
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    why[0] = 0;
    int got = xs_dm_argc(DM, lists[i].list, lists[i].len, why, sizeof why);
    int good = got == lists[i].want && (!lists[i].why || !strcmp(why, lists[i].why));
    const char *said = !lists[i].why ? "" : strncmp(lists[i].why, DM, strlen(DM)) ? lists[i].why : lists[i].why + strlen(VM) + 7;
    check(good, "xen stubdom: listing %zu gives %d%s%s", i, lists[i].want, *said ? ": " : "", said);
    if (!good) note("got %d: %s", got, why);
  }
  /* 1000 names, 001..999 then 1000, listed backwards: 1000 sorts last, as a number */
  static char big[XS_PAYLOAD_MAX];
  size_t bl = 0;
  for (int i = 1000; i >= 1; i--) bl += (size_t)snprintf(big + bl, sizeof big - bl, "%03d", i) + 1;
  check(bl <= XS_PAYLOAD_MAX && xs_dm_argc(DM, big, bl, why, sizeof why) == 1000,
        "xen stubdom: 1000 names backwards (1000 after 999) make 1000 arguments");

  /* ${xen_target} */
  char out[64];
  const struct {
    const char *in, *want;
  } subs[] = {{"device-model/${xen_target}/qmp-vchan", "device-model/7/qmp-vchan"},
              {"${xen_target}${xen_target}", "77"},
              {"${xen_target}", "7"},
              {"no variable", "no variable"},
              {"${xen_target ${XEN_TARGET} $xen_target", "${xen_target ${XEN_TARGET} $xen_target"}};
  ok = 1;
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    long l = xs_subst_target(out, sizeof out, subs[i].in, 7);
    if (l < 0 || strcmp(out, subs[i].want) || (size_t)l != strlen(subs[i].want)) {
      note("%s became %s", subs[i].in, l < 0 ? "(too long)" : out);
      ok = 0;
    }
  }
  check(ok, "xen stubdom: every ${xen_target} becomes the domain id, nothing else changes");
  check(xs_subst_target(out, 8, "a${xen_target}bc", 32751) == -1 &&
            xs_subst_target(out, 9, "a${xen_target}bc", 32751) == 8 && !strcmp(out, "a32751bc"),
        "xen stubdom: ${xen_target} replaced only when the result fits");
  check(xs_target_var("x${xen_target}") && !xs_target_var("${xen_targe}") && !xs_target_var(""),
        "xen stubdom: ${xen_target} found where it is");

  /* the restore placeholder */
  const char *argv[] = {"qemu", "-incoming", XS_RESTORE_ARG, "x" XS_RESTORE_ARG, XS_RESTORE_ARG "x", "$STUBDOM", NULL};
  check(xs_restore_args(argv, NULL) == 1 && !strcmp(argv[2], XS_RESTORE_ARG), "xen stubdom: the restore placeholder counted");
  check(xs_restore_args(argv, "fd:3") == 1 && !strcmp(argv[2], "fd:3") && !strcmp(argv[3], "x" XS_RESTORE_ARG) &&
            !strcmp(argv[4], XS_RESTORE_ARG "x") && !strcmp(argv[1], "-incoming"),
        "xen stubdom: only an argument exactly $STUBDOM_RESTORE_INCOMING_ARG becomes fd:N");

  /* one key, as a stub domain reads its disks' backends */
  const struct fake_key vbd[] = {{"device/vbd/51728/backend", "/local/domain/0/backend/vbd/7/51728", 0},
                                 {NULL, NULL, 0}};
  struct xs_run rd = xs_talk(client_read, vbd, FAKE_OK, 64, 2000, 0);
  check(rd.r == XS_OK && !strcmp(xs_out, "/local/domain/0/backend/vbd/7/51728"), "xs_read: a key's value");
  rd = xs_talk(client_read, vbd, FAKE_OK, 10, 2000, 0);
  check(rd.r == XS_IO && strstr(rd.why, "more than 9 bytes"), "xs_read: a value larger than the room is refused");
  const struct fake_key novbd[] = {{NULL, NULL, 0}};
  rd = xs_talk(client_read, novbd, FAKE_OK, 64, 2000, 0);
  check(rd.r == XS_NONE, "xs_read: a missing key is XS_NONE");

  /* target, against a fake xenstored */
  const struct fake_key target[] = {{"target", "5", 0}, {NULL, NULL, 0}};
  struct xs_run x = xs_talk(client_target, target, FAKE_OK, 0, 2000, 0);
  check(x.r == XS_OK && x.target == 5 && !strcmp(x.seen, "target\n"), "xen stubdom: target read, relative to the domain");
  const struct fake_key none[] = {{NULL, NULL, 0}};
  x = xs_talk(client_target, none, FAKE_OK, 0, 2000, 0);
  check(x.r == XS_NONE && !strcmp(x.why, "this domain has no xenstore key \"target\" (it is not a stub domain)"),
        "xen stubdom: no target, not a stub domain");
  const struct fake_key badtarget[] = {{"target", "dom5", 0}, {NULL, NULL, 0}};
  x = xs_talk(client_target, badtarget, FAKE_OK, 0, 2000, 0);
  check(x.r == XS_BAD && !strcmp(x.why, "target is \"dom5\", not a domain id"), "xen stubdom: a target that is not a domid");
  x = xs_talk(client_target, target, FAKE_SILENT, 0, 200, 0);
  check(x.r == XS_IO && !strcmp(x.why, "no reply to a read of target within 200 ms (is xenstored running?)"),
        "xen stubdom: a silent xenstore fails the target read after the timeout");

  /* the device model's arguments */
  const int shuffled[] = {3, 10, 1, 100, 9, 2, 99};
  int order[100];
  for (int i = 0; i < 100; i++) order[i] = i < 7 ? shuffled[i] : 0;
  for (int i = 4, k = 7; i <= 98; i++)
    if (i != 9 && i != 10) order[k++] = i;
  dm_table(100, order);
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 128 * 1024, 2000, 512);
  if (x.r) note("%d: %s", x.r, x.why);
  check(x.r == XS_OK && x.dm.argc == 100 && dm_in_order(100) && !strcmp(x.dm.dir, DM),
        "xen stubdom: 100 arguments listed out of order are read 001 to 100, in numeric order");
  static const char asked[] = "/local/domain/5/vm\nls " DM "\n" DM "/001\n" DM "/002\n";
  check(!strncmp(x.seen, asked, sizeof asked - 1) && strstr(x.seen, DM "/100\n"),
        "xen stubdom: the vm path, the listing, then each argument");
  x = xs_talk(client_dm, dm_keys, FAKE_DRIP, 128 * 1024, 2000, 512);
  check(x.r == XS_OK && x.dm.argc == 100 && dm_in_order(100), "xen stubdom: replies arriving in pieces are gathered");
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 128 * 1024, 2000, 99);
  check(x.r == XS_BAD && !strcmp(x.why, DM " holds 100 arguments, more than the 99 that fit after the program's own"),
        "xen stubdom: more arguments than fit are refused, with the counts");
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 128 * 1024, 2000, 100);
  check(x.r == XS_OK && x.dm.argc == 100, "xen stubdom: exactly as many as fit are taken");
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 100 * 5, 2000, 512);
  check(x.r == XS_BAD && !strcmp(x.why, "the arguments in " DM " are more than 500 bytes in all"),
        "xen stubdom: more bytes than the store holds are refused");

  /* 512, the most kiln-init passes; and 513 */
  dm_table(513, NULL);
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_BAD && strstr(x.why, "holds 513 arguments, more than the 512"), "xen stubdom: 513 arguments refused");
  dm_table(512, NULL);
  x = xs_talk(client_dm, dm_keys, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_OK && x.dm.argc == 512 && dm_in_order(512), "xen stubdom: 512 arguments read in order");

  /* the restore placeholder comes through as it is; init.c replaces it when it starts the program */
  const struct fake_key restore[] = {{"/local/domain/5/vm", VM, 0},
                                     {DM "/002", "-incoming", 0},
                                     {DM "/001", "-xen-domid", 0},
                                     {DM "/003", XS_RESTORE_ARG, 0},
                                     {NULL, NULL, 0}};
  x = xs_talk(client_dm, restore, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_OK && x.dm.argc == 3 && !strcmp(dm_args[1], "-incoming") && xs_restore_args(dm_args, "fd:3") == 1 &&
            !strcmp(dm_args[2], "fd:3"),
        "xen stubdom: a restore's -incoming $STUBDOM_RESTORE_INCOMING_ARG becomes -incoming fd:N");

  const struct fake_key gap[] = {{"/local/domain/5/vm", VM, 0}, {DM "/001", "a", 0}, {DM "/002", "b", 0},
                                 {DM "/004", "d", 0}, {NULL, NULL, 0}};
  x = xs_talk(client_dm, gap, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_BAD && !strcmp(x.why, DM "/003 is missing (3 arguments listed, up to 004)"),
        "xen stubdom: a gap in the numbering is refused, naming the missing argument");
  const struct fake_key vanished[] = {{"/local/domain/5/vm", VM, 0}, {DM "/001", "a", 0}, {DM "/002", NULL, 0},
                                      {NULL, NULL, 0}};
  x = xs_talk(client_dm, vanished, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_NONE && !strcmp(x.why, DM "/002 is missing (it was listed)"), "xen stubdom: a listed argument that cannot be read");
  const struct fake_key nodm[] = {{"/local/domain/5/vm", VM, 0}, {NULL, NULL, 0}};
  x = xs_talk(client_dm, nodm, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_NONE && !strcmp(x.why, DM " does not exist (libxl writes it for a Linux stub domain's device model)"),
        "xen stubdom: no dm-argv");
  x = xs_talk(client_dm, none, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_NONE && !strcmp(x.why, "/local/domain/5/vm does not exist (is domain 5 gone?)"), "xen stubdom: no vm path");
  const struct fake_key badvm[] = {{"/local/domain/5/vm", "vm/5", 0}, {NULL, NULL, 0}};
  x = xs_talk(client_dm, badvm, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_BAD && !strcmp(x.why, "/local/domain/5/vm is \"vm/5\", not a xenstore path"),
        "xen stubdom: a vm path that is not absolute");
  static char longarg[XS_DM_ARG_MAX + 1];
  memset(longarg, 'a', sizeof longarg);
  const struct fake_key toolong[] = {{"/local/domain/5/vm", VM, 0}, {DM "/001", longarg, XS_DM_ARG_MAX}, 
                                     {DM "/002", longarg, XS_DM_ARG_MAX + 1}, {NULL, NULL, 0}};
  x = xs_talk(client_dm, toolong, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_BAD && !strcmp(x.why, DM "/002 is 4096 bytes long, more than 4095"),
        "xen stubdom: an argument of 4095 bytes is taken, one of 4096 refused");
  const struct fake_key nul[] = {{"/local/domain/5/vm", VM, 0}, {DM "/001", "a\0b", 3}, {NULL, NULL, 0}};
  x = xs_talk(client_dm, nul, FAKE_OK, 128 * 1024, 2000, 512);
  check(x.r == XS_BAD && !strcmp(x.why, DM "/001 holds a NUL byte"), "xen stubdom: an argument holding a NUL byte");
  x = xs_talk(client_dm, restore, FAKE_SILENT, 128 * 1024, 200, 512);
  check(x.r == XS_IO && !strcmp(x.why, "no reply to a read of /local/domain/5/vm within 200 ms (is xenstored running?)"),
        "xen stubdom: a silent xenstore fails after the timeout");
  x = xs_talk(client_dm, restore, FAKE_EACCES, 128 * 1024, 2000, 512);
  check(x.r == XS_IO && !strcmp(x.why, "reading /local/domain/5/vm: error \"EACCES\""), "xen stubdom: a refused read");
  x = xs_talk(client_dm, restore, FAKE_WRONG_ID, 128 * 1024, 2000, 512);
  check(x.r == XS_IO && strstr(x.why, "instead of 2"), "xen stubdom: a reply to another request");
}

/* ---- fw_cfg file directory ---- */

static void dir_entry(unsigned char *e, uint32_t size, uint16_t key, const char *name) {
  memset(e, 0, sizeof(struct fwcfg_file));
  e[0] = (unsigned char)(size >> 24), e[1] = (unsigned char)(size >> 16), e[2] = (unsigned char)(size >> 8);
  e[3] = (unsigned char)size, e[4] = (unsigned char)(key >> 8), e[5] = (unsigned char)key;
  memcpy(e + 8, name, strlen(name));
}

static void test_fwcfg(void) {
  static unsigned char dir[4 + 3 * sizeof(struct fwcfg_file)];
  dir[3] = 3;
  dir_entry(dir + 4, 10, 0x20, "etc/acpi/tables");
  dir_entry(dir + 4 + 64, 300, 0x21, "opt/kiln/boot");
  dir_entry(dir + 4 + 128, 1, 0x22, "opt/kiln/boot2");
  uint32_t size = 0;
  check(fwcfg_find(dir, sizeof dir, "opt/kiln/boot", &size) == 0x21 && size == 300,
        "fw_cfg: finds an item's key and size by its whole name");
  check(fwcfg_find(dir, sizeof dir, "opt/kiln", &size) == -1, "fw_cfg: a prefix is not a name");
  check(fwcfg_find(dir, sizeof dir - 1, "opt/kiln/boot", &size) == -1,
        "fw_cfg: a directory shorter than its count says is refused");
  dir[0] = 1;
  check(fwcfg_find(dir, sizeof dir, "opt/kiln/boot", &size) == -1, "fw_cfg: an absurd count is refused");
  static unsigned char full[4 + sizeof(struct fwcfg_file)];
  full[3] = 1;
  dir_entry(full + 4, 5, 0x30, "0123456789012345678901234567890123456789012345678901234");
  memset(full + 4 + 8, 'x', 56);
  check(fwcfg_find(full, sizeof full, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", &size) == 0x30,
        "fw_cfg: a name filling all 56 bytes, with no NUL, is read whole and no further");
}

int main(void) {
  test_json();
  test_config();
  test_cmdline();
  test_fwcfg();
  test_base64url();
  test_dhcp();
  test_xenstore();
  test_xen_stubdom();
  printf("1..%d\n", n_checks);
  printf("# %d passed, %d failed\n", n_checks - n_failed, n_failed);
  return n_failed ? 1 : 0;
}
