// A scripted DHCP server for one guest, speaking raw Ethernet frames with QEMU's `-netdev socket,udp=...`
// (one UDP datagram per frame). It answers ARP for its own address and DHCP as `decide` says, and records
// every DHCP message the guest sends, so that a test can check renewals, unicast and NAK handling.
import { createSocket, type Socket } from "node:dgram";

export interface DhcpSeen {
  type: number;
  ciaddr: string;
  requested?: string;
  /** IPv4 destination of the frame: 255.255.255.255 for broadcasts, the server for unicast renewals. */
  dst: string;
  at: number;
}

export interface DhcpAnswer {
  type: "offer" | "ack" | "nak";
  addr?: string;
  leaseS?: number;
  renewS?: number;
}

const SERVER_MAC = Buffer.from([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
const ip = (s: string) => Buffer.from(s.split(".").map(Number));
const ipStr = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

export class DhcpServer {
  readonly seen: DhcpSeen[] = [];
  private sock: Socket = createSocket("udp4");
  private qemu = 0;
  private readonly t0 = Date.now();

  constructor(
    readonly server: string,
    private readonly decide: (m: DhcpSeen, n: number) => DhcpAnswer | undefined,
  ) {}

  /** Bind, and return the QEMU arguments that connect a virtio-net-device to this server. */
  async start(): Promise<string[]> {
    await new Promise<void>((res) => this.sock.bind(0, "127.0.0.1", res));
    const mine = this.sock.address().port;
    const probe = createSocket("udp4");
    await new Promise<void>((res) => probe.bind(0, "127.0.0.1", res));
    this.qemu = probe.address().port;
    probe.close();
    this.sock.on("message", (f) => this.frame(f));
    return [
      "-netdev",
      `socket,id=n0,udp=127.0.0.1:${mine},localaddr=127.0.0.1:${this.qemu}`,
      "-device",
      "virtio-net-device,netdev=n0",
    ];
  }

  stop(): void {
    this.sock.close();
  }

  private send(dstMac: Buffer, type: number, payload: Buffer): void {
    const eth = Buffer.alloc(14);
    dstMac.copy(eth, 0);
    SERVER_MAC.copy(eth, 6);
    eth.writeUInt16BE(type, 12);
    this.sock.send(Buffer.concat([eth, payload]), this.qemu, "127.0.0.1");
  }

  private frame(f: Buffer): void {
    if (f.length < 42) return;
    const type = f.readUInt16BE(12);
    const src = f.subarray(6, 12);
    if (type === 0x0806 && f.readUInt16BE(20) === 1 && ipStr(f, 38) === this.server) {
      // ARP: who has the server's address? We do.
      const arp = Buffer.alloc(28);
      arp.writeUInt16BE(1, 0);
      arp.writeUInt16BE(0x0800, 2);
      arp[4] = 6;
      arp[5] = 4;
      arp.writeUInt16BE(2, 6);
      SERVER_MAC.copy(arp, 8);
      ip(this.server).copy(arp, 14);
      f.copy(arp, 18, 22, 28);
      f.copy(arp, 24, 28, 32);
      this.send(src, 0x0806, arp);
      return;
    }
    if (type !== 0x0800 || f[23] !== 17 || f.readUInt16BE(36) !== 67) return;
    const ihl = (f[14]! & 15) * 4;
    const d = f.subarray(14 + ihl + 8);
    if (d.length < 240 || d[0] !== 1) return;
    const seen: DhcpSeen = { type: 0, ciaddr: ipStr(d, 12), dst: ipStr(f, 30), at: Date.now() - this.t0 };
    for (let i = 240; i < d.length && d[i] !== 255; ) {
      if (d[i] === 0) {
        i++;
        continue;
      }
      const code = d[i]!;
      const len = d[i + 1]!;
      if (code === 53) seen.type = d[i + 2]!;
      if (code === 50) seen.requested = ipStr(d, i + 2);
      i += 2 + len;
    }
    this.seen.push(seen);
    const a = this.decide(seen, this.seen.length - 1);
    if (a) this.reply(src, d, a);
  }

  private reply(mac: Buffer, req: Buffer, a: DhcpAnswer): void {
    const bootp = Buffer.alloc(240);
    bootp[0] = 2;
    bootp[1] = 1;
    bootp[2] = 6;
    req.copy(bootp, 4, 4, 8); // xid
    req.copy(bootp, 12, 12, 16); // ciaddr
    if (a.addr) ip(a.addr).copy(bootp, 16);
    ip(this.server).copy(bootp, 20);
    req.copy(bootp, 28, 28, 44); // chaddr
    Buffer.from([99, 130, 83, 99]).copy(bootp, 236);
    const type = { offer: 2, ack: 5, nak: 6 }[a.type];
    const opts = [53, 1, type, 54, 4, ...ip(this.server)];
    if (a.type !== "nak") {
      const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
      opts.push(1, 4, 255, 255, 255, 0, 3, 4, ...ip(this.server), 6, 4, ...ip(this.server));
      opts.push(51, 4, ...u32(a.leaseS ?? 3600), 58, 4, ...u32(a.renewS ?? (a.leaseS ?? 3600) / 2));
    }
    opts.push(255);
    const dhcp = Buffer.concat([bootp, Buffer.from(opts)]);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(67, 0);
    udp.writeUInt16BE(68, 2);
    udp.writeUInt16BE(8 + dhcp.length, 4);
    const ipHdr = Buffer.alloc(20);
    ipHdr[0] = 0x45;
    ipHdr.writeUInt16BE(20 + 8 + dhcp.length, 2);
    ipHdr[8] = 64;
    ipHdr[9] = 17;
    ip(this.server).copy(ipHdr, 12);
    // The guest asked for broadcast replies until it has an address; renewals are answered to it directly.
    const unicast = req.readUInt32BE(12) !== 0;
    (unicast ? req.subarray(12, 16) : Buffer.from([255, 255, 255, 255])).copy(ipHdr, 16);
    ipHdr.writeUInt16BE(checksum(ipHdr), 10);
    this.send(unicast ? mac : Buffer.alloc(6, 0xff), 0x0800, Buffer.concat([ipHdr, udp, dhcp]));
  }
}
