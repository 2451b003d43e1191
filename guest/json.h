/* A small, strict JSON parser (RFC 8259) for kiln-init's boot configuration.
 *
 * Strict: UTF-8 only (no BOM, no overlong forms, no encoded surrogates), no lone surrogate escapes, no
 * duplicate object keys, nothing but whitespace after the value. Bounded: the caller owns one fixed-size
 * json_doc; input size, node count and nesting depth have hard limits, so memory use never depends on the
 * input and a hostile configuration cannot exhaust a small VM. */
#ifndef KILN_JSON_H
#define KILN_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Mirrored on the host (GUEST_LIMITS in src/manifest/bootConfig.ts), which refuses a configuration over
 * these limits before it boots anything; change both. */
#define JSON_MAX_INPUT (64 * 1024)
#define JSON_MAX_NODES 4096
#define JSON_MAX_DEPTH 16
#define JSON_PATH_MAX 160

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* Nodes live in doc->nodes; index 0 is the root, so 0 also means "none" for links. */
struct json_node {
  uint8_t type;
  uint32_t next;    /* next sibling in the parent container, 0 = last */
  uint32_t key;     /* object members: offset of the NUL-terminated key in doc->str */
  uint32_t key_len; /* its length (keys may hold NUL bytes through \u0000) */
  uint32_t off;     /* string/number: offset of the NUL-terminated text in doc->str; container: first child */
  uint32_t len;     /* string/number: byte length; container: number of children */
};

struct json_doc {
  struct json_node nodes[JSON_MAX_NODES];
  uint32_t n_nodes;
  /* Decoded strings and number texts, each NUL-terminated. Never longer than the input plus one byte:
   * every string loses at least its two quotes, every number but a final one is followed by a delimiter. */
  char str[JSON_MAX_INPUT + 1];
  uint32_t str_len;
};

struct json_error {
  size_t offset;             /* byte offset in the input */
  const char *msg;           /* static text */
  char path[JSON_PATH_MAX];  /* where in the document, e.g. rc[0].argv[2]; empty at the top */
};

/* Parse in[0..len) into doc. Returns 0, or -1 with err filled. */
int json_parse(struct json_doc *doc, const char *in, size_t len, struct json_error *err);

static inline const struct json_node *json_root(const struct json_doc *d) { return &d->nodes[0]; }
static inline const struct json_node *json_first(const struct json_doc *d, const struct json_node *n) {
  return (n->type == JSON_ARRAY || n->type == JSON_OBJECT) && n->len ? &d->nodes[n->off] : NULL;
}
static inline const struct json_node *json_next(const struct json_doc *d, const struct json_node *n) {
  return n->next ? &d->nodes[n->next] : NULL;
}
static inline const char *json_str(const struct json_doc *d, const struct json_node *n) { return d->str + n->off; }
static inline const char *json_key(const struct json_doc *d, const struct json_node *n) { return d->str + n->key; }

/* Member `key` of object n, or NULL. */
const struct json_node *json_get(const struct json_doc *d, const struct json_node *n, const char *key);

/* A number that is an integer written without fraction or exponent and fits in int64. Returns 0 or -1. */
int json_int(const struct json_doc *d, const struct json_node *n, int64_t *out);

const char *json_type_name(int type);

/* Append ".key" (plain names) or "[\"key\"]" (anything else, escaped) to a path buffer, truncating. */
void json_path_key(char *path, size_t cap, const char *key, size_t len);
/* Append "[i]". */
void json_path_index(char *path, size_t cap, uint32_t i);

/* Write s[0..len) into out (cap bytes, always NUL-terminated) as printable ASCII: quotes, backslashes,
 * control and non-ASCII bytes escaped; long values cut with "...". Returns out. */
char *json_quote(char *out, size_t cap, const char *s, size_t len);

#endif
