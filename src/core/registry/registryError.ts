/**
 * A registry's refusal as a KilnError: the HTTP status picks the code, the registry's own error JSON
 * (`{"errors":[{"code","message","detail"}]}`) or text gives the words, and the message quotes what was asked.
 */
import { KilnError, q } from "../errors.js";

export interface RegistryErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** The first error the body names, or its first line of text. */
export function describeBody(text: string): { summary: string; errors: RegistryErrorBody[] } {
  try {
    const j = JSON.parse(text) as { errors?: RegistryErrorBody[] };
    if (Array.isArray(j.errors) && j.errors.length > 0) {
      const summary = j.errors
        .map((e) => [e.code, e.message].filter(Boolean).join(": "))
        .filter(Boolean)
        .join("; ");
      return { summary, errors: j.errors };
    }
  } catch {}
  return { summary: text.trim().split("\n")[0]?.slice(0, 200) ?? "", errors: [] };
}

export function registryError(
  status: number,
  bodyText: string,
  what: string,
  registry: string,
  hasCredentials: boolean,
): KilnError {
  const { summary, errors } = describeBody(bodyText);
  const said = summary ? `: ${summary}` : "";
  const details = { status, registry, ...(errors.length ? { errors } : {}) };
  if (status === 401) {
    return new KilnError(
      "KILN_EREGISTRY_AUTH",
      `Registry ${q(registry)} refused ${what}: 401 unauthorized${said}`,
      hasCredentials
        ? "Check the credentials for this host in your Docker configuration ($DOCKER_CONFIG/config.json or ~/.docker/config.json)."
        : `Log in: put credentials for ${registry} in $DOCKER_CONFIG/config.json or ~/.docker/config.json (\`docker login ${registry}\` writes them).`,
      { details },
    );
  }
  if (status === 403) {
    return new KilnError(
      "KILN_EREGISTRY_DENIED",
      `Registry ${q(registry)} denied ${what}: 403 forbidden${said}`,
      "Your account may read but not write this repository; ask its owner for access or push elsewhere.",
      { details },
    );
  }
  if (status === 404) {
    return new KilnError(
      "KILN_EREGISTRY_NOT_FOUND",
      `Registry ${q(registry)} has no ${what}: 404 not found${said}`,
      "Check the repository, tag or digest (and that you pushed it).",
      { details },
    );
  }
  if (status === 405) {
    return new KilnError(
      "KILN_EREGISTRY_UNSUPPORTED",
      `Registry ${q(registry)} does not allow ${what}: 405 method not allowed${said}`,
      "The registry may be read-only (maintenance mode) or not accept this operation; push to another registry.",
      { details },
    );
  }
  if (status >= 500) {
    return new KilnError(
      "KILN_EREGISTRY_SERVER",
      `Registry ${q(registry)} failed on ${what}: ${status}${said}`,
      "The registry has a problem of its own; try again later or tell its operator.",
      { details },
    );
  }
  return new KilnError(
    "KILN_EREGISTRY_REFUSED",
    `Registry ${q(registry)} refused ${what}: ${status}${said}`,
    "Read the registry's reason above.",
    { details },
  );
}

/** A connection that failed or broke: nothing was written, and trying again may work. */
export function registryIoError(registry: string, what: string, e: unknown, started: boolean): KilnError {
  const cause = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
  if (!started) {
    return new KilnError(
      "KILN_EREGISTRY_UNREACHABLE",
      `Cannot reach registry ${q(registry)} for ${what}: ${cause}`,
      "Check the host and port, that the registry runs, and http vs https (--insecure for plain http).",
      { cause: e },
    );
  }
  return new KilnError(
    "KILN_EREGISTRY_IO",
    `Connection to registry ${q(registry)} broke during ${what}: ${cause}`,
    "Nothing was kept; run the command again.",
    { cause: e },
  );
}
