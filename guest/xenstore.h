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
 * A Linux stub domain (libxl's device model domain, guest/README.md "Xen stub domains") reads more: its own key
 * "target" (the guest's domain id), the guest's "/local/domain/<target>/vm" (its vm path) and the device
 * model's arguments, the children 001, 002... of "<vm path>/image/dm-argv", one argument each (libxl leaves
 * argv[0] out), listed with XS_DIRECTORY: a reply of names, each NUL-terminated.
 *
 * The builders and parsers are pure, for the unit tests and the fuzzer; xs_read_config(), xs_read_target()
 * and xs_read_dm_argv() do the whole exchange over a file descriptor, so the tests can run them against a
 * fake xenstored on a socket pair. */
#ifndef KILN_XENSTORE_H
#define KILN_XENSTORE_H

#include <stddef.h>
#include <stdint.h>

#define XS_DIRECTORY 1
#define XS_READ 2
#define XS_ERROR 16
#define XS_HEADER 16
#define XS_PAYLOAD_MAX 4096
#define XS_MSG_MAX (XS_HEADER + XS_PAYLOAD_MAX)
#define XS_CONFIG_KEY "kiln/config"
#define XS_MAX_CHUNKS 64
#define XS_TARGET_KEY "target"
#define XS_DOMID_FIRST_RESERVED 0x7ff0
#define XS_VM_PATH_MAX 256 /* libxl's are "/vm/<uuid>" */
#define XS_DM_ARG_MAX 4095 /* bytes of one device model argument */
/* What libxl writes in place of "fd:N" on a restore; N is an fd on the stub domain's console 2. */
#define XS_RESTORE_ARG "$STUBDOM_RESTORE_INCOMING_ARG"
/* Replaced in an rc entry's argv by the target's domain id. */
#define XS_TARGET_VAR "${xen_target}"

enum xs_result { XS_OK = 0, XS_NONE = 1, XS_IO = -1, XS_BAD = -2 };

/* A request of `type` (XS_READ, XS_DIRECTORY) for `path` (sent with its NUL). Returns its length, or 0 when it
 * does not fit `cap` or the payload limit. */
size_t xs_build(unsigned char *out, size_t cap, uint32_t type, uint32_t req_id, const char *path);

/* How many bytes the message at buf[0..n) has in all: XS_HEADER while the header is incomplete, else the
 * header plus its payload; -1 when the header announces more than XS_PAYLOAD_MAX. */
long xs_msg_size(const unsigned char *buf, size_t n);

/* The reply msg[0..n) (n == xs_msg_size()) to the request of `type` with `req_id`: XS_OK with the value (or
 * the names) in *val and *len (pointing into msg, not NUL-terminated), XS_NONE for the error ENOENT, XS_IO for
 * another error (EACCES...) or a reply that does not answer the request, described in why. */
int xs_parse_reply(const unsigned char *msg, size_t n, uint32_t type, uint32_t req_id, const char **val, size_t *len,
                   char *why, size_t why_cap);

/* What the value of "kiln/config" says: N (1..XS_MAX_CHUNKS) when it is a chunk count (decimal digits
 * only), 0 when it is the configuration itself, -1 for digits out of range or an empty value. */
int xs_chunk_count(const char *v, size_t len);

/* Read the configuration through fd (an open /dev/xen/xenbus), waiting at most timeout_ms for each reply.
 * XS_OK with out[0..*len), XS_NONE when "kiln/config" does not exist, XS_IO when xenstore fails to answer
 * (why says how), XS_BAD when what it holds is unusable (a bad chunk count, a missing chunk, larger than cap;
 * why says what). */
int xs_read_config(int fd, int timeout_ms, char *out, size_t cap, size_t *len, char *why, size_t why_cap);

/* A domain id as libxl writes it: plain decimal, 1 to 32751. Returns it, or -1. */
long xs_domid(const char *v, size_t len);

/* The number of arguments in the listing list[0..len) of the directory `dir` (an XS_DIRECTORY payload): the
 * names must be exactly libxl's 001..N ("%03d"), in any order. Returns N >= 1, or -1 with why naming a stray
 * name or the first argument missing. */
int xs_dm_argc(const char *dir, const char *list, size_t len, char *why, size_t why_cap);

/* The first "${xen_target}" in s, or NULL. */
const char *xs_target_var(const char *s);

/* `in` with every "${xen_target}" replaced by domid, into out (cap bytes, NUL-terminated). Returns its length,
 * or -1 when it does not fit. */
long xs_subst_target(char *out, size_t cap, const char *in, long domid);

/* How many of the NULL-terminated argv are exactly libxl's restore placeholder; with `with`, each becomes it. */
int xs_restore_args(const char **argv, const char *with);

/* Read `path` into out (NUL-terminated, at most cap - 1 bytes). XS_OK, XS_NONE (no such key), XS_IO with why. */
int xs_read(int fd, int timeout_ms, const char *path, char *out, size_t cap, char *why, size_t why_cap);

/* The stub domain's "target". XS_OK with *domid; XS_NONE (not a stub domain), XS_IO or XS_BAD with why. */
int xs_read_target(int fd, int timeout_ms, long *domid, char *why, size_t why_cap);

struct xs_dm {
  long target;          /* in: the guest's domain id */
  const char **argv;    /* in: room for max arguments; out: argc of them, in store */
  int max;
  char *store;          /* in: cap bytes for the arguments, each NUL-terminated */
  size_t cap;
  int argc;             /* out */
  size_t used;          /* out: bytes of store used */
  char dir[XS_VM_PATH_MAX + 16]; /* out: "<vm path>/image/dm-argv" */
};

/* The device model's arguments, in order, as they are (the restore argument included). XS_OK, or XS_NONE,
 * XS_IO or XS_BAD with why naming the key: a missing vm path or dm-argv, a stray name or a gap in the
 * numbering, more than max arguments, one longer than XS_DM_ARG_MAX or holding a NUL, more than cap bytes. */
int xs_read_dm_argv(int fd, int timeout_ms, struct xs_dm *dm, char *why, size_t why_cap);

#endif
