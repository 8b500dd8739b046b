/**
 * What both bindings share: where the library is, and the ABI they were written for.
 * @module
 */

/** Must equal CALOG_ABI_VERSION in c/include/calog.h. */
export const ABI_VERSION = 5;

/** The library path: $CALOG_LIB if set, else the build output next to this package. */
export function libraryPath(env: (name: string) => string | undefined): string {
  const override = env("CALOG_LIB");
  if (override) return override;
  return decodeURIComponent(new URL("../zig-out/lib/libcalog.so", import.meta.url).pathname);
}
