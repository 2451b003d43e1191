// Kept in step with package.json by a test, so that `kiln --version` needs no file read.
export const KILN_VERSION = "0.1.0";
export const TUPLE = "x86_64-kiln-linux-musl";
