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

size_t xs_build_read(unsigned char *out, size_t cap, uint32_t req_id, const char *path) {
  size_t l = strlen(path) + 1;
  if (l > XS_PAYLOAD_MAX || l > cap || XS_HEADER > cap - l) return 0;
  put32(out, XS_READ);
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

int xs_parse_read_reply(const unsigned char *msg, size_t n, uint32_t req_id, const char **val, size_t *len,
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
  if (type != XS_READ) {
    snprintf(why, why_cap, "a reply of type %lu to a read", (unsigned long)type);
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

/* One XS_READ of `path` and its whole reply into msg. */
static int exchange(int fd, int timeout_ms, uint32_t id, const char *path, unsigned char *msg, size_t *n,
                    char *why, size_t why_cap) {
  size_t l = xs_build_read(msg, XS_MSG_MAX, id, path);
  for (size_t o = 0; o < l;) {
    ssize_t w = write(fd, msg + o, l - o);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      snprintf(why, why_cap, "cannot send a read of %s: %s", path, w ? strerror(errno) : "nothing written");
      return XS_IO;
    }
    o += (size_t)w;
  }
  /* The device hands over a whole reply at once, so the wait is for its first bytes, in practice. */
  size_t got = 0;
  long need;
  while ((need = xs_msg_size(msg, got)) > 0 && (size_t)need > got) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      snprintf(why, why_cap, "no reply to a read of %s within %d ms (is xenstored running?)", path, timeout_ms);
      return XS_IO;
    }
    ssize_t k = r < 0 ? -1 : read(fd, msg + got, (size_t)need - got);
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

/* Read `path` into *val and *len (pointing into msg). */
static int read_key(int fd, int timeout_ms, uint32_t id, const char *path, unsigned char *msg, const char **val,
                    size_t *len, char *why, size_t why_cap) {
  size_t n;
  int r = exchange(fd, timeout_ms, id, path, msg, &n, why, why_cap);
  if (r) return r;
  char what[96];
  r = xs_parse_read_reply(msg, n, id, val, len, what, sizeof what);
  if (r == XS_IO) snprintf(why, why_cap, "reading %s: %s", path, what);
  return r;
}

int xs_read_config(int fd, int timeout_ms, char *out, size_t cap, size_t *len, char *why, size_t why_cap) {
  static unsigned char msg[XS_MSG_MAX];
  const char *v;
  size_t vl;
  int r = read_key(fd, timeout_ms, 1, XS_CONFIG_KEY, msg, &v, &vl, why, why_cap);
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
      r = read_key(fd, timeout_ms, (uint32_t)i + 2, path, msg, &v, &vl, why, why_cap);
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
