#include "dhcp.h"

#include <string.h>

/* BOOTP header offsets (RFC 951 / 2131). */
#define OFF_OP 0
#define OFF_XID 4
#define OFF_FLAGS 10
#define OFF_CIADDR 12
#define OFF_YIADDR 16
#define OFF_SIADDR 20
#define OFF_CHADDR 28
#define OFF_COOKIE 236
#define OFF_OPTIONS 240
#define FLAG_BROADCAST 0x8000

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const uint8_t COOKIE[4] = {99, 130, 83, 99};
/* Subnet mask, router, DNS, MTU, lease time, server identifier, T1. */
static const uint8_t WANTED[] = {1, 3, 6, 26, 51, 54, 58};

size_t dhcp_build(uint8_t *buf, enum dhcp_type type, uint32_t xid, const uint8_t mac[6], uint32_t ciaddr,
                  uint32_t requested, uint32_t server) {
  memset(buf, 0, DHCP_MSG_MAX);
  buf[OFF_OP] = 1; /* BOOTREQUEST */
  buf[1] = 1;      /* Ethernet */
  buf[2] = 6;
  put32(buf + OFF_XID, xid);
  /* Until it has an address the interface cannot take a unicast reply: ask the server to broadcast it. */
  if (!ciaddr) {
    buf[OFF_FLAGS] = FLAG_BROADCAST >> 8;
  }
  put32(buf + OFF_CIADDR, ciaddr);
  memcpy(buf + OFF_CHADDR, mac, 6);
  memcpy(buf + OFF_COOKIE, COOKIE, 4);
  uint8_t *o = buf + OFF_OPTIONS;
  *o++ = 53;
  *o++ = 1;
  *o++ = (uint8_t)type;
  if (requested) {
    *o++ = 50;
    *o++ = 4;
    put32(o, requested);
    o += 4;
  }
  if (server) {
    *o++ = 54;
    *o++ = 4;
    put32(o, server);
    o += 4;
  }
  *o++ = 57; /* the largest reply we take */
  *o++ = 2;
  *o++ = DHCP_MSG_MAX >> 8;
  *o++ = DHCP_MSG_MAX & 255;
  *o++ = 55;
  *o++ = sizeof WANTED;
  memcpy(o, WANTED, sizeof WANTED);
  o += sizeof WANTED;
  *o++ = 255;
  /* BOOTP relays and old servers expect at least the 300-byte BOOTP message. */
  size_t n = (size_t)(o - buf);
  return n < 300 ? 300 : n;
}

static int prefix_of(uint32_t mask) {
  int p = 0;
  while (p < 32 && (mask & (0x80000000u >> p))) p++;
  /* Contiguous: nothing set after the first zero. */
  return (p < 32 && (mask << p)) ? -1 : p;
}

int dhcp_parse(const uint8_t *buf, size_t len, uint32_t xid, const uint8_t mac[6], struct dhcp_lease *out) {
  memset(out, 0, sizeof *out);
  out->prefix = -1;
  if (len < OFF_OPTIONS || buf[OFF_OP] != 2 || buf[1] != 1 || buf[2] != 6) return -1;
  if (get32(buf + OFF_XID) != xid || memcmp(buf + OFF_CHADDR, mac, 6)) return -1;
  if (memcmp(buf + OFF_COOKIE, COOKIE, 4)) return -1;
  out->addr = get32(buf + OFF_YIADDR);
  uint32_t siaddr = get32(buf + OFF_SIADDR);
  int have_t1 = 0;
  size_t i = OFF_OPTIONS;
  for (;;) {
    if (i >= len) return -1; /* no end option */
    uint8_t code = buf[i++];
    if (code == 0) continue;
    if (code == 255) break;
    if (i >= len) return -1;
    size_t n = buf[i++];
    if (n > len - i) return -1;
    const uint8_t *v = buf + i;
    i += n;
    switch (code) {
      case 53:
        if (n != 1) return -1;
        out->type = v[0];
        break;
      case 1:
        if (n != 4) return -1;
        out->prefix = prefix_of(get32(v));
        break;
      case 3:
        if (n < 4 || n % 4) return -1;
        out->router = get32(v);
        break;
      case 6:
        if (n < 4 || n % 4) return -1;
        for (size_t k = 0; k < n && out->n_dns < DHCP_MAX_DNS; k += 4) out->dns[out->n_dns++] = get32(v + k);
        break;
      case 26:
        if (n != 2) return -1;
        out->mtu = v[0] << 8 | v[1];
        if (out->mtu < 68) out->mtu = 0;
        break;
      case 51:
        if (n != 4) return -1;
        out->lease_s = get32(v);
        break;
      case 54:
        if (n != 4) return -1;
        out->server = get32(v);
        break;
      case 58:
        if (n != 4) return -1;
        out->renew_s = get32(v);
        have_t1 = 1;
        break;
      default:
        break;
    }
  }
  if (out->type != DHCP_OFFER && out->type != DHCP_ACK && out->type != DHCP_NAK) return -1;
  if (!out->server) out->server = siaddr;
  if (out->type == DHCP_NAK) return 0;
  if (!out->addr || out->addr == 0xffffffffu || !out->server) return -1;
  if (!have_t1 || (out->lease_s != 0xffffffffu && out->renew_s > out->lease_s)) out->renew_s = out->lease_s / 2;
  if (out->lease_s == 0xffffffffu && !have_t1) out->renew_s = 0xffffffffu;
  return 0;
}
