#include "base64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *bad) {
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  if (len % 4 == 1) {
    *bad = len;
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    int v = val((unsigned char)in[i]);
    if (v < 0) {
      *bad = i;
      return -1;
    }
    acc = (acc << 6 | (unsigned)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) {
        *bad = len;
        return -1;
      }
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (acc & ((1u << bits) - 1)) {
    *bad = len - 1;
    return -1;
  }
  return (long)o;
}

size_t b64url_encode(const unsigned char *in, size_t len, char *out) {
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    acc = (acc << 8 | in[i]) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = alphabet[acc >> bits & 63];
    }
  }
  if (bits) out[o++] = alphabet[acc << (6 - bits) & 63];
  out[o] = 0;
  return o;
}
