/**
 * Node's file system errors as KilnErrors: one table from errno codes (and Node's own ERR_FS_* codes) to a
 * stable KILN_E code, a message that names the path and says what happened in words, and a hint. Used where
 * kiln reads or writes a user's path, and by the CLI as a last line of defence, so that a full disk, a file
 * kiln may not read or a file too big to read is reported as what it is, never as "no such file" or a stack.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { KilnError, q } from "./errors.js";
import { scratchStem } from "./scratchName.js";

/** The nearest directory above `path` that exists (what a failed write was to create may be gone). */
function existing(path: string): string {
  let d = dirname(path);
  while (d !== dirname(d) && !existsSync(d)) d = dirname(d);
  return d;
}

interface Row {
  code: string;
  /** What happened, after "Cannot VERB PATH: ". */
  said: string;
  hint: (path: string) => string;
  /** The user named something that cannot be used (exit 2), rather than the host failing (exit 1). */
  usage?: boolean;
}

const TABLE: Record<string, Row> = {
  ENOENT: {
    code: "KILN_ENOENT",
    said: "no such file or directory",
    hint: () => "Check the path.",
    usage: true,
  },
  ENOTDIR: {
    code: "KILN_ENOTDIR",
    said: "a part of the path is not a directory",
    hint: () => "Check the path.",
    usage: true,
  },
  EISDIR: {
    code: "KILN_EISDIR",
    said: "it is a directory",
    hint: () => "Give the path of a file.",
    usage: true,
  },
  ENAMETOOLONG: {
    code: "KILN_ENAMETOOLONG",
    said: "the name is too long",
    hint: () => "Use a shorter path.",
    usage: true,
  },
  ELOOP: {
    code: "KILN_ELOOP",
    said: "too many levels of symbolic links (a link loop)",
    hint: (p) => `Check the symbolic links on the way to ${p} (\`namei -l ${p}\` shows them).`,
    usage: true,
  },
  EACCES: {
    code: "KILN_EACCES",
    said: "permission denied",
    hint: (p) =>
      `Check the permissions of ${p} and of the directories above it (\`namei -l ${p}\`), or run as a user who may use it.`,
  },
  EPERM: {
    code: "KILN_EACCES",
    said: "operation not permitted",
    hint: (p) => `Check the permissions and attributes of ${p} (\`ls -l\`, \`lsattr\`).`,
  },
  EROFS: {
    code: "KILN_EROFS",
    said: "the file system is read-only",
    hint: () => "Write to a file system mounted read-write.",
  },
  ENOSPC: {
    code: "KILN_ENOSPC",
    said: "no space left on the device",
    hint: (p) => `Free space on the file system holding ${p} (\`df -h ${existing(p)}\`), or write elsewhere.`,
  },
  EDQUOT: {
    code: "KILN_ENOSPC",
    said: "the disk quota is used up",
    hint: (p) => `Free space within your quota on the file system holding ${p}, or write elsewhere.`,
  },
  EFBIG: {
    code: "KILN_EFILE_TOO_LARGE",
    said: "the file would be larger than the file system or a resource limit allows",
    hint: () => "Write to a file system that takes large files, or raise `ulimit -f`.",
  },
  ERR_FS_FILE_TOO_LARGE: {
    code: "KILN_EFILE_TOO_LARGE",
    said: "it is larger than the 2 GiB kiln reads at once",
    hint: () =>
      "Check that this is the file you meant: programs, configurations and archives are far smaller.",
    usage: true,
  },
  EMFILE: {
    code: "KILN_EMFILE",
    said: "too many open files",
    hint: () => "Raise the open-file limit (`ulimit -n`) and run the command again.",
  },
  ENFILE: {
    code: "KILN_EMFILE",
    said: "too many open files on the system",
    hint: () => "Close programs that hold many files open, then run the command again.",
  },
  EIO: {
    code: "KILN_EIO",
    said: "input/output error",
    hint: () => "The disk or file system reported an error; check `dmesg` and the device.",
  },
  EBUSY: {
    code: "KILN_EBUSY",
    said: "the device or resource is busy",
    hint: () => "Another program is using it; try again when it is done.",
  },
  ETXTBSY: {
    code: "KILN_EBUSY",
    said: "the file is a program that is running",
    hint: () => "Stop the program, or write elsewhere.",
  },
  EEXIST: {
    code: "KILN_EEXIST",
    said: "it already exists",
    hint: () => "Remove it, or choose another path.",
    usage: true,
  },
  ENOTEMPTY: {
    code: "KILN_EEXIST",
    said: "the directory is not empty",
    hint: () => "Remove what is in it, or choose another path.",
    usage: true,
  },
  EXDEV: {
    code: "KILN_EXDEV",
    said: "it is on another file system",
    hint: () => "Keep the source and the destination on one file system.",
  },
};

/** Verbs for the system calls Node names in its errors. */
const VERB: Record<string, string> = {
  open: "open",
  read: "read",
  write: "write",
  writev: "write",
  close: "write",
  fsync: "write",
  ftruncate: "write",
  copyfile: "copy",
  mkdir: "create",
  mkdtemp: "create",
  rename: "move",
  unlink: "remove",
  rmdir: "remove",
  rm: "remove",
  scandir: "list",
  opendir: "list",
  stat: "read",
  lstat: "read",
  access: "read",
  readlink: "read",
  symlink: "create",
  link: "create",
  chmod: "change",
  utime: "change",
};

/** Faults of the place written to. */
const WRITE_SIDE = new Set(["ENOSPC", "EDQUOT", "EROFS", "EFBIG"]);

/**
 * Codes only a file system gives (Node's ERR_FS_FILE_TOO_LARGE too). Others (EACCES, EIO, ...) come from
 * sockets as well, so they count only on an error that names a path, as Node's file functions do.
 */
const FILE_ONLY = new Set([
  "ENOSPC",
  "EDQUOT",
  "EFBIG",
  "EROFS",
  "EISDIR",
  "ENOTDIR",
  "ELOOP",
  "ENAMETOOLONG",
  "EXDEV",
  "ETXTBSY",
  "ERR_FS_FILE_TOO_LARGE",
]);

/** Whether `e` is an error of the file system (ENOSPC, EACCES on a path, ...), not of a socket or of kiln. */
export function isFsError(e: unknown): boolean {
  if (!(e instanceof Error) || e instanceof KilnError) return false;
  const { code, path } = e as NodeJS.ErrnoException;
  if (typeof code !== "string") return false;
  return FILE_ONLY.has(code) || (typeof path === "string" && /^E[A-Z0-9]+$/.test(code));
}

/**
 * For a path the user named: `missing()` when it is not there (each verb has its own code for that), the
 * fault in words otherwise (permissions, size, a full disk), never "no such file" for a file that is there.
 */
export function missingOr(e: unknown, path: string, verb: string, missing: () => KilnError): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" ? missing() : fsError(e, path, verb);
}

/**
 * kiln writes beside the destination and renames into place (scratchName.ts): a failure names the
 * scratch path, which the user never gave. Name the destination instead.
 */
function userPath(path: string): string {
  return path
    .split("/")
    .map((part) => {
      const stem = scratchStem(part);
      return stem?.startsWith(".") ? stem.slice(1) : part;
    })
    .join("/");
}

/**
 * The KilnError for a file system error `e` about `path` (default: the path the error names), or `e`
 * itself when it is not a file system error. `verb` says what kiln was doing ("read program"); without it
 * the system call decides ("write", "create", ...).
 */
export function fsError(e: unknown, path?: string, verb?: string): unknown {
  if (!isFsError(e)) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err.code!;
  // A copy or rename names both ends; a full or read-only file system is the destination's.
  const dest = WRITE_SIDE.has(code) ? (err as { dest?: string }).dest : undefined;
  const where = userPath(path ?? dest ?? err.path ?? "");
  const row = TABLE[code];
  const doing = verb ?? (dest || WRITE_SIDE.has(code) ? "write" : (VERB[err.syscall ?? ""] ?? "use"));
  const subject = where ? `${doing} ${q(where)}` : `${doing} a file`;
  const details = { path: where, errno: code, ...(err.syscall ? { syscall: err.syscall } : {}) };
  if (!row) {
    return new KilnError(
      "KILN_EFS",
      `Cannot ${subject}: ${code}${err.message ? ` (${err.message.replace(/^[A-Z0-9_]+: /, "")})` : ""}`,
      "The operating system refused; its reason is above.",
      { cause: e, details },
    );
  }
  return new KilnError(row.code, `Cannot ${subject}: ${row.said}`, row.hint(where || "the file"), {
    kind: row.usage ? "usage" : "failure",
    cause: e,
    details,
  });
}
