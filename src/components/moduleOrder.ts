/**
 * The order to load modules in: each module after everything it needs, each once. modules.dep lists a
 * module's whole dependency closure with the deepest last; kmod's modprobe loads that list back to front,
 * and so does this, so that for one module the order is modprobe's (`modprobe --show-depends`).
 */
export function loadOrder(
  modules: Readonly<Record<string, { deps: readonly string[] }>>,
  roots: readonly string[],
): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (done.has(name)) return;
    const m = modules[name];
    if (!m) throw new Error(`module ${name} is not in the index`);
    // modules.dep comes from depmod, which refuses cycles; a cycle here means a damaged index.
    if (visiting.has(name)) throw new Error(`module dependency cycle through ${name}`);
    visiting.add(name);
    for (let i = m.deps.length - 1; i >= 0; i--) visit(m.deps[i]!);
    visiting.delete(name);
    done.add(name);
    out.push(name);
  };
  for (const r of roots) visit(r);
  return out;
}
