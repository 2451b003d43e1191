/* libFuzzer: fw_cfg's file directory as the device hands it over (a big-endian count, then 64-byte entries),
 * looked up by the name a restored boot state waits for. */
#include <stdint.h>
#include <stdlib.h>

#include "../fwcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t item = 0;
  int key = fwcfg_find(data, size, "opt/kiln/boot", &item);
  if (key > 0xffff) abort();
  if (key >= 0 && size < 4 + sizeof(struct fwcfg_file)) abort();
  return 0;
}
