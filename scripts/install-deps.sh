#!/usr/bin/env bash
# Install the Debian packages kiln uses: every package named in data/prerequisites.tsv (the list
# `kiln doctor` checks) plus what only the tests need. Idempotent; needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
mapfile -t PKGS < <(grep -v '^#' data/prerequisites.tsv | awk -F'\t' '$3 != "-" {print $3}' | sort -u)
# Test-only: cross-checks against Debian's own readers (python3-debian reads DEP-5 copyright files).
PKGS+=(dpkg-dev zip unzip libclang-rt-14-dev docker-registry skopeo lintian systemd python3 python3-debian iproute2)
# Test-only: the Xen rig runs the host's own Xen tools (xl, xenstore-write, xenconsole, hotplug scripts)
# inside its dom0, and its QEMU device model for HVM guests and stub domains' consoles.
PKGS+=(xen-utils-4.17 xenstore-utils qemu-system-xen curl)
# Test-only: the redis test talks to the guest with redis-cli.
PKGS+=(redis-tools)
# Test-only: the PostgreSQL test asks the guest's server with psql.
PKGS+=(postgresql-client)
# Test-only: the libvirt tests run a real libvirtd and virtlogd (libvirt-daemon-system makes the
# libvirt-qemu user), reach it remotely through an sshd of their own (qemu+ssh://), and check domain XML
# with virt-xml-validate against libvirt's own schemas (it needs xmllint).
PKGS+=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon-system openssh-server openssh-client libxml2-utils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
