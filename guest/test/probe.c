/* A static test program that test/e2e/guest-boot.test.ts runs under kiln-init in a real VM, to see what
 * kiln-init set up. Each command prints lines the test looks for.
 *   probe say TEXT [CODE]      print TEXT, exit CODE (default 0)
 *   probe signal               die by SIGTERM (kiln-init reports 128+15)
 *   probe bg FILE              write FILE, print "bg: started", then wait to be killed
 *   probe flood N              print N numbered 64-byte lines as fast as it can, then exit 0 at once
 *   probe main FILE            wait up to 10 s for FILE, then print what the program sees: env, hostname,
 *                              cwd, argv, network, sysctl, mounts; exit 0
 *   probe note FILE TEXT MS CODE      after MS ms, append the line TEXT to FILE; exit CODE
 *   probe daemon FILE TEXT MS READY   after MS ms, append the line TEXT to FILE, create READY, wait to be killed
 *   probe cat LABEL FILE       print each line of FILE as "LABEL: line"; exit 0
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void cat(const char *label, const char *path) {
  char buf[4096];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("%s: cannot open %s: %s\n", label, path, strerror(errno));
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n < 0 ? 0 : n] = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) printf("%s: %s\n", label, line);
}

static void show_net(void) {
  struct ifaddrs *ifs;
  if (getifaddrs(&ifs)) {
    printf("net: getifaddrs: %s\n", strerror(errno));
    return;
  }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char a[16], m[16];
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof a);
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, m, sizeof m);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strncpy(r.ifr_name, i->ifa_name, IFNAMSIZ - 1);
    int mtu = ioctl(s, SIOCGIFMTU, &r) ? -1 : r.ifr_mtu;
    printf("net: %s %s mask %s mtu %d %s\n", i->ifa_name, a, m, mtu, (i->ifa_flags & IFF_UP) ? "up" : "down");
  }
  freeifaddrs(ifs);
  close(s);
}

static void note(const char *file, const char *text, const char *ms) {
  long n = atol(ms);
  struct timespec t = {n / 1000, n % 1000 * 1000000};
  nanosleep(&t, NULL);
  int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0 || dprintf(fd, "%s\n", text) < 0) printf("note: cannot write %s: %s\n", file, strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  /* Whole lines in one write each: bg and main share the console. */
  static char line[4096];
  setvbuf(stdout, line, _IOLBF, sizeof line);
  if (argc >= 3 && !strcmp(argv[1], "say")) {
    printf("%s\n", argv[2]);
    return argc > 3 ? atoi(argv[3]) : 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "flood")) {
    for (int i = 0, n = atoi(argv[2]); i < n; i++) printf("flood: %05d %s\n", i, "0123456789abcdef0123456789abcdef0123456789abcdef");
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "signal")) {
    raise(SIGTERM);
    return 1;
  }
  if (argc >= 3 && !strcmp(argv[1], "bg")) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "bg\n", 3) != 3) printf("bg: cannot write %s: %s\n", argv[2], strerror(errno));
    close(fd);
    printf("bg: started\n");
    for (;;) pause();
  }
  if (argc >= 6 && !strcmp(argv[1], "note")) {
    note(argv[2], argv[3], argv[4]);
    return atoi(argv[5]);
  }
  if (argc >= 6 && !strcmp(argv[1], "daemon")) {
    note(argv[2], argv[3], argv[4]);
    close(open(argv[5], O_WRONLY | O_CREAT, 0644));
    for (;;) pause();
  }
  if (argc >= 4 && !strcmp(argv[1], "cat")) {
    cat(argv[2], argv[3]);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "main")) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    int i = 0;
    while (access(argv[2], F_OK) && i++ < 1000) nanosleep(&tick, NULL);
    printf("main: %s %s\n", argv[2], access(argv[2], F_OK) ? "missing" : "seen");
    for (int k = 0; k < argc; k++) printf("argv[%d]: %s\n", k, argv[k]);
    extern char **environ;
    for (char **e = environ; *e; e++) printf("env: %s\n", *e);
    char host[128] = "", cwd[256] = "";
    gethostname(host, sizeof host);
    printf("hostname: %s\n", host);
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerror(errno));
    printf("pid: %d ppid: %d\n", (int)getpid(), (int)getppid());
    show_net();
    cat("route", "/proc/net/route");
    cat("resolv", "/etc/resolv.conf");
    cat("ip_forward", "/proc/sys/net/ipv4/ip_forward");
    cat("mounts", "/proc/mounts");
    cat("data", "/data/hello.txt");
    int fd = open("/data/new.txt", O_WRONLY | O_CREAT, 0644);
    printf("data write: %s\n", fd < 0 ? strerror(errno) : "ok");
    return 0;
  }
  fprintf(stderr, "probe: unknown command\n");
  return 2;
}
