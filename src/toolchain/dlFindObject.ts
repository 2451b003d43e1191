/**
 * `_dl_find_object` for static musl programs. Debian's libgcc_eh.a (the unwinder behind C++ exceptions and
 * `_Unwind_Backtrace`) was built against glibc 2.35+, and its `_Unwind_Find_FDE` calls glibc's
 * `_dl_find_object`, which musl does not have: without this, any static musl link that pulls the unwinder
 * fails with "undefined reference to `_dl_find_object'".
 *
 * Semantics follow glibc's <dlfcn.h>: for an address inside a loaded object, fill `struct dl_find_object`
 * and return 0, else return -1. On x86_64 the struct has no `dlfo_eh_dbase` and no `dlfo_eh_count`
 * (bits/dl_find_object.h: DLFO_STRUCT_HAS_EH_DBASE 0, DLFO_STRUCT_HAS_EH_COUNT 0), and `dlfo_eh_frame` is
 * the object's PT_GNU_EH_FRAME segment (or NULL when it has none, as `-static` links without
 * `--eh-frame-hdr` do: libgcc then finds the frames crtbeginT.o registered, before it asks). musl's
 * `dl_iterate_phdr` answers for static programs too (from the auxiliary vector). No allocation and no lock:
 * the unwinder calls this from any thread, also while handling a signal.
 *
 * It is compiled at `kiln toolchain` time into the toolchain's libkilnrt.a, which every link names after
 * libgcc_eh.a inside the static link group; an archive member is pulled in only by programs that use it.
 */
export const DL_FIND_OBJECT_C = `/* _dl_find_object over dl_iterate_phdr, for static musl programs (written by kiln; Apache-2.0). */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include <stdint.h>

/* glibc's layout on x86_64 (no dlfo_eh_dbase, no dlfo_eh_count). */
struct dl_find_object {
  unsigned long long dlfo_flags;
  void *dlfo_map_start;
  void *dlfo_map_end;
  struct link_map *dlfo_link_map;
  void *dlfo_eh_frame;
  unsigned long long __dlfo_reserved[7];
};

int _dl_find_object(void *address, struct dl_find_object *result);

struct kiln_dlfo_query {
  uintptr_t pc;
  struct dl_find_object *out;
};

static int kiln_dlfo_visit(struct dl_phdr_info *info, size_t size, void *data) {
  struct kiln_dlfo_query *q = data;
  uintptr_t lo = UINTPTR_MAX, hi = 0, eh = 0;
  int hit = 0;
  (void)size;
  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      uintptr_t start = info->dlpi_addr + ph->p_vaddr;
      uintptr_t end = start + ph->p_memsz;
      if (start < lo) lo = start;
      if (end > hi) hi = end;
      if (q->pc >= start && q->pc < end) hit = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh = info->dlpi_addr + ph->p_vaddr;
    }
  }
  if (!hit) return 0;
  q->out->dlfo_flags = 0;
  q->out->dlfo_map_start = (void *)lo;
  q->out->dlfo_map_end = (void *)hi;
  q->out->dlfo_link_map = NULL; /* musl has no link_map for a static program */
  q->out->dlfo_eh_frame = (void *)eh;
  return 1;
}

int _dl_find_object(void *address, struct dl_find_object *result) {
  struct kiln_dlfo_query q = { (uintptr_t)address, result };
  return dl_iterate_phdr(kiln_dlfo_visit, &q) ? 0 : -1;
}
`;
