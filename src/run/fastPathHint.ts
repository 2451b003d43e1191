/**
 * The hint a first `kiln run` gives when it boots the stock kernel only because no specialized kernel was
 * built yet: one line, once per KILN_HOME. A marker file remembers that it was shown; it is written
 * atomically, so two kilns starting together show it at most twice and never leave half a file.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import type { KernelChoice } from "../components/kernelChoice.js";
import { writeFileAtomic } from "../core/atomic.js";
import { kilnHome } from "../core/paths.js";

function markerPath(env?: NodeJS.ProcessEnv): string {
  return join(kilnHome(env), "notices", "fast-path-hint");
}

/** The hint's text when this run should show it (and has not shown it before). */
export async function pendingFastPathHint(
  choice: KernelChoice,
  platform: string,
  env?: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (choice.chosen !== "default" || choice.kind !== "stock" || !choice.couldSpecialize) return undefined;
  const seen = await access(markerPath(env)).then(
    () => true,
    () => false,
  );
  if (seen) return undefined;
  return `kiln: hint: \`kiln components build ${platform}\` (minutes, once) makes runs for ${platform} boot a specialized kernel, about 5 times faster`;
}

/** Remember that the hint reached the user. */
export async function markFastPathHintShown(env?: NodeJS.ProcessEnv): Promise<void> {
  await writeFileAtomic(markerPath(env), `${new Date().toISOString()}\n`);
}
