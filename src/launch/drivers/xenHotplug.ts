/**
 * kiln's own Xen hotplug script for its guests' disks and vifs (xl.cfg's `script=`). libxl runs a script in
 * dom0 for each backend device and gives up after 40 s; Xen's own scripts (Debian's /etc/xen/scripts/block
 * and vif-bridge) take longer than that in a dom0 under software emulation: hundreds of processes for
 * locking, sharing checks and logging. This one does only what the backends need: a loop device for a disk
 * file and its major:minor in `physical-device`, the vif on its bridge, and `hotplug-status connected`.
 * Kept in the cache under the digest of its text, so that a domain's `remove` finds it after kiln is gone.
 */
import { access, chmod } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../core/atomic.js";
import { sha256 } from "../../core/digest.js";
import { paths } from "../../core/paths.js";

export const HOTPLUG_SCRIPT = `#!/bin/sh
# kiln's Xen hotplug script (kiln launch xen): libxl runs it as SCRIPT add|remove|online|offline with
# XENBUS_TYPE (vbd or vif), XENBUS_PATH (the backend's xenstore directory) and, for vifs, vif (its name).
set -e
be=$XENBUS_PATH
ok() { xenstore-write "$be/hotplug-status" connected; }
fail() { xenstore-write "$be/hotplug-error" "$*" "$be/hotplug-status" error; echo "kiln-hotplug: $*" >&2; exit 1; }
case "$XENBUS_TYPE:$1" in
vbd:add)
  params=$(xenstore-read "$be/params") || fail "no params in $be"
  ro=
  [ "$(xenstore-read "$be/mode" 2>/dev/null)" = r ] && ro=-r
  if [ -b "$params" ]; then dev=$params
  else dev=$(losetup -f --show $ro -- "$params") || fail "cannot attach $params to a loop device"
  fi
  xenstore-write "$be/node" "$dev" "$be/physical-device" "$(stat -L -c %t:%T "$dev")" \\
    "$be/physical-device-path" "$dev"
  ok ;;
vbd:remove)
  node=$(xenstore-read "$be/node" 2>/dev/null) || exit 0
  case $node in /dev/loop*) losetup -d "$node" 2>/dev/null || true ;; esac ;;
vif:add|vif:online)
  bridge=$(xenstore-read "$be/bridge") || fail "no bridge in $be"
  ip link set dev "$vif" master "$bridge" || fail "cannot put $vif on bridge $bridge"
  ip link set dev "$vif" up
  ok ;;
vif:remove|vif:offline)
  ip link set dev "$vif" nomaster 2>/dev/null || true ;;
esac
`;

/** The script's path, written (once per version of its text) when `write` is set: a dry run writes nothing. */
export async function hotplugScript(env?: NodeJS.ProcessEnv, write = true): Promise<string> {
  const file = join(paths.cache(env), "xen", `kiln-hotplug-${sha256(HOTPLUG_SCRIPT).slice(0, 16)}`);
  if (!write) return file;
  const have = await access(file).then(
    () => true,
    () => false,
  );
  if (!have) {
    await writeFileAtomic(file, HOTPLUG_SCRIPT, 0o755);
    await chmod(file, 0o755);
  }
  return file;
}
