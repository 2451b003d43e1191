#!/usr/bin/env bash
# Debian packages kiln uses (the same list `kiln doctor` checks). Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  gcc clang lld llvm binutils make
  musl-tools musl-dev
  autoconf automake libtool pkg-config cmake meson ninja-build
  qemu-system-x86 qemu-utils kmod cpio xz-utils file curl
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
