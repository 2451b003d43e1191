/* kiln-init: PID 1 of a kiln image.
 *
 * Mounts /dev, /proc and /sys, reads the boot configuration (baked /kiln/image.json, kiln.config on the
 * kernel command line, under Xen with kiln.xs=1 the domain's xenstore key kiln/config, /kiln/config.json
 * from a launcher-appended initrd segment; later wins), loads the baked modules, configures hostname,
 * environment, network, sysctls and mounts, runs the programs in order (setup to completion, bg awaited
 * until ready, main last) and, when the main one exits, reports its status and powers the machine off.
 * Every path ends in a power-off with a status the host can read: "kiln: exit N" on the console and, where
 * QEMU's isa-debug-exit device sits at port 0xf4, QEMU's own exit status (N << 1 | 1).
 *
 * Status codes of kiln-init itself: 125 configuration error, 126 init failure, 127 program not runnable. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

#include "base64url.h"
#include "cmdline.h"
#include "config.h"
#include "dhcp.h"
#include "fwcfg.h"
#include "json.h"
#include "xenstore.h"

#ifndef KILN_INIT_VERSION
#define KILN_INIT_VERSION "dev"
#endif

#define EXIT_CONFIG 125
#define EXIT_INIT 126
#define EXIT_EXEC 127
#define WAIT_DEVICE_MS 3000
/* DHCP: retransmissions at 1, 2, 4, 8, 8... s (RFC 2131 4.1, without the random spread), given up after this. */
#define DHCP_TIMEOUT_MS 30000
/* Each xenstore reply; a domU's xenstored answers at once, so silence means it is gone. */
#define XS_TIMEOUT_MS 10000

/* The kernel's virtio drivers may probe after finit_module() returns, so devices are awaited, briefly. */

static int debug;
static struct json_doc docs[4];
static struct kiln_config cfg;
static char buf[JSON_MAX_INPUT + 1];

static void say(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  for (int o = 0; o < n;) {
    ssize_t w = write(2, line + o, (size_t)(n - o));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    o += (int)w;
  }
}

static void mark_at(const struct timespec *t, const char *what) {
  say("kiln: debug: %ld.%03ld s %s\n", (long)t->tv_sec, t->tv_nsec / 1000000, what);
}

/* Timing lines (kiln.debug=1): CLOCK_MONOTONIC, which starts near the kernel's own boot clock. */
static void mark(const char *what) {
  if (!debug) return;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  mark_at(&t, what);
}

static long ms_since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static _Noreturn void finish(int status) {
  say("kiln: exit %d\n", status);
  /* Nothing else may write once the disks are synced. */
  kill(-1, SIGKILL);
  sync();
  /* The console line must leave the UART before the machine goes away. */
  tcdrain(2);
#if defined(__x86_64__) || defined(__i386__)
  /* QEMU's isa-debug-exit: exit status (v << 1) | 1. Only 0..127 survive the 8-bit process status, so
   * the console line stays the authority. Where no device listens the write goes nowhere. */
  if (ioperm(0xf4, 1, 1) == 0) outb((unsigned char)(status & 0x7f), 0xf4);
#endif
  /* Without ACPI (microvm,acpi=off) power-off would only halt; a reboot with reboot=t and QEMU's
   * -no-reboot ends the machine instead. */
  if (access("/sys/firmware/acpi", F_OK) == 0) reboot(RB_POWER_OFF);
  reboot(RB_AUTOBOOT);
  /* Last resort: PID 1 exiting panics the kernel, and panic=-1 reboots. */
  _exit(status);
}

static _Noreturn void fail_init(const char *fmt, ...) {
  char line[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  say("kiln: error: %s\n", line);
  finish(EXIT_INIT);
}

static _Noreturn void fail_config(const char *source, const struct kiln_config_error *e) {
  say("kiln: config error: %s: key \"%s\": %s\n", source, e->path, e->msg);
  finish(EXIT_CONFIG);
}

static const char *q(const char *s) {
  static char b[2][200];
  static int k;
  k ^= 1;
  return json_quote(b[k], sizeof b[k], s, strlen(s));
}

static void ensure_console(void) {
  int need = 0;
  for (int fd = 0; fd < 3; fd++) need |= fcntl(fd, F_GETFD) < 0;
  if (!need) return;
  int c = open("/dev/console", O_RDWR | O_NOCTTY);
  if (c < 0) return;
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0) dup2(c, fd);
  if (c > 2) close(c);
}

/* A Xen guest started without console= on its command line (a stub domain: libxl passes none) has the
 * kernel's virtual terminal as /dev/console, which nobody sees; its Xen console hvc0 is where its log goes
 * (libxl keeps a stub domain's console 0 as /var/log/xen/qemu-dm-GUEST.log). */
static void prefer_xen_console(void) {
  unsigned int dev; /* the terminal behind /dev/console (which is itself 5:1) */
  /* Virtual terminals are 4:0-63; 4:64 and up are serial ports (ttyS0 is 4:64), which people do read. */
  if (ioctl(2, TIOCGDEV, &dev) || major(dev) != 4 || minor(dev) >= 64) return;
  int fd = open("/dev/hvc0", O_RDWR | O_NOCTTY);
  if (fd < 0) return;
  for (int i = 0; i < 3; i++) dup2(fd, i);
  if (fd > 2) close(fd);
}

static void mount_api(const char *type, const char *dir, unsigned long flags) {
  mkdir(dir, 0755);
  if (mount(type, dir, type, flags, NULL) && errno != EBUSY)
    fail_init("cannot mount %s on %s: %s", type, dir, strerror(errno));
}

/* Read a whole file into buf. Returns its length, -1 with errno, or -2 when larger than the buffer. */
static long read_file(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, out + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == cap) {
      close(fd);
      return -2;
    }
  }
  close(fd);
  return (long)n;
}

static void load_source_file(const char *path, struct json_doc *doc) {
  struct kiln_config_error e = {{0}, {0}};
  long n = read_file(path, buf, JSON_MAX_INPUT + 1);
  if (n == -1 && errno == ENOENT) return;
  if (n == -1) {
    snprintf(e.msg, sizeof e.msg, "cannot read: %s", strerror(errno));
    fail_config(path, &e);
  }
  if (n == -2) {
    snprintf(e.msg, sizeof e.msg, "larger than %d bytes", JSON_MAX_INPUT);
    fail_config(path, &e);
  }
  if (config_load(&cfg, doc, buf, (size_t)n, &e)) fail_config(path, &e);
}

static void load_source_cmdline(const char *value, struct json_doc *doc) {
  struct kiln_config_error e = {{0}, {0}};
  size_t bad, len = strlen(value);
  if (len > B64URL_ENCODED_LEN(JSON_MAX_INPUT)) {
    snprintf(e.msg, sizeof e.msg, "value larger than %d bytes decoded", JSON_MAX_INPUT);
    fail_config("kiln.config", &e);
  }
  long n = b64url_decode(value, len, (unsigned char *)buf, sizeof buf, &bad);
  if (n < 0) {
    if (bad < len)
      snprintf(e.msg, sizeof e.msg, "not base64url without padding: character %zu is %s", bad, q((char[]){value[bad], 0}));
    else
      snprintf(e.msg, sizeof e.msg, "not base64url without padding: impossible length or trailing bits");
    fail_config("kiln.config", &e);
  }
  if (config_load(&cfg, doc, buf, (size_t)n, &e)) fail_config("kiln.config", &e);
}

/* Whether a module line's classes ("net,blk": load it when any of these devices is attached) meet the
 * launcher's kiln.dev list. Without kiln.dev (another launcher) every module loads. */
static int wanted(const char *classes, const char *dev) {
  if (!dev || !*classes) return 1;
  for (const char *c = classes; *c;) {
    size_t cl = strcspn(c, ",");
    for (const char *d = dev; *d;) {
      size_t dl = strcspn(d, ",");
      if (cl == dl && !strncmp(c, d, cl)) return 1;
      d += dl + (d[dl] == ',');
    }
    c += cl + (c[cl] == ',');
  }
  return 0;
}

static void load_modules(const char *dev) {
  static char list[16384];
  long n = read_file("/kiln/modules", list, sizeof list - 1);
  if (n == -1 && errno == ENOENT) return;
  if (n == -1) fail_init("cannot read /kiln/modules: %s", strerror(errno));
  if (n == -2) fail_init("/kiln/modules is larger than %zu bytes", sizeof list - 1);
  list[n] = 0;
  for (char *line = list, *next; *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    else next = line + strlen(line);
    size_t l = strlen(line);
    while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r')) line[--l] = 0;
    if (!l || line[0] == '#') continue;
    /* "PATH CLASSES PARAMS": the module serves only those device classes ("*": always), and loads with
     * those parameters (the rest of the line, as modprobe would pass them). */
    char *sp = strchr(line, ' ');
    const char *classes = "", *params = "";
    if (sp) {
      *sp = 0;
      classes = sp + 1;
      l = strlen(line);
      char *sp2 = strchr(sp + 1, ' ');
      if (sp2) {
        *sp2 = 0;
        params = sp2 + 1;
      }
      if (!strcmp(classes, "*")) classes = "";
    }
    if (!wanted(classes, dev)) continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_init("module %s: %s", q(line), strerror(errno));
    /* 4 = MODULE_INIT_COMPRESSED_FILE (Linux 5.17+): the kernel decompresses .ko.xz/.zst/.gz itself. */
    int flags = 0;
    if (l > 3 && (!strcmp(line + l - 3, ".xz") || !strcmp(line + l - 3, ".gz") || !strcmp(line + l - 4, ".zst")))
      flags = 4;
    if (syscall(SYS_finit_module, fd, params, flags) && errno != EEXIST)
      fail_init("module %s: %s", q(line), strerror(errno));
    close(fd);
  }
}

static int wait_path(const char *path, int ms) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int waited = 0;; waited += 10) {
    if (access(path, F_OK) == 0) return 0;
    if (waited >= ms) return -1;
    nanosleep(&tick, NULL);
  }
}

/* Every Xen guest's kernel provides the xenbus frontend device; `asker` says who wants it. */
static int xenbus_open(const char *asker) {
  if (wait_path("/dev/xen/xenbus", WAIT_DEVICE_MS))
    fail_init("%s but /dev/xen/xenbus did not appear within %d s (not a Xen guest?)", asker, WAIT_DEVICE_MS / 1000);
  int fd = open("/dev/xen/xenbus", O_RDWR | O_CLOEXEC);
  if (fd < 0) fail_init("xenstore: cannot open /dev/xen/xenbus: %s", strerror(errno));
  return fd;
}

/* kiln.xs=1: the domain's own xenstore key kiln/config (guest/xenstore.h). Never probed otherwise: in dom0,
 * before xenstored runs, a read would only time out. */
static void load_source_xenstore(struct json_doc *doc) {
  static const char source[] = "xenstore " XS_CONFIG_KEY;
  struct kiln_config_error e = {{0}, {0}};
  int fd = xenbus_open("kiln.xs=1");
  size_t n;
  int r = xs_read_config(fd, XS_TIMEOUT_MS, buf, JSON_MAX_INPUT, &n, e.msg, sizeof e.msg);
  close(fd);
  if (r == XS_IO) fail_init("xenstore: %s", e.msg);
  if (r == XS_BAD) fail_config(source, &e);
  if (r == XS_OK && config_load(&cfg, doc, buf, n, &e)) fail_config(source, &e);
}

/* A Linux stub domain (guest/README.md, "Xen stub domains"): the entry with "argv_xen_dm" runs with libxl's
 * device model arguments after its own, and "${xen_target}" in any argv becomes the guest's domain id. Read
 * only when the configuration asks: anywhere else there is no "target" to read. */
#define XEN_DM_MAX_ARGS 512
#define XEN_RESTORE_TTY "/dev/hvc2"
static const char *dm_argv[XEN_DM_MAX_ARGS + 1];
static char xen_store[128 * 1024];
static int dm_restore;      /* libxl asks for a restore: its placeholder is in dm_argv */
static int dm_restore_from; /* where libxl's arguments start: the image's own are never replaced */

/* Copy the block device `dev` to `path` (its directories made first). Returns the bytes copied, or -1. */
static void mkdir_p(const char *path);
static const char **dm_args; /* libxl's part of the device model's argv, once read */

static long copy_device(const char *dev, const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    mkdir_p(dir);
  }
  int in = open(dev, O_RDONLY | O_CLOEXEC), out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  long total = -1;
  if (in >= 0 && out >= 0) {
    static char chunk[1 << 16];
    total = 0;
    for (ssize_t n; (n = read(in, chunk, sizeof chunk)) != 0; total += n)
      if (n < 0 || write(out, chunk, (size_t)n) != n) {
        total = -1;
        break;
      }
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  return total;
}

/* libxl hands the stub domain's QEMU the guest's kernel= and ramdisk= as dom0 paths, which do not exist in the
 * stub domain. The guest's configuration lists the same files as disks too (libxl attaches every disk of the
 * guest to its stub domain): each path is found among this domain's disks by its backend's "params" (the
 * dom0 file) and copied to the same path here, where QEMU then reads it. A loop device drops a file's last
 * partial sector, so such files are given sector-padded; a bzImage and a cpio archive ignore trailing zeros. */
static void stage_boot_files(void) {
  const char **argv = dm_args;
  if (!argv) return;
  int fd = -1;
  for (int i = 0; argv[i] && argv[i + 1]; i++) {
    if (strcmp(argv[i], "-kernel") && strcmp(argv[i], "-initrd")) continue;
    const char *want = argv[++i];
    if (access(want, F_OK) == 0) continue;
    if (fd < 0) fd = xenbus_open("the device model's boot files");
    char why[256] = "", node[256], be[256], params[4096], dev[64];
    int found = 0;
    /* The disks' frontend driver was just loaded: they may still be appearing. */
    struct timespec tick = {0, 100 * 1000 * 1000};
    for (int waited = 0; !found && waited <= WAIT_DEVICE_MS; waited += 100, nanosleep(&tick, NULL))
    for (int n = 0; n < 26 && !found; n++) {
      char sys[96];
      snprintf(dev, sizeof dev, "/dev/xvd%c", 'a' + n);
      snprintf(sys, sizeof sys, "/sys/block/xvd%c/device/nodename", 'a' + n);
      long l = read_file(sys, node, sizeof node - 1);
      if (l <= 0) continue;
      node[l] = 0;
      node[strcspn(node, "\n")] = 0;
      char key[300];
      snprintf(key, sizeof key, "%s/backend", node);
      if (xs_read(fd, XS_TIMEOUT_MS, key, be, sizeof be, why, sizeof why)) continue;
      snprintf(key, sizeof key, "%s/params", be);
      if (xs_read(fd, XS_TIMEOUT_MS, key, params, sizeof params, why, sizeof why)) continue;
      found = !strcmp(params, want);
    }
    if (!found)
      fail_init("%s %s: no such file in the stub domain, and none of its disks is that file (list it among the "
                "guest's disks too)",
                argv[i - 1], q(want));
    long got = copy_device(dev, want);
    if (got < 0) fail_init("%s %s: cannot copy it from %s: %s", argv[i - 1], q(want), dev, strerror(errno));
    say("kiln: xen: %s %s from %s (%ld bytes)\n", argv[i - 1], want, dev, got);
  }
  if (fd >= 0) close(fd);
}

static void setup_xen(void) {
  char asker[64] = "", why[256];
  int dm = -1;
  for (int i = 0; i < cfg.n_rc; i++) {
    if (cfg.rc[i].xen_dm) dm = i;
    for (int j = 0; j < cfg.rc[i].argc && !asker[0]; j++)
      if (xs_target_var(cfg.rc[i].argv[j]))
        snprintf(asker, sizeof asker, "rc[%d].argv[%d] uses %s", i, j, XS_TARGET_VAR);
  }
  if (dm >= 0) snprintf(asker, sizeof asker, "rc[%d] has \"argv_xen_dm\"", dm);
  if (!asker[0]) return;
  int fd = xenbus_open(asker);
  long target;
  if (xs_read_target(fd, XS_TIMEOUT_MS, &target, why, sizeof why)) fail_init("%s: %s", asker, why);
  size_t used = 0;
  for (int i = 0; i < cfg.n_rc; i++)
    for (int j = 0; j < cfg.rc[i].argc; j++) {
      if (!xs_target_var(cfg.rc[i].argv[j])) continue;
      long l = xs_subst_target(xen_store + used, sizeof xen_store - used, cfg.rc[i].argv[j], target);
      if (l < 0) fail_init("the arguments using %s are more than %zu bytes in all", XS_TARGET_VAR, sizeof xen_store);
      cfg.rc[i].argv[j] = xen_store + used;
      used += (size_t)l + 1;
    }
  if (dm < 0) {
    say("kiln: xen: target domain %ld\n", target);
  } else {
    const struct kiln_rc *r = &cfg.rc[dm];
    static struct xs_dm x;
    memcpy(dm_argv, r->argv, (size_t)r->argc * sizeof *dm_argv);
    x = (struct xs_dm){.target = target, .argv = dm_argv + r->argc, .max = XEN_DM_MAX_ARGS - r->argc,
                       .store = xen_store + used, .cap = sizeof xen_store - used};
    if (xs_read_dm_argv(fd, XS_TIMEOUT_MS, &x, why, sizeof why))
      fail_init("%s: %s", asker, why);
    dm_argv[r->argc + x.argc] = NULL;
    dm_restore = xs_restore_args(x.argv, NULL);
    dm_args = x.argv;
    dm_restore_from = r->argc;
    /* On the console, which libxl keeps as /var/log/xen/qemu-dm-<guest>.log. */
    say("kiln: xen: target domain %ld, %d device model arguments from %s%s\n", target, x.argc, x.dir,
        dm_restore ? " (a restore)" : "");
  }
  close(fd);
}

/* libxl's restore placeholder becomes "fd:N", N the stub domain's console 2 (the saved state), in raw mode
 * so that no byte of the stream is taken for a line edit or a signal. Returns the fd, which the device model
 * inherits and PID 1 closes once it runs, or -1. Not inlined: nothing of it may live across spawn()'s vfork. */
__attribute__((noinline)) static int xen_restore_fd(void) {
  static char arg[16];
  if (!dm_restore) return -1;
  if (wait_path(XEN_RESTORE_TTY, WAIT_DEVICE_MS))
    fail_init("xen: %s (console 2, the restore stream) did not appear within %d s", XEN_RESTORE_TTY,
              WAIT_DEVICE_MS / 1000);
  int fd = open(XEN_RESTORE_TTY, O_RDONLY | O_NOCTTY);
  struct termios t;
  if (fd < 0 || tcgetattr(fd, &t)) fail_init("xen: cannot open %s (the restore stream): %s", XEN_RESTORE_TTY, strerror(errno));
  cfmakeraw(&t);
  if (tcsetattr(fd, TCSANOW, &t)) fail_init("xen: %s: cannot make it raw: %s", XEN_RESTORE_TTY, strerror(errno));
  snprintf(arg, sizeof arg, "fd:%d", fd);
  xs_restore_args(dm_argv + dm_restore_from, arg);
  say("kiln: xen: restore stream %s as %s\n", XEN_RESTORE_TTY, arg);
  return fd;
}

static void mkdir_p(const char *path) {
  char p[4096];
  size_t l = strlen(path);
  if (l >= sizeof p) fail_init("path too long: %s", q(path));
  memcpy(p, path, l + 1);
  for (char *s = p + 1;; s++) {
    if (*s == '/' || !*s) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0755) && errno != EEXIST) fail_init("cannot create directory %s: %s", q(p), strerror(errno));
      if (!c) return;
      *s = c;
    }
  }
}

static void sin_of(struct sockaddr *sa, uint32_t host_order) {
  struct sockaddr_in *in = (struct sockaddr_in *)sa;
  memset(in, 0, sizeof *in);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(host_order);
}

static uint32_t mask_of(int prefix) { return prefix ? 0xffffffffu << (32 - prefix) : 0; }

static void if_up(int sock, const char *name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFFLAGS, &ifr)) fail_init("interface %s: %s", q(name), strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr)) fail_init("interface %s: cannot bring it up: %s", q(name), strerror(errno));
}

static void ip_str(char out[16], uint32_t a) {
  snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

static void add_route(int sock, uint32_t dst, int prefix, uint32_t via, const char *dev) {
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  sin_of(&rt.rt_dst, dst);
  sin_of(&rt.rt_genmask, mask_of(prefix));
  sin_of(&rt.rt_gateway, via);
  rt.rt_flags = RTF_UP | RTF_GATEWAY | (prefix == 32 ? RTF_HOST : 0);
  rt.rt_dev = (char *)dev;
  if (ioctl(sock, SIOCADDRT, &rt) && errno != EEXIST) {
    char d[16], g[16];
    ip_str(d, dst);
    ip_str(g, via);
    fail_init("route %s/%d via %s: %s", d, prefix, g, strerror(errno));
  }
}

/* A UDP socket on port 68 of one interface, able to broadcast. */
static int dhcp_socket(const char *ifname, uint32_t bind_addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  struct sockaddr_in sa;
  sin_of((struct sockaddr *)&sa, bind_addr);
  sa.sin_port = htons(68);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa)) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Send `type` and wait for a reply of one of the wanted types, retransmitting with backoff until
 * `timeout_ms` has passed. Returns 0 with the reply in `out`, -1 on timeout. */
static int dhcp_exchange(int fd, uint32_t to, enum dhcp_type type, uint32_t xid, const uint8_t mac[6],
                         uint32_t ciaddr, uint32_t requested, uint32_t server, int timeout_ms,
                         struct dhcp_lease *out) {
  static uint8_t msg[DHCP_MSG_MAX], reply[1500];
  size_t n = dhcp_build(msg, type, xid, mac, ciaddr, requested, server);
  struct sockaddr_in dst;
  sin_of((struct sockaddr *)&dst, to);
  dst.sin_port = htons(67);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int wait_ms = 1000;; wait_ms = wait_ms < 8000 ? wait_ms * 2 : 8000) {
    if (sendto(fd, msg, n, 0, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != ENETUNREACH) return -1;
    for (;;) {
      long spent = ms_since(&t0);
      if (spent >= timeout_ms) return -1;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int left = timeout_ms - (int)spent;
      int r = poll(&p, 1, left < wait_ms ? left : wait_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break; /* retransmit */
      ssize_t got = recv(fd, reply, sizeof reply, 0);
      if (got <= 0) continue;
      if (dhcp_parse(reply, (size_t)got, xid, mac, out)) continue;
      if (type == DHCP_DISCOVER ? out->type == DHCP_OFFER : out->type != DHCP_OFFER) return 0;
    }
  }
}

static uint32_t dhcp_xid(const uint8_t mac[6]) {
  uint32_t x;
  if (getrandom(&x, sizeof x, GRND_NONBLOCK) == (ssize_t)sizeof x) return x;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint32_t)t.tv_nsec ^ (uint32_t)mac[2] << 24 ^ (uint32_t)mac[3] << 16 ^ (uint32_t)mac[4] << 8 ^ mac[5];
}

/* DISCOVER, OFFER, REQUEST, ACK (a NAK starts over, three times at most). */
static int dhcp_acquire(const char *ifname, const uint8_t mac[6], struct dhcp_lease *lease) {
  int fd = dhcp_socket(ifname, 0);
  if (fd < 0) return -1;
  for (int round = 0; round < 3; round++) {
    uint32_t xid = dhcp_xid(mac);
    struct dhcp_lease offer;
    if (dhcp_exchange(fd, 0xffffffffu, DHCP_DISCOVER, xid, mac, 0, 0, 0, DHCP_TIMEOUT_MS, &offer)) break;
    if (dhcp_exchange(fd, 0xffffffffu, DHCP_REQUEST, xid, mac, 0, offer.addr, offer.server, 10000, lease)) continue;
    if (lease->type == DHCP_ACK) {
      close(fd);
      return 0;
    }
  }
  close(fd);
  return -1;
}

/* The lease's netmask, or without one (or a non-contiguous one) the address's class, as RFC 2131 falls back to. */
static int lease_prefix(const struct dhcp_lease *l) {
  if (l->prefix >= 0) return l->prefix;
  return l->addr < 0x80000000u ? 8 : l->addr < 0xc0000000u ? 16 : 24;
}

static void apply_address(int sock, const char *ifname, uint32_t addr, int prefix) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  sin_of(&ifr.ifr_addr, addr);
  if (ioctl(sock, SIOCSIFADDR, &ifr)) fail_init("interface %s: address: %s", q(ifname), strerror(errno));
  sin_of(&ifr.ifr_netmask, mask_of(prefix));
  if (ioctl(sock, SIOCSIFNETMASK, &ifr)) fail_init("interface %s: netmask: %s", q(ifname), strerror(errno));
}

/* Keep the lease: at T1 ask the server that gave it (unicast), until it answers; a NAK or a new address
 * means acquiring again and taking what comes. Runs as a child of PID 1, for as long as the machine. */
static void dhcp_keep(const char *ifname, const uint8_t mac[6], struct dhcp_lease lease) {
  if (lease.lease_s == 0xffffffffu) return;
  pid_t pid = fork();
  if (pid != 0) return;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  uint32_t wait_s = lease.renew_s ? lease.renew_s : 60;
  for (;;) {
    sleep(wait_s);
    int fd = dhcp_socket(ifname, lease.addr);
    struct dhcp_lease got;
    int ok = fd >= 0 && !dhcp_exchange(fd, lease.server, DHCP_REQUEST, dhcp_xid(mac), mac, lease.addr, 0, 0, 10000, &got);
    if (fd >= 0) close(fd);
    if (ok && got.type == DHCP_ACK && got.addr == lease.addr) {
      lease.lease_s = got.lease_s;
      wait_s = got.renew_s ? got.renew_s : 60;
      continue;
    }
    if (ok || wait_s <= 60) {
      /* Refused, moved, or silent for long: start over as at boot. */
      struct dhcp_lease fresh;
      if (!dhcp_acquire(ifname, mac, &fresh)) {
        int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock >= 0 && fresh.addr != lease.addr) {
          apply_address(sock, ifname, fresh.addr, lease_prefix(&fresh));
          if (fresh.router) add_route(sock, 0, 0, fresh.router, ifname);
          char a[16];
          ip_str(a, fresh.addr);
          say("kiln: net %s %s (dhcp: new lease)\n", ifname, a);
        }
        if (sock >= 0) close(sock);
        lease = fresh;
        wait_s = fresh.renew_s ? fresh.renew_s : 60;
        continue;
      }
    }
    wait_s = 60;
  }
}

static void setup_dhcp(int sock, struct kiln_net *n) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, n->ifname, IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFHWADDR, &ifr)) fail_init("interface %s: hardware address: %s", q(n->ifname), strerror(errno));
  uint8_t mac[6];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  struct dhcp_lease l;
  if (dhcp_acquire(n->ifname, mac, &l))
    fail_init("interface %s: no DHCP lease within %d s (is a DHCP server on its network?)", q(n->ifname),
              DHCP_TIMEOUT_MS / 1000);
  int prefix = lease_prefix(&l);
  apply_address(sock, n->ifname, l.addr, prefix);
  n->has_addr = 1;
  n->addr = l.addr;
  n->prefix = prefix;
  if (l.router) {
    n->has_gw = 1;
    n->gw = l.router;
  }
  if (!n->n_dns)
    for (int i = 0; i < l.n_dns && i < KILN_MAX_DNS; i++) n->dns[n->n_dns++] = l.dns[i];
  if (!n->mtu && l.mtu) {
    ifr.ifr_mtu = l.mtu;
    if (ioctl(sock, SIOCSIFMTU, &ifr)) fail_init("interface %s: mtu %d: %s", q(n->ifname), l.mtu, strerror(errno));
  }
  dhcp_keep(n->ifname, mac, l);
}

static void setup_net(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    /* A kernel without IPv4 (tinyconfig) can still run programs that need no network. */
    if (cfg.n_net || cfg.n_routes) fail_init("cannot configure the network: %s", strerror(errno));
    return;
  }
  if_up(sock, "lo");
  for (int i = 0; i < cfg.n_net; i++) {
    struct kiln_net *n = &cfg.net[i];
    char path[64];
    snprintf(path, sizeof path, "/sys/class/net/%s", n->ifname);
    if (wait_path(path, WAIT_DEVICE_MS))
      fail_init("network interface %s did not appear within %d s (is its driver module baked in?)", q(n->ifname),
                WAIT_DEVICE_MS / 1000);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, n->ifname, IFNAMSIZ - 1);
    if (n->has_addr) apply_address(sock, n->ifname, n->addr, n->prefix);
    if (n->mtu) {
      ifr.ifr_mtu = n->mtu;
      if (ioctl(sock, SIOCSIFMTU, &ifr)) fail_init("interface %s: mtu %d: %s", q(n->ifname), n->mtu, strerror(errno));
    }
    if_up(sock, n->ifname);
    /* DHCP needs the interface up; its lease then sets what the configuration left out. */
    if (n->dhcp) setup_dhcp(sock, n);
    if (n->has_gw) add_route(sock, 0, 0, n->gw, n->ifname);
    /* One line per interface: what a kernel-plane image's operator (and the tests) can check. */
    if (n->has_addr) {
      char a[16];
      ip_str(a, n->addr);
      say("kiln: net %s %s/%d up%s\n", n->ifname, a, n->prefix, n->dhcp ? " (dhcp)" : "");
    } else {
      say("kiln: net %s up\n", n->ifname);
    }
  }
  for (int i = 0; i < cfg.n_routes; i++) add_route(sock, cfg.routes[i].dst, cfg.routes[i].prefix, cfg.routes[i].via, NULL);
  close(sock);

  char conf[KILN_MAX_NET * KILN_MAX_DNS * 28 + 1];
  size_t o = 0;
  for (int i = 0; i < cfg.n_net; i++)
    for (int j = 0; j < cfg.net[i].n_dns; j++) {
      char a[16];
      ip_str(a, cfg.net[i].dns[j]);
      o += (size_t)snprintf(conf + o, sizeof conf - o, "nameserver %s\n", a);
    }
  if (o) {
    mkdir("/etc", 0755);
    int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, conf, o) != (ssize_t)o) fail_init("cannot write /etc/resolv.conf: %s", strerror(errno));
    close(fd);
  }
}

/* Write a whole file unless something is already there (the image's own, or a blk mount's). */
static void write_if_absent(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) say("kiln: warning: cannot write %s: %s\n", path, strerror(errno));
  close(fd);
}

/* What Debian's programs take for granted of a root file system, made only where the image has nothing:
 * the writable state directories (daemons put sockets in /run and data in /var/lib), /dev/shm for POSIX
 * shared memory (shm_open: squid; a directory on devtmpfs serves, no tmpfs needed) and a passwd and group
 * naming root, nobody and nogroup (memcached, mosquitto and dnsmasq refuse to start without "nobody"). The
 * initramfs is writable; nothing here is baked, so an image's bytes do not change. */
static void posix_root(void) {
  static const struct {
    const char *path;
    mode_t mode;
  } dirs[] = {{"/tmp", 01777}, {"/run", 0755}, {"/var", 0755}, {"/var/lib", 0755},
              {"/var/log", 0755}, {"/var/cache", 0755}, {"/var/tmp", 01777}, {"/etc", 0755},
              {"/dev/shm", 01777}};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mkdir(dirs[i].path, dirs[i].mode) == 0) chmod(dirs[i].path, dirs[i].mode);
  if (symlink("/run", "/var/run") && errno != EEXIST)
    say("kiln: warning: cannot link /var/run to /run: %s\n", strerror(errno));
  write_if_absent("/etc/passwd",
                  "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  write_if_absent("/etc/group", "root:x:0:\nnogroup:x:65534:\n");
}

static void setup_sysctl(void) {
  for (int i = 0; i < cfg.n_sysctl; i++) {
    const struct kiln_kv *s = &cfg.sysctl[i];
    char path[256] = "/proc/sys/";
    size_t o = strlen(path);
    char sep = strchr(s->key, '/') ? '/' : '.';
    for (const char *p = s->key; *p && o < sizeof path - 1; p++) path[o++] = *p == sep ? '/' : *p;
    path[o] = 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t l = strlen(s->value);
    if (fd < 0 || write(fd, s->value, l) != (ssize_t)l) fail_init("sysctl %s: %s", q(s->key), strerror(errno));
    close(fd);
  }
}

/* 9p and virtiofs mount a tag the hypervisor names, not a block device; the tag's driver may still be
 * probing, so the mount is retried while the kernel does not know the tag yet. Pseudo file systems
 * (config_pseudo_fs: xenfs, tmpfs, proc...) have no device at all: `dev` is only their source name. */
static int tag_fs(const char *fs) { return !strcmp(fs, "9p") || !strcmp(fs, "virtiofs"); }

static void setup_blk(void) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int i = 0; i < cfg.n_blk; i++) {
    const struct kiln_blk *b = &cfg.blk[i];
    unsigned long flags = b->ro ? MS_RDONLY : 0;
    int tag = tag_fs(b->fs);
    /* 9p: 256 KiB messages instead of the kernel's 8 KiB cut a large file's round trips 32-fold. */
    const char *src = b->dev, *opts = NULL;
    if (tag && !strcmp(b->fs, "9p"))
      opts = b->cache ? "trans=virtio,version=9p2000.L,msize=262144,cache=loose"
                      : "trans=virtio,version=9p2000.L,msize=262144";
    char dev[80];
    mkdir_p(b->mount);
    if (!tag && !config_pseudo_fs(b->fs)) {
      snprintf(dev, sizeof dev, "/dev/%s", b->dev);
      src = dev;
      if (wait_path(dev, WAIT_DEVICE_MS))
        fail_init("block device %s did not appear within %d s (is its driver module baked in?)", q(dev),
                  WAIT_DEVICE_MS / 1000);
    }
    int r, waited = 0;
    while ((r = mount(src, b->mount, b->fs, flags, opts)) && tag && errno == ENOENT && waited < WAIT_DEVICE_MS) {
      nanosleep(&tick, NULL);
      waited += 10;
    }
    if (r)
      fail_init("cannot mount %s%s (%s) on %s: %s", tag ? "tag " : "", q(src), b->fs, q(b->mount), strerror(errno));
  }
}

/* The programs' whole environment: the defaults and the configuration, nothing the kernel passed to init.
 * Built in static storage: every variable comes from one of the four sources, each at most
 * JSON_MAX_INPUT bytes decoded, plus the two defaults. */
static char *envp[KILN_MAX_ENV + 1];
static char env_store[4 * JSON_MAX_INPUT + 64];

static void setup_env(void) {
  size_t o = 0;
  for (int i = 0; i < cfg.n_env; i++) {
    size_t kl = strlen(cfg.env[i].key), vl = strlen(cfg.env[i].value);
    if (o + kl + vl + 2 > sizeof env_store) fail_init("environment too large");
    envp[i] = env_store + o;
    memcpy(env_store + o, cfg.env[i].key, kl);
    env_store[o + kl] = '=';
    memcpy(env_store + o + kl + 1, cfg.env[i].value, vl + 1);
    o += kl + vl + 2;
  }
  envp[cfg.n_env] = NULL;
}

/* vfork: the parent resumes only once the child has exec'd or failed, so a failure is known at once
 * (through exec_errno, which the child shares), and no page tables are copied. */
static volatile int exec_errno;
static const char *const mode_name[] = {[KILN_MAIN] = "main", [KILN_BG] = "bg", [KILN_SETUP] = "setup"};

static pid_t spawn(const struct kiln_rc *r) {
  static sigset_t none;
  sigemptyset(&none);
  int restore = r->xen_dm ? xen_restore_fd() : -1;
  exec_errno = 0;
  pid_t pid = vfork();
  if (pid < 0) fail_init("vfork: %s", strerror(errno));
  if (pid == 0) {
    /* The main program's group (and a setup program's, while it runs) is the console's foreground (run()
     * gave PID 1 the console), so ^C on an attached console reaches it; PID 1 ignores SIGTTOU, which lets
     * this background group take the foreground and is undone here, before exec keeps it. bg programs get
     * sessions of their own. */
    if (r->mode != KILN_BG) {
      setpgid(0, 0);
      tcsetpgrp(0, getpid());
    } else {
      setsid();
    }
    signal(SIGTTOU, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Raw system calls: libc's set*id would synchronise credentials across the threads of a process that,
     * after vfork, is still PID 1's. The group goes first: once the uid is dropped, it could not change. */
    if (r->uid >= 0) {
      gid_t g = (gid_t)r->gid;
      if (syscall(SYS_setgroups, 1, &g) || syscall(SYS_setgid, g) || syscall(SYS_setuid, (uid_t)r->uid)) {
        exec_errno = errno;
        _exit(EXIT_EXEC);
      }
    }
    execve(r->bin, (char *const *)(r->xen_dm ? dm_argv : r->argv), envp);
    exec_errno = errno;
    _exit(EXIT_EXEC);
  }
  if (restore >= 0) close(restore);
  if (exec_errno) {
    if (r->uid >= 0)
      say("kiln: error: cannot run %s as uid %lld, gid %lld: %s\n", q(r->bin), (long long)r->uid,
          (long long)r->gid, strerror(exec_errno));
    else
      say("kiln: error: cannot run %s: %s\n", q(r->bin), strerror(exec_errno));
    waitpid(pid, NULL, 0);
    finish(EXIT_EXEC);
  }
  if (debug) {
    char what[300];
    snprintf(what, sizeof what, "started %s (%s, pid %d)", r->bin, mode_name[r->mode], (int)pid);
    mark(what);
  }
  return pid;
}

static void describe_status(char *out, size_t cap, int st) {
  if (WIFEXITED(st)) snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
  else snprintf(out, cap, "was killed by signal %d", WTERMSIG(st));
}

/* Run rc entry r before what follows it: a setup program until it exits (successfully, or the boot fails),
 * a bg program with `ready` until that path exists (or it dies, or the time is up: the boot fails). Other
 * children exiting meanwhile are reaped, as always. SIGCHLD is blocked (run()). */
static void start_and_await(const struct kiln_rc *r, const sigset_t *chld) {
  pid_t pid = spawn(r);
  if (r->mode == KILN_BG && !r->ready) return;
  struct timespec t0, tick = {0, 10 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char how[48];
  for (;;) {
    if (r->ready && access(r->ready, F_OK) == 0) {
      mark("bg program ready");
      return;
    }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0 && p != pid) continue;
    if (p == pid) {
      describe_status(how, sizeof how, st);
      if (r->mode == KILN_SETUP) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
          /* Back to PID 1 until main takes the console. */
          tcsetpgrp(0, getpid());
          mark("setup program done");
          return;
        }
        fail_init("setup %s %s", r->bin, how);
      }
      if (access(r->ready, F_OK) == 0) return;
      fail_init("bg %s %s before %s appeared", r->bin, how, r->ready);
    }
    if (!r->ready) {
      sigwaitinfo(chld, NULL);
    } else if (ms_since(&t0) >= r->ready_timeout_ms) {
      fail_init("bg %s: %s did not appear within %d ms", r->bin, r->ready, r->ready_timeout_ms);
    } else {
      sigtimedwait(chld, NULL, &tick);
    }
  }
}

static _Noreturn void run(void) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  /* SIGCHLD stays blocked and is taken with sigwaitinfo(), so no exit can slip between a check and a wait. */
  sigprocmask(SIG_BLOCK, &chld, NULL);
  /* PID 1 leads the session that owns the console, not the main program: a session leader's exit hangs
   * its terminal up, and the hangup drops what is still in the UART's buffer, the tail of the program's
   * output. SIGTTOU ignored, PID 1 may still write and drain the console once the program's group holds
   * the foreground. */
  signal(SIGTTOU, SIG_IGN);
  setsid();
  ioctl(0, TIOCSCTTY, 0);
  for (int i = 0; i < cfg.n_rc; i++)
    if (cfg.rc[i].mode != KILN_MAIN) start_and_await(&cfg.rc[i], &chld);
  const struct kiln_rc *m = config_main(&cfg);
  pid_t main_pid = m ? spawn(m) : -1;
  /* A kernel plane's setup steps (its firewall) have finished by now: it runs no program, as one without them. */
  int bg = 0;
  for (int i = 0; i < cfg.n_rc; i++) bg |= cfg.rc[i].mode == KILN_BG;
  if (!m) say(bg ? "kiln: ready (no main program)\n" : "kiln: ready (no program)\n");
  for (;;) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
      if (pid != main_pid) continue;
      int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      mark("main program exited");
      finish(code);
    }
    sigwaitinfo(&chld, NULL);
  }
}

/* Linux's <linux/random.h> ioctls, which musl's headers do not carry. */
#define KILN_RNDADDENTROPY _IOW('R', 0x03, int[2])
#define KILN_RNDRESEEDCRNG _IO('R', 0x07)

/*
 * Wait (polling fw_cfg, which only a new QEMU can change) for the launch's parameters, then make this guest
 * its own: every guest restored from one saved state starts with the same random pool and a stale clock, so
 * the host's seed is mixed in and the generator reseeded before any program runs, and the wall clock is set.
 */
static void hold(struct kiln_cmdline *own) {
  static char boot[B64URL_ENCODED_LEN(JSON_MAX_INPUT) + 4096];
  say("kiln: held\n");
  long n;
  while ((n = fwcfg_read("opt/kiln/boot", boot, sizeof boot - 1)) == -1)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  if (n == -2) fail_init("fw_cfg opt/kiln/boot is larger than %zu bytes", sizeof boot - 1);
  boot[n] = 0;
  cmdline_parse(boot, own);
  if (!own->has_seed) fail_init("fw_cfg opt/kiln/boot has no kiln.seed of 64 hex digits");
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  struct {
    int entropy_count, buf_size;
    unsigned char buf[32];
  } add = {256, 32, {0}};
  memcpy(add.buf, own->seed, 32);
  if (fd < 0 || ioctl(fd, KILN_RNDADDENTROPY, &add) || ioctl(fd, KILN_RNDRESEEDCRNG))
    fail_init("reseeding the random generator: %s", strerror(errno));
  close(fd);
  if (own->time_s >= 0 &&
      clock_settime(CLOCK_REALTIME, &(struct timespec){(time_t)own->time_s, own->time_ns}))
    fail_init("setting the clock: %s", strerror(errno));
}

int main(void) {
  if (getpid() != 1) {
    /* Powering off is only right inside a kiln image. */
    say("kiln-init %s: must run as PID 1 in a kiln image\n", KILN_INIT_VERSION);
    return 2;
  }
  struct timespec started;
  clock_gettime(CLOCK_MONOTONIC, &started);
  ensure_console();
  mount_api("devtmpfs", "/dev", MS_NOSUID);
  ensure_console();
  mount_api("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  mount_api("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  prefer_xen_console();

  static char cmdline[8192];
  struct kiln_cmdline kc = {0};
  long n = read_file("/proc/cmdline", cmdline, sizeof cmdline - 1);
  if (n >= 0) {
    cmdline[n] = 0;
    cmdline_parse(cmdline, &kc);
  }
  debug = kc.debug;
  if (debug) {
    say("kiln: debug: kiln-init %s\n", KILN_INIT_VERSION);
    mark_at(&started, "started");
  }
  mark("mounted /dev /proc /sys");

  /* A boot state's template loads the modules for its devices, then is saved while it waits; each launch
   * restored from it goes on from here with its own parameters. */
  struct kiln_cmdline own = {0};
  if (kc.hold) {
    load_modules(kc.dev);
    mark("modules loaded");
    hold(&own);
    mark("restored");
  }

  /* The configuration is read before anything changes, so a bad one stops the boot at once. */
  config_init(&cfg);
  load_source_file("/kiln/image.json", &docs[0]);
  if (kc.hold && own.config) load_source_cmdline(own.config, &docs[1]);
  else if (kc.config) load_source_cmdline(kc.config, &docs[1]);
  if (kc.xs) load_source_xenstore(&docs[2]);
  load_source_file("/kiln/config.json", &docs[3]);
  mark("configuration read");
  setup_xen();

  if (!kc.hold) {
    load_modules(kc.dev);
    mark("modules loaded");
  }
  stage_boot_files();
  if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)))
    fail_init("hostname %s: %s", q(cfg.hostname), strerror(errno));
  setup_env();
  setup_net();
  setup_sysctl();
  mark("network configured");
  setup_blk();
  posix_root();
  if (chdir(cfg.cwd)) fail_init("cwd %s: %s", q(cfg.cwd), strerror(errno));
  mark("ready to run");
  run();
}
