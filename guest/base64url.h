/* base64url (RFC 4648 section 5) without padding, as the launcher writes kiln.config on the kernel command
 * line (no '+', '/' or '=' that a boot loader or the kernel's parser might touch). Decoding is strict: only
 * the URL alphabet, no padding, no whitespace, and the unused low bits of the last character must be zero,
 * so every byte string has exactly one encoding. */
#ifndef KILN_BASE64URL_H
#define KILN_BASE64URL_H

#include <stddef.h>

/* Decoded size of n encoded characters (an upper bound when n is invalid). */
#define B64URL_DECODED_MAX(n) ((n) / 4 * 3 + 2)
#define B64URL_ENCODED_LEN(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Decode in[0..len) into out (cap bytes). Returns the decoded length, or -1 with *bad set to the offset
 * of the first offending character (len when the length itself is impossible or out is too small). */
long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *bad);

/* Encode; out must hold B64URL_ENCODED_LEN(len) + 1 bytes (NUL-terminated). Returns the length. */
size_t b64url_encode(const unsigned char *in, size_t len, char *out);

#endif
