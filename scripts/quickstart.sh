#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what kiln needs, then build examples/hello with the
# kiln toolchain, bake it with Debian's kernel and boot it in QEMU, printing its output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci
[ -f dist/cli/main.js ] || npm run build
bin/kiln run examples/hello
