/**
 * Debian binary packages (.deb): an `ar` archive of `debian-binary`, `control.tar.*` and `data.tar.*`.
 * Read the control fields, and unpack the data safely (see safeTar.ts) into a new directory.
 */
import { basename } from "node:path";
import { extract as tarExtract } from "tar-stream";
import { type ArMember, arMemberStream, readArMembers } from "./ar.js";
import { compressionOf, decompress } from "./decompress.js";
import { KilnError, q } from "./errors.js";
import { type ExtractedFile, type ExtractOptions, extractTar } from "./safeTar.js";

export interface DebControl {
  package: string;
  version: string;
  architecture?: string;
  source?: string;
  /** Every field of the control file, by its name as written. */
  fields: Record<string, string>;
}

interface DebLayout {
  control: ArMember;
  data: ArMember;
}

async function layout(path: string): Promise<DebLayout> {
  const members = await readArMembers(path);
  if (members[0]?.name !== "debian-binary") {
    throw invalid(path, "its first member is not debian-binary");
  }
  const control = members.find((m) => m.name.startsWith("control.tar"));
  const data = members.find((m) => m.name.startsWith("data.tar"));
  if (!control || !data) throw invalid(path, "it has no control.tar or data.tar member");
  for (const m of [control, data]) {
    if (compressionOf(m.name) === undefined)
      throw invalid(path, `member ${q(m.name)} has an unknown compression`);
  }
  return { control, data };
}

export async function readDebControl(path: string): Promise<DebControl> {
  const text = (await readDebControlFiles(path, ["control"])).get("control");
  if (text === undefined) throw invalid(path, "it has no control file");
  const fields = parseControl(text);
  if (!fields.Package || !fields.Version) throw invalid(path, "its control file names no Package or Version");
  return {
    package: fields.Package,
    version: fields.Version,
    ...(fields.Architecture ? { architecture: fields.Architecture } : {}),
    ...(fields.Source ? { source: fields.Source } : {}),
    fields,
  };
}

/** Members of the control archive (control, preinst, postinst, ...) that the package has, by name. */
export async function readDebControlFiles(
  path: string,
  names: readonly string[],
): Promise<Map<string, string>> {
  const { control } = await layout(path);
  const label = `${basename(path)}:${control.name}`;
  const stream = decompress(arMemberStream(path, control), compressionOf(control.name)!, label);
  const extract = tarExtract();
  stream.on("error", (e) => extract.destroy(e));
  stream.pipe(extract);
  const out = new Map<string, string>();
  try {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const name = entry.header.name.replace(/^\.\//, "");
      if (names.includes(name) && entry.header.type === "file")
        out.set(name, Buffer.concat(chunks).toString("utf8"));
    }
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw invalid(path, `its control archive is damaged (${(e as Error).message})`);
  }
  return out;
}

/** Unpack the package's files (data.tar) into `target`, which must not exist yet. */
export async function unpackDeb(
  path: string,
  target: string,
  opts: Omit<ExtractOptions, "label"> = {},
): Promise<ExtractedFile[]> {
  const { data } = await layout(path);
  const label = `${basename(path)}:${data.name}`;
  return extractTar(decompress(arMemberStream(path, data), compressionOf(data.name)!, label), target, {
    ...opts,
    label,
  });
}

/** Deb822 paragraphs (control files, `apt-cache show` output): the first paragraph's fields. */
export function parseControl(text: string): Record<string, string> {
  return parseParagraphs(text)[0] ?? {};
}

export function parseParagraphs(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let last: string | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = undefined;
    } else if (/^[ \t]/.test(line)) {
      if (last) cur[last] += `\n${line.trim()}`;
    } else {
      const i = line.indexOf(":");
      if (i > 0) {
        last = line.slice(0, i);
        cur[last] = line.slice(i + 1).trim();
      }
    }
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

function invalid(path: string, why: string): KilnError {
  return new KilnError(
    "KILN_EARCHIVE_INVALID",
    `Cannot read Debian package ${q(path)}: ${why}`,
    "The file is damaged or not a .deb; download it again.",
  );
}
