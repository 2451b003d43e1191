#include "jsondump.h"

#include <stdio.h>
#include <string.h>

struct w {
  char *o;
  size_t n, cap;
  int over;
};

static void put(struct w *w, const char *s, size_t l) {
  if (w->n + l + 1 > w->cap) {
    w->over = 1;
    return;
  }
  memcpy(w->o + w->n, s, l);
  w->n += l;
}

static void str(struct w *w, const char *s, size_t l) {
  put(w, "\"", 1);
  for (size_t i = 0; i < l; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[8];
    if (c == '"' || c == '\\') {
      e[0] = '\\';
      e[1] = (char)c;
      put(w, e, 2);
    } else if (c < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", c);
      put(w, e, 6);
    } else {
      put(w, (const char *)&s[i], 1);
    }
  }
  put(w, "\"", 1);
}

static void node(struct w *w, const struct json_doc *d, const struct json_node *n) {
  switch (n->type) {
    case JSON_NULL: put(w, "null", 4); break;
    case JSON_TRUE: put(w, "true", 4); break;
    case JSON_FALSE: put(w, "false", 5); break;
    case JSON_NUMBER: put(w, json_str(d, n), n->len); break;
    case JSON_STRING: str(w, json_str(d, n), n->len); break;
    default: {
      int obj = n->type == JSON_OBJECT;
      put(w, obj ? "{" : "[", 1);
      for (const struct json_node *c = json_first(d, n); c; c = json_next(d, c)) {
        if (c != json_first(d, n)) put(w, ",", 1);
        if (obj) {
          str(w, json_key(d, c), c->key_len);
          put(w, ":", 1);
        }
        node(w, d, c);
      }
      put(w, obj ? "}" : "]", 1);
    }
  }
}

long json_dump(const struct json_doc *d, char *out, size_t cap) {
  struct w w = {out, 0, cap, 0};
  node(&w, d, json_root(d));
  if (w.over || !cap) return -1;
  out[w.n] = 0;
  return (long)w.n;
}
