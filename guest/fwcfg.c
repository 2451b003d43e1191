#include "fwcfg.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_CTL 0x510
#define FW_CFG_DATA 0x511
#define MAX_FILES 256

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int fwcfg_find(const unsigned char *dir, size_t len, const char *name, uint32_t *size) {
  if (len < 4) return -1;
  uint32_t count = be32(dir);
  if (count > MAX_FILES || len < 4 + (size_t)count * sizeof(struct fwcfg_file)) return -1;
  for (uint32_t i = 0; i < count; i++) {
    const unsigned char *e = dir + 4 + (size_t)i * sizeof(struct fwcfg_file);
    char n[57];
    memcpy(n, e + 8, 56);
    n[56] = 0;
    if (!strcmp(n, name)) {
      *size = be32(e);
      return e[4] << 8 | e[5];
    }
  }
  return -1;
}

#if defined(__x86_64__) || defined(__i386__)
static void fetch(uint16_t key, unsigned char *out, size_t n) {
  outw(key, FW_CFG_CTL);
  for (size_t i = 0; i < n; i++) out[i] = inb(FW_CFG_DATA);
}

long fwcfg_read(const char *name, char *out, size_t cap) {
  static int allowed;
  static unsigned char dir[4 + MAX_FILES * sizeof(struct fwcfg_file)];
  if (!allowed) {
    if (ioperm(FW_CFG_CTL, 2, 1)) return -1;
    allowed = 1;
  }
  unsigned char sig[4];
  fetch(FW_CFG_SIGNATURE, sig, 4);
  if (memcmp(sig, "QEMU", 4)) return -1;
  fetch(FW_CFG_FILE_DIR, dir, 4);
  uint32_t count = be32(dir);
  if (count > MAX_FILES) return -1;
  /* Selecting the item again restarts it at offset 0. */
  fetch(FW_CFG_FILE_DIR, dir, 4 + (size_t)count * sizeof(struct fwcfg_file));
  uint32_t size;
  int key = fwcfg_find(dir, sizeof dir, name, &size);
  if (key < 0) return -1;
  if (size > cap) return -2;
  fetch((uint16_t)key, (unsigned char *)out, size);
  return (long)size;
}
#else
long fwcfg_read(const char *name, char *out, size_t cap) {
  (void)name, (void)out, (void)cap;
  return -1;
}
#endif
