/* libFuzzer: kiln-init's DHCP reply parser on arbitrary datagrams. The transaction id and hardware address are
 * taken from the input itself, so that the fuzzer reaches the options. Checks what the client relies on:
 * only OFFER, ACK or NAK come back, within their bounds; a request kiln-init built is never taken as a reply. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t mac[6] = {0};
  uint32_t xid = 0;
  if (size >= 34) {
    xid = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
    memcpy(mac, data + 28, 6);
  }
  /* The parser must stay within `size`: hand it an exact-size copy so that ASan sees any overread. */
  uint8_t *copy = malloc(size ? size : 1);
  memcpy(copy, data, size);
  struct dhcp_lease l;
  if (dhcp_parse(copy, size, xid, mac, &l) == 0) {
    if (l.type != DHCP_OFFER && l.type != DHCP_ACK && l.type != DHCP_NAK) abort();
    if (l.n_dns < 0 || l.n_dns > DHCP_MAX_DNS || l.prefix < -1 || l.prefix > 32) abort();
    if (l.type != DHCP_NAK) {
      if (!l.addr || !l.server) abort();
      if (l.lease_s != 0xffffffffu && l.renew_s > l.lease_s) abort();
    }
  }
  free(copy);
  uint8_t req[DHCP_MSG_MAX];
  size_t n = dhcp_build(req, size & 1 ? DHCP_REQUEST : DHCP_DISCOVER, xid, mac, size > 40 ? xid : 0, xid, xid);
  if (n < 300 || n > DHCP_MSG_MAX || dhcp_parse(req, n, xid, mac, &l) == 0) abort();
  return 0;
}
