// Debian packages kiln runs unmodified, each with a real check: a program's output, or a client talking to
// a server from the host. Read by scripts/compat.mjs (the table in docs/compatibility.md) and by
// test/e2e/compat.test.ts (the fast subset CI runs). A case:
//   spec     what `kiln bake` takes (deb:NAME[:/PATH])
//   args     the program's arguments
//   files    files to add: image path → text
//   include  paths or globs from the packages beyond what kiln finds (--include)
//   run      { expect: RegExp }: the program runs to exit 0 and prints a line matching it
//   serve    { port, proto?, check(hostPort) → Promise<boolean> }: a server; ready when check passes
//   fast     in CI's subset
import { createSocket } from "node:dgram";
import { connect } from "node:net";

/**
 * Send `send` on a fresh TCP connection; resolve with what came back once `until` matches (else false).
 * Short: QEMU's port forward accepts a connection before the guest listens and then says nothing, so a long
 * wait here would be counted as the server's ready time.
 */
export function tcp(port, send, until, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const done = (v) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on("connect", () => s.write(send));
    s.on("data", (d) => {
      got = Buffer.concat([got, d]);
      if (until.test(got.toString("latin1"))) done(got.toString("latin1"));
    });
    s.on("error", () => done(false));
    s.on("close", () => done(false));
  });
}

const http =
  (path = "/", want = /^HTTP\/1\.[01] 200/) =>
  (port) =>
    tcp(port, `GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`, want).then(Boolean);

/** A DNS query for `name` (A record) over UDP; true when the answer carries `ip`. */
function dnsA(port, name, ip) {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l)]);
    const q = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 2000);
    s.on("message", (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.includes(Buffer.from(ip.split(".").map(Number))));
    });
    s.send(q, port, "127.0.0.1");
  });
}

// MQTT 3.1.1 CONNECT with client id "k"; a broker answers CONNACK 20 02 00 00.
const MQTT_CONNECT = Buffer.from([0x10, 13, 0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, 1, 107]);

export const CASES = [
  // Servers
  {
    name: "redis-server",
    spec: "deb:redis-server",
    serve: { port: 6379, check: (p) => tcp(p, "PING\r\n", /\+PONG/).then(Boolean) },
    fast: true,
  },
  { name: "nginx-light", spec: "deb:nginx-light", serve: { port: 80, check: http() } },
  {
    name: "memcached",
    spec: "deb:memcached",
    serve: {
      port: 11211,
      check: (p) => tcp(p, "set k 0 0 2\r\nhi\r\nget k\r\n", /VALUE k 0 2\r\nhi/).then(Boolean),
    },
  },
  {
    name: "nodejs",
    spec: "deb:nodejs",
    files: { "/srv.js": "require('http').createServer((q, r) => r.end('ok\\n')).listen(8080);\n" },
    args: ["/srv.js"],
    serve: { port: 8080, check: http() },
  },
  {
    name: "python3 (http.server)",
    spec: "deb:python3",
    files: { "/srv/index.html": "<p>kiln</p>\n" },
    args: ["-m", "http.server", "-d", "/srv", "8000"],
    serve: { port: 8000, check: http("/", /<p>kiln<\/p>/) },
  },
  {
    name: "php8.2-cli (built-in server)",
    spec: "deb:php8.2-cli:/usr/bin/php8.2",
    files: { "/srv/index.php": '<?php echo 6*7, "\\n";\n' },
    args: ["-S", "0.0.0.0:8080", "-t", "/srv"],
    serve: { port: 8080, check: http("/", /\r\n\r\n42/) },
  },
  {
    name: "ruby (TCPServer)",
    spec: "deb:ruby3.1:/usr/bin/ruby3.1",
    files: {
      "/srv.rb":
        "require 'socket'\ns = TCPServer.new(7000)\nloop { c = s.accept; c.puts(c.gets.upcase); c.close }\n",
    },
    args: ["/srv.rb"],
    serve: { port: 7000, check: (p) => tcp(p, "kiln\n", /KILN/).then(Boolean) },
  },
  {
    name: "perl (IO::Socket)",
    spec: "deb:perl",
    files: {
      "/srv.pl":
        "use IO::Socket::INET;\nmy $s = IO::Socket::INET->new(LocalPort => 7000, Listen => 5, ReuseAddr => 1) or die;\nwhile (my $c = $s->accept) { my $l = <$c>; print $c uc($l); close $c }\n",
    },
    args: ["/srv.pl"],
    serve: { port: 7000, check: (p) => tcp(p, "kiln\n", /KILN/).then(Boolean) },
  },
  {
    name: "mosquitto",
    spec: "deb:mosquitto",
    files: { "/etc/kiln/mosquitto.conf": "listener 1883 0.0.0.0\nallow_anonymous true\n" },
    args: ["-c", "/etc/kiln/mosquitto.conf"],
    serve: { port: 1883, check: (p) => tcp(p, MQTT_CONNECT, /^\x20\x02\x00\x00/).then(Boolean) },
  },
  {
    name: "dnsmasq",
    spec: "deb:dnsmasq-base:/usr/sbin/dnsmasq",
    args: ["--keep-in-foreground", "--no-resolv", "--no-hosts", "--address=/kiln.test/10.9.8.7", "--port=53"],
    serve: { port: 53, proto: "udp", check: (p) => dnsA(p, "kiln.test", "10.9.8.7") },
  },
  {
    name: "lighttpd",
    spec: "deb:lighttpd",
    files: {
      "/etc/kiln/lighttpd.conf":
        'server.document-root = "/srv"\nserver.port = 80\nindex-file.names = ("index.html")\n',
      "/srv/index.html": "<p>lighttpd in kiln</p>\n",
    },
    args: ["-D", "-f", "/etc/kiln/lighttpd.conf"],
    serve: { port: 80, check: http("/", /lighttpd in kiln/) },
  },
  {
    name: "webfs",
    spec: "deb:webfs:/usr/bin/webfsd",
    files: { "/srv/index.html": "<p>webfs in kiln</p>\n" },
    args: ["-F", "-p", "80", "-r", "/srv", "-f", "index.html"],
    serve: { port: 80, check: http("/", /webfs in kiln/) },
  },
  {
    name: "haproxy",
    spec: "deb:haproxy",
    files: {
      "/etc/kiln/haproxy.cfg":
        "defaults\n  mode http\n  timeout client 5s\n  timeout connect 5s\n  timeout server 5s\nfrontend f\n  bind :80\n  http-request return status 200 content-type text/plain string kiln\n",
    },
    args: ["-db", "-f", "/etc/kiln/haproxy.cfg"],
    serve: { port: 80, check: http("/", /\r\n\r\nkiln/) },
  },
  {
    name: "socat (TCP echo)",
    spec: "deb:socat",
    args: ["TCP-LISTEN:7000,reuseaddr,fork", "PIPE"],
    serve: { port: 7000, check: (p) => tcp(p, "kiln\n", /kiln/).then(Boolean) },
  },
  {
    name: "squid",
    spec: "deb:squid",
    files: {
      "/etc/kiln/squid.conf":
        "http_port 3128\nvisible_hostname kiln\nhttp_access allow all\ncache deny all\npid_filename none\nlogfile_rotate 0\naccess_log none\n",
    },
    args: ["-N", "-f", "/etc/kiln/squid.conf"],
    // A request for a host it cannot reach: squid itself answers (an error page with its name).
    serve: {
      port: 3128,
      check: (p) => tcp(p, "GET http://kiln.invalid/ HTTP/1.0\r\n\r\n", /squid/i).then(Boolean),
    },
  },
  {
    // The catalogue's recipe: initdb at boot as the postgres user, then the server. An SSLRequest is
    // answered with one byte, N (no TLS here), by a server that has its cluster up.
    name: "postgresql-15",
    spec: "deb:postgresql-15",
    serve: {
      port: 5432,
      check: (p) => tcp(p, Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), /^N$/).then(Boolean),
    },
  },
  // Programs
  {
    name: "sqlite3",
    spec: "deb:sqlite3",
    args: [":memory:", "select 6*7;"],
    run: { expect: /^42$/ },
    fast: true,
  },
  { name: "lua5.4", spec: "deb:lua5.4", args: ["-e", "print(6*7)"], run: { expect: /^42$/ }, fast: true },
  { name: "luajit", spec: "deb:luajit", args: ["-e", "print(6*7)"], run: { expect: /^42$/ } },
  { name: "gawk", spec: "deb:gawk", args: ["BEGIN { print 6*7 }"], run: { expect: /^42$/ }, fast: true },
  // -M: the VM's console is a terminal, and jq colours what it prints to one.
  { name: "jq", spec: "deb:jq", args: ["-M", "-n", "6*7"], run: { expect: /^42$/ } },
  { name: "bash", spec: "deb:bash", args: ["-c", "echo $((6*7))"], run: { expect: /^42$/ } },
  { name: "dash", spec: "deb:dash", args: ["-c", "echo $((6*7))"], run: { expect: /^42$/ } },
  {
    name: "python3",
    spec: "deb:python3",
    args: ["-c", "import json, ssl; print(6*7)"],
    run: { expect: /^42$/ },
  },
  {
    name: "perl",
    spec: "deb:perl",
    args: ["-MPOSIX", "-e", "print floor(42.9), qq(\\n)"],
    run: { expect: /^42$/ },
  },
  {
    name: "ruby",
    spec: "deb:ruby3.1:/usr/bin/ruby3.1",
    args: ["-rjson", "-e", "puts JSON.generate([6*7])"],
    run: { expect: /^\[42\]$/ },
  },
  {
    name: "php8.2-cli",
    spec: "deb:php8.2-cli:/usr/bin/php8.2",
    args: ["-r", "echo 6*7, PHP_EOL;"],
    run: { expect: /^42$/ },
  },
  {
    name: "tcl8.6",
    spec: "deb:tcl8.6:/usr/bin/tclsh8.6",
    files: { "/t.tcl": "puts [expr {6*7}]\n" },
    args: ["/t.tcl"],
    run: { expect: /^42$/ },
  },
  {
    name: "guile-3.0",
    spec: "deb:guile-3.0:/usr/bin/guile-3.0",
    // glibc's iconv modules: Guile converts every string through iconv, which dlopen()s them.
    include: ["/usr/lib/x86_64-linux-gnu/gconv/**"],
    args: ["--no-auto-compile", "-c", "(display (* 6 7)) (newline)"],
    run: { expect: /^42$/ },
  },
  {
    name: "bc",
    spec: "deb:bc",
    files: { "/t.bc": "6*7\nquit\n" },
    args: ["-q", "/t.bc"],
    run: { expect: /^42$/ },
  },
  { name: "file", spec: "deb:file", args: ["/init"], run: { expect: /ELF 64-bit LSB executable, x86-64/ } },
  {
    name: "openssl",
    spec: "deb:openssl",
    args: ["dgst", "-sha256", "/init"],
    run: { expect: /^SHA2-256\(\/init\)= [0-9a-f]{64}$/ },
  },
  {
    name: "git",
    spec: "deb:git",
    args: ["init", "/tmp/repo"],
    run: { expect: /^Initialized empty Git repository in \/tmp\/repo\/\.git\/$/ },
  },
  {
    name: "busybox-static",
    spec: "deb:busybox-static:/bin/busybox",
    args: ["expr", "6", "*", "7"],
    run: { expect: /^42$/ },
  },
  {
    name: "coreutils",
    spec: "deb:coreutils:/usr/bin/echo",
    args: ["from", "coreutils"],
    run: { expect: /^from coreutils$/ },
    fast: true,
  },
];
