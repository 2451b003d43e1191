/* QEMU's firmware configuration device (fw_cfg) through its I/O ports, the interface of x86 machines
 * (microvm, pc, q35): 0x510 selects an item, 0x511 reads it a byte at a time. A saved boot state is restored
 * into a new QEMU whose fw_cfg items are its own (they are not part of the migration stream), which is how a
 * restored guest learns its launch's parameters. */
#ifndef KILN_FWCFG_H
#define KILN_FWCFG_H

#include <stddef.h>
#include <stdint.h>

/* One entry of the file directory (item 0x19) as the device sends it: fields big-endian. */
struct fwcfg_file {
  uint32_t size;
  uint16_t select;
  uint16_t reserved;
  char name[56];
};

/* Find `name` in a directory read from the device (`dir`, `len` bytes: a big-endian count, then entries).
 * Returns the entry's select key and sets *size, or -1 when it is not there or the directory is malformed. */
int fwcfg_find(const unsigned char *dir, size_t len, const char *name, uint32_t *size);

/* Read item `name` into out (at most cap bytes). Returns its size, -1 when the device or the item is not
 * there, -2 when it is larger than cap. */
long fwcfg_read(const char *name, char *out, size_t cap);

#endif
