/* kiln-init's boot configuration from xenstore (kiln.xs=1): XS_READ requests and their replies in the
 * xenstore wire format (xen/include/public/io/xs_wire.h), as the xenbus frontend device /dev/xen/xenbus
 * carries them: a header of four native-endian uint32 {type, req_id, tx_id, len}, then len payload bytes.
 *
 * The configuration lives under the domain's home (/local/domain/<domid>/); paths here are relative to it,
 * as xenstored resolves them for the reading domain. A value holds at most 4096 bytes, so a larger
 * configuration is split: "kiln/config" then holds the decimal number of chunks N (1-64, no leading zero)
 * and "kiln/config/0" .. "kiln/config/N-1" hold its parts, concatenated in that order. Any other value of
 * "kiln/config" is the configuration itself. guest/README.md describes this for launchers.
 *
 * The builders and parsers are pure, for the unit tests and the fuzzer; xs_read_config() does the whole
 * exchange over a file descriptor, so the tests can run it against a fake xenstored on a socket pair. */
#ifndef KILN_XENSTORE_H
#define KILN_XENSTORE_H

#include <stddef.h>
#include <stdint.h>

#define XS_READ 2
#define XS_ERROR 16
#define XS_HEADER 16
#define XS_PAYLOAD_MAX 4096
#define XS_MSG_MAX (XS_HEADER + XS_PAYLOAD_MAX)
#define XS_CONFIG_KEY "kiln/config"
#define XS_MAX_CHUNKS 64

enum xs_result { XS_OK = 0, XS_NONE = 1, XS_IO = -1, XS_BAD = -2 };

/* An XS_READ request for `path` (sent with its NUL). Returns its length, or 0 when it does not fit `cap` or
 * the payload limit. */
size_t xs_build_read(unsigned char *out, size_t cap, uint32_t req_id, const char *path);

/* How many bytes the message at buf[0..n) has in all: XS_HEADER while the header is incomplete, else the
 * header plus its payload; -1 when the header announces more than XS_PAYLOAD_MAX. */
long xs_msg_size(const unsigned char *buf, size_t n);

/* The reply msg[0..n) (n == xs_msg_size()) to the XS_READ with `req_id`: XS_OK with the value in
 * *val and *len (pointing into msg, not NUL-terminated), XS_NONE for the error ENOENT, XS_IO for another error
 * (EACCES...) or a reply that does not answer the request, described in why. */
int xs_parse_read_reply(const unsigned char *msg, size_t n, uint32_t req_id, const char **val, size_t *len,
                        char *why, size_t why_cap);

/* What the value of "kiln/config" says: N (1..XS_MAX_CHUNKS) when it is a chunk count (decimal digits
 * only), 0 when it is the configuration itself, -1 for digits out of range or an empty value. */
int xs_chunk_count(const char *v, size_t len);

/* Read the configuration through fd (an open /dev/xen/xenbus), waiting at most timeout_ms for each reply.
 * XS_OK with out[0..*len), XS_NONE when "kiln/config" does not exist, XS_IO when xenstore fails to answer
 * (why says how), XS_BAD when what it holds is unusable (a bad chunk count, a missing chunk, larger than cap;
 * why says what). */
int xs_read_config(int fd, int timeout_ms, char *out, size_t cap, size_t *len, char *why, size_t why_cap);

#endif
