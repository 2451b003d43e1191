/* A small static HTTP/1.0 server for kiln images: GET of files under a directory, and /health.
 * Usage: httpd [-p PORT] [-d DIR]   (defaults: $PORT or 8080, $WWW or /srv/www) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void reply(int fd, const char *status, const char *type, const char *body, size_t len) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   status, type, len);
  if (write(fd, head, (size_t)n) < 0) return;
  while (len > 0) {
    ssize_t w = write(fd, body, len);
    if (w <= 0) return;
    body += w;
    len -= (size_t)w;
  }
}

static const char *mime(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".html")) return "text/html";
  if (!strcmp(dot, ".txt")) return "text/plain";
  if (!strcmp(dot, ".json")) return "application/json";
  if (!strcmp(dot, ".css")) return "text/css";
  return "application/octet-stream";
}

static void serve(int fd, const char *root) {
  char req[2048];
  size_t got = 0;
  while (got < sizeof req - 1) {
    ssize_t r = read(fd, req + got, sizeof req - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
  }
  req[got] = 0;
  char method[8], path[1024];
  if (sscanf(req, "%7s %1023s", method, path) != 2) {
    reply(fd, "400 Bad Request", "text/plain", "bad request\n", 12);
    return;
  }
  if (strcmp(method, "GET")) {
    reply(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
    return;
  }
  if (!strcmp(path, "/health")) {
    reply(fd, "200 OK", "application/json", "{\"status\":\"ok\"}\n", 16);
    return;
  }
  if (strstr(path, "..")) {
    reply(fd, "403 Forbidden", "text/plain", "forbidden\n", 10);
    return;
  }
  char file[1200];
  snprintf(file, sizeof file, "%s%s%s", root, path, path[strlen(path) - 1] == '/' ? "index.html" : "");
  int f = open(file, O_RDONLY);
  struct stat st;
  if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
    if (f >= 0) close(f);
    reply(fd, "404 Not Found", "text/plain", "not found\n", 10);
    return;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  ssize_t n = buf ? read(f, buf, (size_t)st.st_size) : -1;
  close(f);
  if (n < 0) reply(fd, "500 Internal Server Error", "text/plain", "read error\n", 11);
  else reply(fd, "200 OK", mime(file), buf, (size_t)n);
  free(buf);
}

int main(int argc, char **argv) {
  const char *port = getenv("PORT") ? getenv("PORT") : "8080";
  const char *root = getenv("WWW") ? getenv("WWW") : "/srv/www";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-p")) port = argv[i + 1];
    else if (!strcmp(argv[i], "-d")) root = argv[i + 1];
  }
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
    fprintf(stderr, "httpd: cannot listen on port %s: %s\n", port, strerror(errno));
    return 1;
  }
  printf("httpd: serving %s on port %s\n", root, port);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      serve(c, root);
      shutdown(c, SHUT_WR);
      close(c);
      _exit(0);
    }
    close(c);
  }
}
