/* The kernel command line as the kernel itself splits it (lib/cmdline.c next_arg()): whitespace separates
 * parameters except inside double quotes; a quote right at the start of a parameter or of its value is
 * dropped together with a quote that ends the parameter; parsing stops at "--". kiln-init reads its own
 * parameters (kiln.*) from /proc/cmdline this way, so it sees exactly what the kernel saw. */
#ifndef KILN_CMDLINE_H
#define KILN_CMDLINE_H

#include <stddef.h>

/* Split off the next parameter of args, in place (NUL bytes replace separators and stripped quotes).
 * Returns the rest of the line; *val is NULL for a parameter without '='. Call while *args is not NUL. */
char *cmdline_next(char *args, char **param, char **val);

struct kiln_cmdline {
  const char *config; /* kiln.config value (the last one wins, as for any kernel parameter), or NULL */
  int debug;          /* kiln.debug, kiln.debug=1 (anything but "0" and "") */
  const char *dev;    /* kiln.dev: the device classes the launcher attached ("net,blk", "none"), or NULL */
  int xs;             /* kiln.xs=1: read the configuration from xenstore too (kiln's Xen launcher sets it) */
  int hold;           /* kiln.hold=1: wait for the launch's own parameters in fw_cfg (a saved boot state) */
  int has_seed;       /* kiln.seed=<64 hex digits> was given and is well formed */
  unsigned char seed[32];
  long long time_s;   /* kiln.time=<seconds>.<nanoseconds>, the host's wall clock; time_s < 0 without one */
  long time_ns;
};

/* Parse a whole command line (modified in place) for kiln.* parameters. */
void cmdline_parse(char *line, struct kiln_cmdline *out);

/* Parameter names compare like the kernel's parameq(): '-' and '_' are the same. */
int cmdline_parameq(const char *a, const char *b);

#endif
