/* libFuzzer: kiln-init's xenstore reply parser on arbitrary bytes, as /dev/xen/xenbus might hand them over.
 * The request id is taken from the input itself, so that the fuzzer reaches the payload. Checks what the
 * client relies on: a message's size stays within the wire limit, a value lies inside the reply, every
 * refusal says why, and a chunk count is exactly a plain decimal from 1 to 64. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../xenstore.h"

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
    int r = xs_parse_read_reply(copy, size, id, &v, &vl, why, sizeof why);
    if (r == XS_OK && (v != (const char *)copy + XS_HEADER || vl != size - XS_HEADER)) abort();
    if (r == XS_IO && (!why[0] || strlen(why) >= sizeof why)) abort();
    if (r != XS_OK && r != XS_NONE && r != XS_IO) abort();
    /* a reply to another request is never taken */
    if (xs_parse_read_reply(copy, size, id + 1, &v, &vl, why, sizeof why) != XS_IO) abort();
  } else if (size >= XS_HEADER) {
    const char *v;
    size_t vl;
    char why[64];
    if (xs_parse_read_reply(copy, size, id, &v, &vl, why, sizeof why) != XS_IO) abort();
  }
  int n = xs_chunk_count((const char *)copy, size);
  if (n < -1 || n > XS_MAX_CHUNKS) abort();
  if (n > 0) {
    char back[4];
    int bl = snprintf(back, sizeof back, "%d", n);
    if ((size_t)bl != size || memcmp(back, data, size)) abort();
  }
  free(copy);
  /* any path that fits is sent whole, with its NUL, and reads back as one message */
  char *path = malloc(size + 1);
  memcpy(path, data, size);
  path[size] = 0;
  static unsigned char req[XS_MSG_MAX];
  size_t rl = xs_build_read(req, sizeof req, id, path);
  size_t pl = strlen(path);
  if (rl ? rl != XS_HEADER + pl + 1 || xs_msg_size(req, rl) != (long)rl || memcmp(req + XS_HEADER, path, pl + 1)
         : pl + 1 <= XS_PAYLOAD_MAX)
    abort();
  free(path);
  return 0;
}
