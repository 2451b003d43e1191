/* libFuzzer: kiln-init's xenstore reply parser on arbitrary bytes, as /dev/xen/xenbus might hand them over.
 * The request id is taken from the input itself, so that the fuzzer reaches the payload. Checks what the
 * client relies on: a message's size stays within the wire limit, a value lies inside the reply, every
 * refusal says why, a chunk count is exactly a plain decimal from 1 to 64, and for a stub domain: a listing
 * (XS_DIRECTORY payload, from a reply or the raw bytes) counts as N arguments only when its names are exactly
 * 001..N, a domain id is plain decimal 1 to 32751, and ${xen_target} substitution leaves no variable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../xenstore.h"

/* What xs_dm_argc() must make of list[0..len): N when the names are exactly libxl's "%03d" of 1..N. */
static void check_listing(const char *list, size_t len) {
  char why[128] = "";
  int n = xs_dm_argc("/vm/x/image/dm-argv", list, len, why, sizeof why);
  if (n < 0) {
    if (n != -1 || !why[0] || strlen(why) >= sizeof why) abort();
    return;
  }
  if (n == 0 || !len || list[len - 1]) abort();
  static unsigned char seen[XS_PAYLOAD_MAX + 1];
  memset(seen, 0, sizeof seen);
  int names = 0;
  for (size_t o = 0; o < len; names++) {
    size_t l = strlen(list + o);
    char *end;
    long i = strtol(list + o, &end, 10);
    char back[16];
    snprintf(back, sizeof back, "%03ld", i);
    if (end != list + o + l || i < 1 || i > n || strcmp(back, list + o) || seen[i]) abort();
    seen[i] = 1;
    o += l + 1;
  }
  if (names != n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exact-size copies, so that ASan sees any overread. */
  unsigned char *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  long need = xs_msg_size(copy, size);
  if (need != -1 && (need < XS_HEADER || need > XS_MSG_MAX)) abort();
  if (size < XS_HEADER && need != XS_HEADER) abort();
  uint32_t id = 0;
  if (size >= 8) memcpy(&id, data + 4, 4);
  if (need > 0 && (size_t)need == size) {
    const char *v = NULL;
    size_t vl = 0;
    char why[64] = "";
    int r = xs_parse_reply(copy, size, XS_READ, id, &v, &vl, why, sizeof why);
    if (r == XS_OK && (v != (const char *)copy + XS_HEADER || vl != size - XS_HEADER)) abort();
    if (r == XS_IO && (!why[0] || strlen(why) >= sizeof why)) abort();
    if (r != XS_OK && r != XS_NONE && r != XS_IO) abort();
    /* a reply to another request is never taken */
    if (xs_parse_reply(copy, size, XS_READ, id + 1, &v, &vl, why, sizeof why) != XS_IO) abort();
    /* nor a reply of another type */
    uint32_t type;
    memcpy(&type, data, 4);
    if (type != XS_ERROR &&
        xs_parse_reply(copy, size, type == XS_READ ? XS_DIRECTORY : XS_READ, id, &v, &vl, why, sizeof why) != XS_IO)
      abort();
    r = xs_parse_reply(copy, size, XS_DIRECTORY, id, &v, &vl, why, sizeof why);
    if (r == XS_OK) check_listing(v, vl);
  } else if (size >= XS_HEADER) {
    const char *v;
    size_t vl;
    char why[64];
    if (xs_parse_reply(copy, size, XS_READ, id, &v, &vl, why, sizeof why) != XS_IO) abort();
  }
  int n = xs_chunk_count((const char *)copy, size);
  if (n < -1 || n > XS_MAX_CHUNKS) abort();
  if (n > 0) {
    char back[4];
    int bl = snprintf(back, sizeof back, "%d", n);
    if ((size_t)bl != size || memcmp(back, data, size)) abort();
  }
  check_listing((const char *)copy, size);
  long d = xs_domid((const char *)copy, size);
  if (d != -1) {
    char back[8];
    int bl = snprintf(back, sizeof back, "%ld", d);
    if (d < 1 || d >= XS_DOMID_FIRST_RESERVED || (size_t)bl != size || memcmp(back, data, size)) abort();
  }
  free(copy);
  /* any path that fits is sent whole, with its NUL, and reads back as one message */
  char *path = malloc(size + 1);
  memcpy(path, data, size);
  path[size] = 0;
  static unsigned char req[XS_MSG_MAX];
  size_t rl = xs_build(req, sizeof req, XS_READ, id, path);
  size_t pl = strlen(path);
  if (rl ? rl != XS_HEADER + pl + 1 || xs_msg_size(req, rl) != (long)rl || memcmp(req + XS_HEADER, path, pl + 1)
         : pl + 1 <= XS_PAYLOAD_MAX)
    abort();
  /* ${xen_target}: each one becomes the id's digits, nothing else changes, and none is left */
  static char out[XS_MSG_MAX];
  long dom = (long)(id % (XS_DOMID_FIRST_RESERVED - 1)) + 1;
  long ol = xs_subst_target(out, sizeof out, path, dom);
  int vars = 0;
  for (const char *p = path; (p = xs_target_var(p)); p++) vars++;
  char ds[8];
  long dl = snprintf(ds, sizeof ds, "%ld", dom);
  long want = (long)pl - vars * ((long)sizeof XS_TARGET_VAR - 1 - dl);
  if (pl < sizeof out ? ol != want || (long)strlen(out) != ol || xs_target_var(out) : ol != -1 && ol != want) abort();
  free(path);
  return 0;
}
