/* A tiny TCP key-value store that persists to a file (on a block device in a kiln image).
 * Protocol, one command per line: SET key value | GET key | DEL key | KEYS ; answers OK / VALUE v / NOTFOUND.
 * Every change is appended to the log and fsync'ed before OK, so a restart on the same disk keeps it.
 * Usage: kv [-p PORT] [-f FILE]   (defaults: $PORT or 7000, $KV_FILE or /data/kv.log) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXK 1024
static char *keys[MAXK], *vals[MAXK];
static int nkeys;

static int find(const char *k) {
  for (int i = 0; i < nkeys; i++)
    if (!strcmp(keys[i], k)) return i;
  return -1;
}

static void set(const char *k, const char *v) {
  int i = find(k);
  if (i >= 0) {
    free(vals[i]);
    vals[i] = strdup(v);
  } else if (nkeys < MAXK) {
    keys[nkeys] = strdup(k);
    vals[nkeys++] = strdup(v);
  }
}

static void del(const char *k) {
  int i = find(k);
  if (i < 0) return;
  free(keys[i]);
  free(vals[i]);
  keys[i] = keys[--nkeys];
  vals[i] = vals[nkeys];
}

/* Returns the answer for one command line; `log` (when not NULL) records changes. */
static const char *apply(char *line, FILE *log, char *out, size_t outlen) {
  char *cmd = strtok(line, " \r\n"), *k = strtok(NULL, " \r\n"), *v = strtok(NULL, "\r\n");
  if (!cmd) return "ERR empty\n";
  if (!strcmp(cmd, "SET") && k && v) {
    set(k, v);
    if (log) {
      fprintf(log, "SET %s %s\n", k, v);
      fflush(log);
      fsync(fileno(log));
    }
    return "OK\n";
  }
  if (!strcmp(cmd, "DEL") && k) {
    del(k);
    if (log) {
      fprintf(log, "DEL %s\n", k);
      fflush(log);
      fsync(fileno(log));
    }
    return "OK\n";
  }
  if (!strcmp(cmd, "GET") && k) {
    int i = find(k);
    if (i < 0) return "NOTFOUND\n";
    snprintf(out, outlen, "VALUE %s\n", vals[i]);
    return out;
  }
  if (!strcmp(cmd, "KEYS")) {
    snprintf(out, outlen, "KEYS %d\n", nkeys);
    return out;
  }
  return "ERR unknown command\n";
}

int main(int argc, char **argv) {
  const char *port = getenv("PORT") ? getenv("PORT") : "7000";
  const char *file = getenv("KV_FILE") ? getenv("KV_FILE") : "/data/kv.log";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-p")) port = argv[i + 1];
    else if (!strcmp(argv[i], "-f")) file = argv[i + 1];
  }
  char line[4096], out[4200];
  FILE *in = fopen(file, "r");
  if (in) {
    while (fgets(line, sizeof line, in)) apply(line, NULL, out, sizeof out);
    fclose(in);
  }
  FILE *log = fopen(file, "a");
  if (!log) {
    fprintf(stderr, "kv: cannot open %s: %s\n", file, strerror(errno));
    return 1;
  }
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0) {
    fprintf(stderr, "kv: cannot listen on port %s: %s\n", port, strerror(errno));
    return 1;
  }
  printf("kv: %d keys from %s, listening on port %s\n", nkeys, file, port);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    /* One stream per direction: a single "r+" stream may not switch from reading to writing. */
    FILE *rd = fdopen(c, "r"), *wr = fdopen(dup(c), "w");
    while (rd && wr && fgets(line, sizeof line, rd)) {
      fputs(apply(line, log, out, sizeof out), wr);
      fflush(wr);
    }
    if (wr) fclose(wr);
    if (rd) fclose(rd);
  }
}
