/**
 * Kernel command line composition. The image's own line comes first; a backend's essential parameters
 * (console device, how reboot works) replace the image's value for the same key, while tunables (timer
 * hints) only fill in what the image did not set.
 */
export interface CmdlineParts {
  /** Replace any image parameter with the same key. */
  override: string[];
  /** Added only when the image has no parameter with that key. */
  ifAbsent: string[];
}

function key(param: string): string {
  const i = param.indexOf("=");
  return i < 0 ? param : param.slice(0, i);
}

export function composeCmdline(base: string, parts: CmdlineParts): string {
  const tokens = base.split(/\s+/).filter(Boolean);
  const overridden = new Set(parts.override.map(key));
  const kept = tokens.filter((t) => !overridden.has(key(t)));
  const present = new Set([...kept.map(key), ...overridden]);
  const extra = parts.ifAbsent.filter((t) => !present.has(key(t)));
  return [...kept, ...parts.override, ...extra].join(" ");
}
