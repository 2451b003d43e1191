/**
 * Every error a user can reach is a KilnError: a stable code (KILN_E...), a message that quotes the bad
 * value, and a hint that says what to do. `usage` errors exit 2, everything else exits 1.
 */
export type ErrorKind = "usage" | "failure";

export class KilnError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly kind: ErrorKind;
  readonly details?: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    hint: string,
    opts: { kind?: ErrorKind; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (!/^KILN_E[A-Z0-9_]+$/.test(code)) throw new Error(`bad error code ${code}`);
    this.name = "KilnError";
    this.code = code;
    this.hint = hint;
    this.kind = opts.kind ?? "failure";
    if (opts.details) this.details = opts.details;
  }

  get exitCode(): number {
    return this.kind === "usage" ? 2 : 1;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** A usage error: the user asked for something malformed (exit status 2). */
export function usageError(
  code: string,
  message: string,
  hint: string,
  details?: Record<string, unknown>,
): KilnError {
  return new KilnError(code, message, hint, { kind: "usage", ...(details ? { details } : {}) });
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}

/** Quote a user value the same way in every message. */
export function q(value: unknown): string {
  return JSON.stringify(typeof value === "string" ? value : String(value));
}
