#define _POSIX_C_SOURCE 200809L
#include "xenstore.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

static uint32_t get32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* Every request and its reply, one at a time. */
static unsigned char wire[XS_MSG_MAX];

size_t xs_build(unsigned char *out, size_t cap, uint32_t type, uint32_t req_id, const char *path) {
  size_t l = strlen(path) + 1;
  if (l > XS_PAYLOAD_MAX || l > cap || XS_HEADER > cap - l) return 0;
  put32(out, type);
  put32(out + 4, req_id);
  put32(out + 8, 0); /* no transaction */
  put32(out + 12, (uint32_t)l);
  memcpy(out + XS_HEADER, path, l);
  return XS_HEADER + l;
}

long xs_msg_size(const unsigned char *buf, size_t n) {
  if (n < XS_HEADER) return XS_HEADER;
  uint32_t len = get32(buf + 12);
  if (len > XS_PAYLOAD_MAX) return -1;
  return XS_HEADER + (long)len;
}

int xs_parse_reply(const unsigned char *msg, size_t n, uint32_t want, uint32_t req_id, const char **val, size_t *len,
                   char *why, size_t why_cap) {
  long size = xs_msg_size(msg, n);
  if (size < 0 || (size_t)size != n) {
    snprintf(why, why_cap, "a malformed reply");
    return XS_IO;
  }
  uint32_t type = get32(msg), id = get32(msg + 4);
  const char *body = (const char *)msg + XS_HEADER;
  size_t bl = n - XS_HEADER;
  if (id != req_id) {
    snprintf(why, why_cap, "a reply to request %lu instead of %lu", (unsigned long)id, (unsigned long)req_id);
    return XS_IO;
  }
  if (type == XS_ERROR) {
    /* The error's name, sent with its NUL ("ENOENT"). */
    size_t el = 0;
    while (el < bl && body[el]) el++;
    if (el == 6 && !memcmp(body, "ENOENT", 6)) return XS_NONE;
    char name[24];
    snprintf(why, why_cap, "error %s", json_quote(name, sizeof name, body, el));
    return XS_IO;
  }
  if (type != want) {
    snprintf(why, why_cap, "a reply of type %lu to a %s", (unsigned long)type, want == XS_READ ? "read" : "listing");
    return XS_IO;
  }
  *val = body;
  *len = bl;
  return XS_OK;
}

int xs_chunk_count(const char *v, size_t len) {
  if (!len) return -1;
  for (size_t i = 0; i < len; i++)
    if (v[i] < '0' || v[i] > '9') return 0;
  if (v[0] == '0' || len > 2) return -1;
  int n = len == 1 ? v[0] - '0' : (v[0] - '0') * 10 + v[1] - '0';
  return n <= XS_MAX_CHUNKS ? n : -1;
}

/* One request of `type` for `path` and its whole reply into wire. */
static int exchange(int fd, int timeout_ms, uint32_t type, uint32_t id, const char *path, size_t *n, char *why,
                    size_t why_cap) {
  const char *what = type == XS_READ ? "read" : "listing";
  size_t l = xs_build(wire, XS_MSG_MAX, type, id, path);
  if (!l) {
    snprintf(why, why_cap, "a path of %zu bytes is too long for xenstore", strlen(path));
    return XS_IO;
  }
  for (size_t o = 0; o < l;) {
    ssize_t w = write(fd, wire + o, l - o);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      snprintf(why, why_cap, "cannot send a %s of %s: %s", what, path, w ? strerror(errno) : "nothing written");
      return XS_IO;
    }
    o += (size_t)w;
  }
  /* The device hands over a whole reply at once, so the wait is for its first bytes, in practice. */
  size_t got = 0;
  long need;
  while ((need = xs_msg_size(wire, got)) > 0 && (size_t)need > got) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      snprintf(why, why_cap, "no reply to a %s of %s within %d ms (is xenstored running?)", what, path, timeout_ms);
      return XS_IO;
    }
    ssize_t k = r < 0 ? -1 : read(fd, wire + got, (size_t)need - got);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) {
      snprintf(why, why_cap, "reading the reply to %s: %s", path, k ? strerror(errno) : "connection closed");
      return XS_IO;
    }
    got += (size_t)k;
  }
  if (need < 0) {
    snprintf(why, why_cap, "the reply to %s announces more than %d bytes", path, XS_PAYLOAD_MAX);
    return XS_IO;
  }
  *n = got;
  return XS_OK;
}

/* Read or list `path`: the value or the names into *val and *len (pointing into wire). */
static int request(int fd, int timeout_ms, uint32_t type, uint32_t id, const char *path, const char **val,
                   size_t *len, char *why, size_t why_cap) {
  size_t n;
  int r = exchange(fd, timeout_ms, type, id, path, &n, why, why_cap);
  if (r) return r;
  char what[96];
  r = xs_parse_reply(wire, n, type, id, val, len, what, sizeof what);
  if (r == XS_IO) snprintf(why, why_cap, "%s %s: %s", type == XS_READ ? "reading" : "listing", path, what);
  return r;
}

int xs_read(int fd, int timeout_ms, const char *path, char *out, size_t cap, char *why, size_t why_cap) {
  const char *v;
  size_t len;
  int r = request(fd, timeout_ms, XS_READ, 1, path, &v, &len, why, why_cap);
  if (r) return r;
  if (len >= cap) {
    snprintf(why, why_cap, "%s holds more than %zu bytes", path, cap - 1);
    return XS_IO;
  }
  memcpy(out, v, len);
  out[len] = 0;
  return XS_OK;
}

int xs_read_config(int fd, int timeout_ms, char *out, size_t cap, size_t *len, char *why, size_t why_cap) {
  const char *v;
  size_t vl;
  int r = request(fd, timeout_ms, XS_READ, 1, XS_CONFIG_KEY, &v, &vl, why, why_cap);
  if (r) return r;
  int chunks = xs_chunk_count(v, vl);
  if (chunks < 0) {
    char shown[24];
    snprintf(why, why_cap, "%s is %s: it holds the configuration or the number of its chunks (1 to %d)",
             XS_CONFIG_KEY, json_quote(shown, sizeof shown, v, vl), XS_MAX_CHUNKS);
    return XS_BAD;
  }
  size_t o = 0;
  for (int i = 0; i < (chunks ? chunks : 1); i++) {
    if (chunks) {
      char path[32];
      snprintf(path, sizeof path, "%s/%d", XS_CONFIG_KEY, i);
      r = request(fd, timeout_ms, XS_READ, (uint32_t)i + 2, path, &v, &vl, why, why_cap);
      if (r == XS_NONE) {
        snprintf(why, why_cap, "%s is missing (%s says %d chunks)", path, XS_CONFIG_KEY, chunks);
        return XS_BAD;
      }
      if (r) return r;
    }
    if (vl > cap - o) {
      snprintf(why, why_cap, "larger than %zu bytes", cap);
      return XS_BAD;
    }
    memcpy(out + o, v, vl);
    o += vl;
  }
  *len = o;
  return XS_OK;
}

/* 1 to 5 decimal digits and nothing else: their value, or -1. */
static long digits(const char *s, size_t l) {
  long n = 0;
  if (!l || l > 5) return -1;
  for (size_t i = 0; i < l; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    n = n * 10 + (s[i] - '0');
  }
  return n;
}

long xs_domid(const char *v, size_t len) {
  long n = digits(v, len);
  return n > 0 && v[0] != '0' && n < XS_DOMID_FIRST_RESERVED ? n : -1;
}

/* libxl's name of argument i: "%03d", so 001..999, then 1000... Returns i, or -1 for any other name. */
static long arg_number(const char *s, size_t l) {
  long n = digits(s, l);
  return l < 3 || (l > 3 && s[0] == '0') || n <= 0 ? -1 : n;
}

int xs_dm_argc(const char *dir, const char *list, size_t len, char *why, size_t why_cap) {
  /* Every valid name takes at least 4 bytes ("001" and its NUL), so at most this many fit a reply. */
  unsigned char seen[XS_PAYLOAD_MAX / 4 + 1];
  if (len && list[len - 1]) {
    snprintf(why, why_cap, "the listing of %s is malformed (its last name has no NUL)", dir);
    return -1;
  }
  /* oxenstored ends the list with a NUL even when it is empty. */
  if (len == 1) len = 0;
  long count = 0, top = 0;
  for (size_t o = 0; o < len; count++) {
    size_t l = strlen(list + o);
    long i = arg_number(list + o, l);
    if (i < 0) {
      char name[24];
      snprintf(why, why_cap, "%s holds %s, not an argument number like \"001\"", dir, json_quote(name, sizeof name, list + o, l));
      return -1;
    }
    if (i > top) top = i;
    o += l + 1;
  }
  if (!count) {
    snprintf(why, why_cap, "%s holds no arguments", dir);
    return -1;
  }
  if (count >= (long)sizeof seen) {
    snprintf(why, why_cap, "%s holds more names than a reply can", dir);
    return -1;
  }
  memset(seen, 0, sizeof seen);
  for (size_t o = 0; o < len; o += strlen(list + o) + 1) {
    long i = arg_number(list + o, strlen(list + o));
    if (i <= count) seen[i] = 1;
  }
  for (long i = 1; i <= count; i++)
    if (!seen[i]) {
      snprintf(why, why_cap, "%s/%03ld is missing (%ld arguments listed, up to %03ld)", dir, i, count, top);
      return -1;
    }
  return (int)count;
}

const char *xs_target_var(const char *s) {
  for (; *s; s++)
    if (!strncmp(s, XS_TARGET_VAR, sizeof XS_TARGET_VAR - 1)) return s;
  return NULL;
}

long xs_subst_target(char *out, size_t cap, const char *in, long domid) {
  char id[8];
  size_t il = (size_t)snprintf(id, sizeof id, "%ld", domid), vl = strlen(XS_TARGET_VAR), o = 0;
  for (const char *p = in, *hit;; p = hit + vl) {
    hit = xs_target_var(p);
    size_t l = hit ? (size_t)(hit - p) : strlen(p) + 1;
    if (l > cap - o || (hit && il > cap - o - l)) return -1;
    memcpy(out + o, p, l);
    o += l;
    if (!hit) return (long)o - 1;
    memcpy(out + o, id, il);
    o += il;
  }
}

int xs_restore_args(const char **argv, const char *with) {
  int n = 0;
  for (; *argv; argv++)
    if (!strcmp(*argv, XS_RESTORE_ARG)) {
      n++;
      if (with) *argv = with;
    }
  return n;
}

int xs_read_target(int fd, int timeout_ms, long *domid, char *why, size_t why_cap) {
  const char *v;
  size_t vl;
  int r = request(fd, timeout_ms, XS_READ, 1, XS_TARGET_KEY, &v, &vl, why, why_cap);
  if (r == XS_NONE)
    snprintf(why, why_cap, "this domain has no xenstore key \"%s\" (it is not a stub domain)", XS_TARGET_KEY);
  if (r) return r;
  if ((*domid = xs_domid(v, vl)) < 0) {
    char shown[24];
    snprintf(why, why_cap, "%s is %s, not a domain id", XS_TARGET_KEY, json_quote(shown, sizeof shown, v, vl));
    return XS_BAD;
  }
  return XS_OK;
}

int xs_read_dm_argv(int fd, int timeout_ms, struct xs_dm *dm, char *why, size_t why_cap) {
  static const char tail[] = "/image/dm-argv";
  const char *v;
  size_t vl;
  char path[sizeof dm->dir + 16], shown[48];
  dm->argc = 0;
  dm->used = 0;
  snprintf(path, sizeof path, "/local/domain/%ld/vm", dm->target);
  int r = request(fd, timeout_ms, XS_READ, 2, path, &v, &vl, why, why_cap);
  if (r == XS_NONE) snprintf(why, why_cap, "%s does not exist (is domain %ld gone?)", path, dm->target);
  if (r) return r;
  if (vl < 2 || v[0] != '/' || memchr(v, 0, vl) || vl > XS_VM_PATH_MAX) {
    snprintf(why, why_cap, "%s is %s, not a xenstore path", path, json_quote(shown, sizeof shown, v, vl));
    return XS_BAD;
  }
  memcpy(dm->dir, v, vl);
  memcpy(dm->dir + vl, tail, sizeof tail);
  r = request(fd, timeout_ms, XS_DIRECTORY, 3, dm->dir, &v, &vl, why, why_cap);
  if (r == XS_NONE)
    snprintf(why, why_cap, "%s does not exist (libxl writes it for a Linux stub domain's device model)", dm->dir);
  if (r) return r;
  int n = xs_dm_argc(dm->dir, v, vl, why, why_cap);
  if (n < 0) return XS_BAD;
  if (n > dm->max) {
    snprintf(why, why_cap, "%s holds %d arguments, more than the %d that fit after the program's own", dm->dir, n,
             dm->max);
    return XS_BAD;
  }
  for (int i = 1; i <= n; i++) {
    snprintf(path, sizeof path, "%s/%03d", dm->dir, i);
    r = request(fd, timeout_ms, XS_READ, (uint32_t)i + 3, path, &v, &vl, why, why_cap);
    if (r == XS_NONE) snprintf(why, why_cap, "%s is missing (it was listed)", path);
    if (r) return r;
    if (vl > XS_DM_ARG_MAX) {
      snprintf(why, why_cap, "%s is %zu bytes long, more than %d", path, vl, XS_DM_ARG_MAX);
      return XS_BAD;
    }
    if (memchr(v, 0, vl)) {
      snprintf(why, why_cap, "%s holds a NUL byte", path);
      return XS_BAD;
    }
    if (vl >= dm->cap - dm->used) {
      snprintf(why, why_cap, "the arguments in %s are more than %zu bytes in all", dm->dir, dm->cap);
      return XS_BAD;
    }
    memcpy(dm->store + dm->used, v, vl);
    dm->store[dm->used + vl] = 0;
    dm->argv[dm->argc++] = dm->store + dm->used;
    dm->used += vl + 1;
  }
  return XS_OK;
}
