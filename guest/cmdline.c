/* The host refuses command lines these rules would break for kiln (a bare "--", an unclosed quote, more than
 * the kernel keeps): src/manifest/kernelCmdline.ts. A rule changed here changes there too. */
#include "cmdline.h"

#include <string.h>

/* The kernel's isspace() (lib/ctype.c) counts Latin-1 NBSP (0xa0) as a space too. */
static int kspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }

static char *skip_spaces(char *s) {
  while (kspace((unsigned char)*s)) s++;
  return s;
}

char *cmdline_next(char *args, char **param, char **val) {
  size_t i, equals = 0;
  int in_quote = 0, quoted = 0;
  if (*args == '"') {
    args++;
    in_quote = 1;
    quoted = 1;
  }
  for (i = 0; args[i]; i++) {
    if (kspace((unsigned char)args[i]) && !in_quote) break;
    if (equals == 0 && args[i] == '=') equals = i;
    if (args[i] == '"') in_quote = !in_quote;
  }
  *param = args;
  if (!equals) {
    *val = NULL;
  } else {
    args[equals] = 0;
    *val = args + equals + 1;
    if (**val == '"') {
      (*val)++;
      if (args[i - 1] == '"') args[i - 1] = 0;
    }
  }
  if (quoted && i > 0 && args[i - 1] == '"') args[i - 1] = 0;
  if (args[i]) {
    args[i] = 0;
    args += i + 1;
  } else {
    args += i;
  }
  return skip_spaces(args);
}

int cmdline_parameq(const char *a, const char *b) {
  for (; *a || *b; a++, b++) {
    char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
    if (x != y) return 0;
  }
  return 1;
}

/* 64 hex digits, nothing else. */
static int parse_seed(const char *v, unsigned char out[32]) {
  if (!v || strlen(v) != 64) return 0;
  for (int i = 0; i < 64; i++) {
    char c = v[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    if (i % 2) out[i / 2] = (unsigned char)(out[i / 2] | d);
    else out[i / 2] = (unsigned char)(d << 4);
  }
  return 1;
}

/* <seconds>.<nanoseconds>, 1 to 12 digits then exactly 9. */
static int parse_time(const char *v, long long *s, long *ns) {
  long long a = 0;
  long b = 0;
  int n = 0;
  if (!v) return 0;
  for (; *v >= '0' && *v <= '9'; v++, n++) {
    if (n == 12) return 0;
    a = a * 10 + (*v - '0');
  }
  if (!n || *v++ != '.') return 0;
  for (n = 0; *v >= '0' && *v <= '9'; v++, n++) {
    if (n == 9) return 0;
    b = b * 10 + (*v - '0');
  }
  if (n != 9 || *v) return 0;
  *s = a;
  *ns = b;
  return 1;
}

void cmdline_parse(char *line, struct kiln_cmdline *out) {
  out->config = NULL;
  out->debug = 0;
  out->dev = NULL;
  out->xs = 0;
  out->hold = 0;
  out->has_seed = 0;
  out->time_s = -1;
  out->time_ns = 0;
  char *args = skip_spaces(line);
  while (*args) {
    char *param, *val;
    args = cmdline_next(args, &param, &val);
    if (!val && !strcmp(param, "--")) break;
    if (cmdline_parameq(param, "kiln.config")) out->config = val ? val : param + strlen(param);
    else if (cmdline_parameq(param, "kiln.debug")) out->debug = !val || (strcmp(val, "0") && *val);
    else if (cmdline_parameq(param, "kiln.xs")) out->xs = val && !strcmp(val, "1");
    else if (cmdline_parameq(param, "kiln.dev")) out->dev = val ? val : "";
    else if (cmdline_parameq(param, "kiln.hold")) out->hold = val && !strcmp(val, "1");
    else if (cmdline_parameq(param, "kiln.seed")) out->has_seed = parse_seed(val, out->seed);
    else if (cmdline_parameq(param, "kiln.time") && !parse_time(val, &out->time_s, &out->time_ns))
      out->time_s = -1;
  }
}
