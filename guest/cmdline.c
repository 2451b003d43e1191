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

void cmdline_parse(char *line, struct kiln_cmdline *out) {
  out->config = NULL;
  out->debug = 0;
  out->dev = NULL;
  out->xs = 0;
  char *args = skip_spaces(line);
  while (*args) {
    char *param, *val;
    args = cmdline_next(args, &param, &val);
    if (!val && !strcmp(param, "--")) break;
    if (cmdline_parameq(param, "kiln.config")) out->config = val ? val : param + strlen(param);
    else if (cmdline_parameq(param, "kiln.debug")) out->debug = !val || (strcmp(val, "0") && *val);
    else if (cmdline_parameq(param, "kiln.xs")) out->xs = val && !strcmp(val, "1");
    else if (cmdline_parameq(param, "kiln.dev")) out->dev = val ? val : "";
  }
}
