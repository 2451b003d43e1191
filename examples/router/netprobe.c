/* netprobe: the network checks of the router example, as one static program a kiln image runs as main.
 *
 * Steps run in order; the first that fails ends the program with status 1:
 *   serve PORT      listen on PORT in the background: each connection is told "peer ADDR:PORT" (the address
 *                   the connection came from, so a client behind a masquerade learns the router's) and
 *                   whatever it sends is counted; the console gets "netprobe: served PORT to ADDR:PORT".
 *   reach HOST:PORT connect (retrying for up to 60 s: the other machines may still be booting) and print the
 *                   line the server sends first.
 *   drop HOST:PORT  connect once and expect no answer within 4 s (a firewall that drops); a connection or a
 *                   refusal fails the step.
 *   send HOST:PORT MB  send MB mebibytes and print the throughput.
 *   resolve NAME    look NAME up through /etc/resolv.conf (what DHCP gave), retrying for up to 30 s, and print
 *                   its IPv4 address.
 *   served N        wait (up to 120 s) until this program's listeners have served N connections in all.
 *   wait            sleep until the machine is stopped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int served_pipe[2] = {-1, -1};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int parse_target(const char *s, struct sockaddr_in *sa) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((unsigned short)atoi(colon + 1));
  return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Connect within timeout_ms: the socket, or -1 with errno ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH... */
static int connect_within(const struct sockaddr_in *sa, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) goto done;
  if (errno != EINPROGRESS) goto fail;
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) {
    errno = ETIMEDOUT;
    goto fail;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) goto fail;
  if (err) {
    errno = err;
    goto fail;
  }
done:
  fcntl(fd, F_SETFL, 0);
  return fd;
fail:;
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* The server's first line, within timeout_ms. */
static int read_line(int fd, char *out, size_t cap, int timeout_ms) {
  size_t n = 0;
  while (n < cap - 1) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return -1;
    ssize_t r = read(fd, out + n, 1);
    if (r <= 0) return -1;
    if (out[n] == '\n') break;
    n++;
  }
  out[n] = 0;
  return 0;
}

static void serve(int port) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 16)) {
    printf("netprobe: cannot listen on port %d: %s\n", port, strerror(errno));
    exit(1);
  }
  if (fork() != 0) {
    close(ls);
    return;
  }
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int c = accept(ls, (struct sockaddr *)&peer, &len);
    if (c < 0) continue;
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
    printf("netprobe: served %d to %s:%d\n", port, addr, ntohs(peer.sin_port));
    fflush(stdout);
    if (fork() == 0) {
      char line[80];
      int l = snprintf(line, sizeof line, "peer %s:%d\n", addr, ntohs(peer.sin_port));
      if (write(c, line, (size_t)l) != l) _exit(1);
      static char buf[65536];
      while (read(c, buf, sizeof buf) > 0) continue;
      _exit(0);
    }
    close(c);
    if (write(served_pipe[1], "x", 1) != 1) continue;
  }
}

static int reach(const char *target) {
  struct sockaddr_in sa;
  if (parse_target(target, &sa)) return printf("netprobe: %s is not ADDR:PORT\n", target), 1;
  double t0 = now();
  const char *why = "";
  while (now() - t0 < 60) {
    int fd = connect_within(&sa, 2000);
    if (fd >= 0) {
      char line[128];
      int ok = read_line(fd, line, sizeof line, 5000) == 0;
      close(fd);
      if (ok) {
        printf("netprobe: reach %s: %s (%.1f s)\n", target, line, now() - t0);
        return 0;
      }
      why = "connected, but no answer";
    } else {
      why = strerror(errno);
      /* A refusal or an unreachable host comes at once: wait before the next try. */
      if (errno != ETIMEDOUT) usleep(500 * 1000);
    }
  }
  printf("netprobe: reach %s: FAILED for 60 s (%s)\n", target, why);
  return 1;
}

static int drop(const char *target) {
  struct sockaddr_in sa;
  if (parse_target(target, &sa)) return printf("netprobe: %s is not ADDR:PORT\n", target), 1;
  int fd = connect_within(&sa, 4000);
  if (fd < 0 && errno == ETIMEDOUT) {
    printf("netprobe: drop %s: no answer within 4 s\n", target);
    return 0;
  }
  printf("netprobe: drop %s: FAILED: %s\n", target, fd >= 0 ? "it connected" : strerror(errno));
  if (fd >= 0) close(fd);
  return 1;
}

static int send_mb(const char *target, int mb) {
  struct sockaddr_in sa;
  if (parse_target(target, &sa)) return printf("netprobe: %s is not ADDR:PORT\n", target), 1;
  int fd = connect_within(&sa, 5000);
  char line[128];
  if (fd < 0 || read_line(fd, line, sizeof line, 5000))
    return printf("netprobe: send %s: FAILED: %s\n", target, strerror(errno)), 1;
  static char buf[65536];
  memset(buf, 'k', sizeof buf);
  double t0 = now();
  for (long left = (long)mb << 20; left > 0;) {
    ssize_t w = write(fd, buf, left < (long)sizeof buf ? (size_t)left : sizeof buf);
    if (w <= 0) return printf("netprobe: send %s: FAILED: %s\n", target, strerror(errno)), 1;
    left -= w;
  }
  shutdown(fd, SHUT_WR);
  while (read(fd, buf, sizeof buf) > 0) continue;
  double s = now() - t0;
  close(fd);
  printf("netprobe: send %s: %d MiB in %.3f s (%.1f Mbit/s)\n", target, mb, s, mb * 8.388608 / s);
  return 0;
}

static int resolve_name(const char *name) {
  double t0 = now();
  int e = 0;
  while (now() - t0 < 30) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    e = getaddrinfo(name, NULL, &hints, &res);
    if (!e) {
      char addr[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
      freeaddrinfo(res);
      printf("netprobe: resolve %s: %s\n", name, addr);
      return 0;
    }
    sleep(1);
  }
  printf("netprobe: resolve %s: FAILED: %s\n", name, gai_strerror(e));
  return 1;
}

static int served(int n) {
  double t0 = now();
  for (int got = 0; got < n;) {
    struct pollfd p = {.fd = served_pipe[0], .events = POLLIN};
    int left = (int)((120 - (now() - t0)) * 1000);
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      printf("netprobe: served %d: FAILED: %d connections in 120 s\n", n, got);
      return 1;
    }
    char c;
    if (read(served_pipe[0], &c, 1) == 1) got++;
  }
  printf("netprobe: served %d connections\n", n);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  if (pipe(served_pipe)) return 1;
  for (int i = 1; i < argc; i++) {
    const char *step = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
    int rc;
    if (!strcmp(step, "wait")) {
      for (;;) pause();
    } else if (!arg) {
      printf("netprobe: %s needs an argument\n", step);
      return 2;
    } else if (!strcmp(step, "serve")) {
      serve(atoi(arg));
      rc = 0;
    } else if (!strcmp(step, "reach")) {
      rc = reach(arg);
    } else if (!strcmp(step, "drop")) {
      rc = drop(arg);
    } else if (!strcmp(step, "resolve")) {
      rc = resolve_name(arg);
    } else if (!strcmp(step, "served")) {
      rc = served(atoi(arg));
    } else if (!strcmp(step, "send") && i + 2 < argc) {
      rc = send_mb(arg, atoi(argv[i + 2]));
      i++;
    } else {
      printf("netprobe: unknown step %s\n", step);
      return 2;
    }
    if (rc) return rc;
    i++;
  }
  return 0;
}
