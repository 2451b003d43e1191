/* The limits and the strictness below are repeated on the host by src/manifest/bootConfig.ts (walkDocument):
 * change both (test/e2e/guest-config-parity.test.ts compares them). */
#include "json.h"

#include <string.h>

struct frame {
  uint32_t node;    /* the container being filled */
  uint32_t last;    /* its last child so far, 0 = none */
  uint32_t count;   /* children attached */
  uint32_t index;   /* arrays: index of the element being parsed */
  uint32_t key_off; /* objects: key of the member being parsed */
  uint32_t key_len;
  int in_member;    /* objects: a key has been read for the current member */
};

struct parser {
  const unsigned char *p, *start, *end;
  struct json_doc *doc;
  struct json_error *err;
  struct frame stack[JSON_MAX_DEPTH];
  int depth;
};

static int fail(struct parser *ps, const char *msg) {
  struct json_error *e = ps->err;
  e->offset = (size_t)(ps->p - ps->start);
  e->msg = msg;
  e->path[0] = 0;
  /* The path names the member or element being parsed when the error happened. */
  for (int i = 0; i < ps->depth; i++) {
    const struct frame *f = &ps->stack[i];
    if (ps->doc->nodes[f->node].type == JSON_OBJECT) {
      if (!f->in_member) break;
      json_path_key(e->path, sizeof e->path, ps->doc->str + f->key_off, f->key_len);
    } else {
      json_path_index(e->path, sizeof e->path, f->index);
    }
  }
  return -1;
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int new_node(struct parser *ps, int type, uint32_t *idx) {
  struct json_doc *d = ps->doc;
  if (d->n_nodes >= JSON_MAX_NODES) return fail(ps, "too many values (limit 4096)");
  *idx = d->n_nodes++;
  struct json_node *n = &d->nodes[*idx];
  memset(n, 0, sizeof *n);
  n->type = (uint8_t)type;
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_u4(struct parser *ps, unsigned *out) {
  /* ps->p points just after "\u" */
  if (ps->end - ps->p < 4) return fail(ps, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(ps->p[i]);
    if (h < 0) return fail(ps, "bad hex digit in \\u escape");
    v = v << 4 | (unsigned)h;
  }
  ps->p += 4;
  *out = v;
  return 0;
}

/* Length of the valid UTF-8 sequence at p (2-4), or 0. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  int n;
  unsigned min;
  if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000;
  else return 0;
  if (end - p < n) return 0;
  unsigned cp = c & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

static char *put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xc0 | cp >> 6);
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xe0 | cp >> 12);
    *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *o++ = (char)(0xf0 | cp >> 18);
    *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
    *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
    *o++ = (char)(0x80 | (cp & 0x3f));
  }
  return o;
}

/* Decode the string at ps->p (on the opening quote) into doc->str; give its offset and length. */
static int parse_string(struct parser *ps, uint32_t *off, uint32_t *len) {
  struct json_doc *d = ps->doc;
  char *o = d->str + d->str_len;
  char *o0 = o;
  ps->p++;
  for (;;) {
    if (ps->p >= ps->end) return fail(ps, "unterminated string");
    unsigned c = *ps->p;
    if (c == '"') {
      ps->p++;
      break;
    }
    if (c < 0x20) return fail(ps, "control character in string (write it as an escape)");
    if (c == '\\') {
      ps->p++;
      if (ps->p >= ps->end) return fail(ps, "unterminated string");
      c = *ps->p++;
      switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
          unsigned cp;
          if (read_u4(ps, &cp)) return -1;
          if (cp >= 0xdc00 && cp <= 0xdfff) return fail(ps, "lone low surrogate in \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
              return fail(ps, "high surrogate not followed by a low surrogate escape");
            ps->p += 2;
            if (read_u4(ps, &lo)) return -1;
            if (lo < 0xdc00 || lo > 0xdfff) return fail(ps, "high surrogate not followed by a low surrogate escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          o = put_utf8(o, cp);
          break;
        }
        default:
          ps->p--;
          return fail(ps, "unknown escape in string");
      }
      continue;
    }
    if (c < 0x80) {
      *o++ = (char)c;
      ps->p++;
      continue;
    }
    int n = utf8_len(ps->p, ps->end);
    if (!n) return fail(ps, "invalid UTF-8 in string");
    memcpy(o, ps->p, (size_t)n);
    o += n;
    ps->p += n;
  }
  *o++ = 0;
  *off = d->str_len;
  *len = (uint32_t)(o - o0 - 1);
  d->str_len += (uint32_t)(o - o0);
  return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int parse_number(struct parser *ps, struct json_node *n) {
  const unsigned char *s = ps->p;
  if (ps->p < ps->end && *ps->p == '-') ps->p++;
  if (ps->p >= ps->end || !is_digit(*ps->p)) return fail(ps, "bad number");
  if (*ps->p == '0') {
    ps->p++;
    if (ps->p < ps->end && is_digit(*ps->p)) return fail(ps, "leading zero in number");
  } else {
    while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
  }
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p)) return fail(ps, "bad number: digit expected after '.'");
    while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p)) return fail(ps, "bad number: digit expected in exponent");
    while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
  }
  struct json_doc *d = ps->doc;
  size_t l = (size_t)(ps->p - s);
  memcpy(d->str + d->str_len, s, l);
  d->str[d->str_len + l] = 0;
  n->off = d->str_len;
  n->len = (uint32_t)l;
  d->str_len += (uint32_t)l + 1;
  return 0;
}

static int literal(struct parser *ps, const char *word, size_t l) {
  if ((size_t)(ps->end - ps->p) < l || memcmp(ps->p, word, l)) return fail(ps, "unexpected character");
  ps->p += l;
  return 0;
}

/* Attach node idx as the next child of the innermost open container. */
static void attach(struct parser *ps, uint32_t idx) {
  struct frame *f = &ps->stack[ps->depth - 1];
  struct json_node *c = &ps->doc->nodes[f->node];
  if (f->last) ps->doc->nodes[f->last].next = idx;
  else c->off = idx;
  f->last = idx;
  f->count++;
  c->len = f->count;
}

/* Iterative, so nesting depth costs no C stack; the explicit stack bounds it. */
static int parse_value_tree(struct parser *ps) {
  uint32_t key_off = 0, key_len = 0;
  int have_key = 0;
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, ps->depth ? "unexpected end of input" : "empty input");
    unsigned c = *ps->p;
    uint32_t idx = 0;
    int type;
    switch (c) {
      case '{': type = JSON_OBJECT; break;
      case '[': type = JSON_ARRAY; break;
      case '"': type = JSON_STRING; break;
      case 't': type = JSON_TRUE; break;
      case 'f': type = JSON_FALSE; break;
      case 'n': type = JSON_NULL; break;
      default:
        if (c == '-' || is_digit((int)c)) type = JSON_NUMBER;
        else return fail(ps, "unexpected character");
    }
    if (new_node(ps, type, &idx)) return -1;
    struct json_node *n = &ps->doc->nodes[idx];
    if (have_key) {
      n->key = key_off;
      n->key_len = key_len;
      have_key = 0;
    }
    if (ps->depth) attach(ps, idx);
    switch (type) {
      case JSON_STRING:
        if (parse_string(ps, &n->off, &n->len)) return -1;
        break;
      case JSON_NUMBER:
        if (parse_number(ps, n)) return -1;
        break;
      case JSON_TRUE:
        if (literal(ps, "true", 4)) return -1;
        break;
      case JSON_FALSE:
        if (literal(ps, "false", 5)) return -1;
        break;
      case JSON_NULL:
        if (literal(ps, "null", 4)) return -1;
        break;
      default:
        if (ps->depth >= JSON_MAX_DEPTH) return fail(ps, "nested too deeply (limit 16)");
        ps->p++;
        ps->stack[ps->depth++] = (struct frame){.node = idx};
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == (type == JSON_OBJECT ? '}' : ']')) {
          ps->p++;
          ps->depth--;
          break;
        }
        goto member;
    }
    /* A value is complete: close containers or move on to the next member. */
    for (;;) {
      if (!ps->depth) return 0;
      struct frame *f = &ps->stack[ps->depth - 1];
      int obj = ps->doc->nodes[f->node].type == JSON_OBJECT;
      skip_ws(ps);
      if (ps->p >= ps->end) return fail(ps, "unexpected end of input");
      if (*ps->p == ',') {
        ps->p++;
        f->in_member = 0;
        f->index = f->count;
        break;
      }
      if (*ps->p == (obj ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        continue;
      }
      return fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  member:
    if (ps->doc->nodes[ps->stack[ps->depth - 1].node].type == JSON_OBJECT) {
      skip_ws(ps);
      if (ps->p >= ps->end) return fail(ps, "unexpected end of input");
      if (*ps->p != '"') return fail(ps, "expected a string key");
      const unsigned char *key_start = ps->p;
      if (parse_string(ps, &key_off, &key_len)) return -1;
      struct frame *f = &ps->stack[ps->depth - 1];
      f->key_off = key_off;
      f->key_len = key_len;
      f->in_member = 1;
      /* Duplicate keys are an error: which one would win is exactly the kind of doubt a boot config
       * must not have. */
      for (uint32_t i = f->count ? ps->doc->nodes[f->node].off : 0; i; i = ps->doc->nodes[i].next) {
        const struct json_node *m = &ps->doc->nodes[i];
        if (m->key_len == key_len && !memcmp(ps->doc->str + m->key, ps->doc->str + key_off, key_len)) {
          ps->p = key_start;
          return fail(ps, "duplicate key");
        }
      }
      have_key = 1;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':'");
      ps->p++;
    }
  }
}

int json_parse(struct json_doc *doc, const char *in, size_t len, struct json_error *err) {
  struct parser ps = {0};
  ps.start = ps.p = (const unsigned char *)in;
  ps.end = ps.p + len;
  ps.doc = doc;
  ps.err = err;
  doc->n_nodes = 0;
  doc->str_len = 0;
  if (len > JSON_MAX_INPUT) return fail(&ps, "input too large (limit 65536 bytes)");
  if (parse_value_tree(&ps)) return -1;
  skip_ws(&ps);
  if (ps.p != ps.end) return fail(&ps, "unexpected data after the value");
  return 0;
}

const struct json_node *json_get(const struct json_doc *d, const struct json_node *n, const char *key) {
  if (n->type != JSON_OBJECT) return NULL;
  size_t l = strlen(key);
  for (const struct json_node *m = json_first(d, n); m; m = json_next(d, m))
    if (m->key_len == l && !memcmp(d->str + m->key, key, l)) return m;
  return NULL;
}

int json_int(const struct json_doc *d, const struct json_node *n, int64_t *out) {
  if (n->type != JSON_NUMBER) return -1;
  const char *s = d->str + n->off;
  int neg = *s == '-';
  if (neg) s++;
  uint64_t v = 0;
  const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *s; s++) {
    if (!is_digit(*s)) return -1;
    unsigned dgt = (unsigned)(*s - '0');
    if (v > (lim - dgt) / 10) return -1;
    v = v * 10 + dgt;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

const char *json_type_name(int type) {
  static const char *const names[] = {"null", "false", "true", "a number", "a string", "an array", "an object"};
  return type >= 0 && type <= JSON_OBJECT ? names[type] : "?";
}

static void append(char *path, size_t cap, const char *s, size_t l) {
  size_t have = strlen(path);
  if (have + 1 >= cap) return;
  if (l > cap - 1 - have) {
    /* Truncate visibly. */
    l = cap - 1 - have;
    memcpy(path + have, s, l);
    path[cap - 1] = 0;
    if (cap >= 4) memcpy(path + cap - 4, "...", 3);
    return;
  }
  memcpy(path + have, s, l);
  path[have + l] = 0;
}

void json_path_key(char *path, size_t cap, const char *key, size_t len) {
  int plain = len > 0;
  for (size_t i = 0; i < len && plain; i++) {
    unsigned char c = (unsigned char)key[i];
    plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  }
  if (plain) {
    if (path[0]) append(path, cap, ".", 1);
    append(path, cap, key, len);
    return;
  }
  char q[JSON_PATH_MAX];
  json_quote(q, sizeof q, key, len);
  append(path, cap, "[", 1);
  append(path, cap, q, strlen(q));
  append(path, cap, "]", 1);
}

void json_path_index(char *path, size_t cap, uint32_t i) {
  char b[16];
  int n = 0;
  char t[12];
  int k = 0;
  do t[k++] = (char)('0' + i % 10), i /= 10;
  while (i);
  b[n++] = '[';
  while (k) b[n++] = t[--k];
  b[n++] = ']';
  append(path, cap, b, (size_t)n);
}

char *json_quote(char *out, size_t cap, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  if (cap < 8) {
    if (cap) out[0] = 0;
    return out;
  }
  out[o++] = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[4];
    size_t el = 0;
    if (c == '"' || c == '\\') e[el++] = '\\', e[el++] = (char)c;
    else if (c >= 0x20 && c < 0x7f) e[el++] = (char)c;
    else e[el++] = '\\', e[el++] = 'x', e[el++] = hex[c >> 4], e[el++] = hex[c & 15];
    if (o + el + 5 > cap) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(out + o, e, el);
    o += el;
  }
  out[o++] = '"';
  out[o] = 0;
  return out;
}
