/* DHCPv4 messages (RFC 2131, options RFC 2132): building DISCOVER and REQUEST, reading OFFER, ACK and NAK.
 * Pure functions over byte buffers, so that the parser can be unit-tested and fuzzed; the socket exchange
 * lives in init.c. Addresses are in host byte order, as in config.h. */
#ifndef KILN_DHCP_H
#define KILN_DHCP_H

#include <stddef.h>
#include <stdint.h>

#define DHCP_MAX_DNS 4
/* BOOTP's fixed part (236 bytes), the magic cookie and room for our few options. */
#define DHCP_MSG_MAX 576

enum dhcp_type { DHCP_DISCOVER = 1, DHCP_OFFER = 2, DHCP_REQUEST = 3, DHCP_ACK = 5, DHCP_NAK = 6 };

struct dhcp_lease {
  int type;            /* enum dhcp_type of the message read */
  uint32_t addr;       /* yiaddr */
  uint32_t server;     /* server identifier (option 54) */
  int prefix;          /* from the subnet mask (option 1); -1 when absent or not contiguous */
  uint32_t router;     /* first router (option 3); 0 when absent */
  uint32_t dns[DHCP_MAX_DNS];
  int n_dns;
  uint32_t lease_s;    /* option 51; 0xffffffff is infinite; 0 when absent */
  uint32_t renew_s;    /* T1 (option 58), else lease/2 */
  int mtu;             /* option 26; 0 when absent */
};

/* DISCOVER (server == 0) or REQUEST for `requested` from `server` (SELECTING state, broadcast), or a renewal
 * (`ciaddr` set, no requested/server options). Returns the message length. */
size_t dhcp_build(uint8_t *buf, enum dhcp_type type, uint32_t xid, const uint8_t mac[6], uint32_t ciaddr,
                  uint32_t requested, uint32_t server);

/* Read a server's reply to transaction `xid` for `mac`. Returns 0 and fills `out` for a well-formed OFFER,
 * ACK or NAK; -1 for anything else (not a reply, another client's, truncated, malformed options). */
int dhcp_parse(const uint8_t *buf, size_t len, uint32_t xid, const uint8_t mac[6], struct dhcp_lease *out);

#endif
