/**
 * The "inherit" output sink: script output written synchronously to this process's stdout/stderr, so it
 * lands in order with the host's own console.log (Bun and Deno both write console output synchronously).
 * node:fs is available under both runtimes.
 * @module
 */
import { writeSync } from "node:fs";

const encoder = new TextEncoder();

/** Writes text to fd 1 or 2, retrying partial writes and a non-blocking pipe that is momentarily full. */
export function writeStdio(text: string | Uint8Array, stream: "stdout" | "stderr"): void {
  const fd = stream === "stderr" ? 2 : 1;
  let bytes = typeof text === "string" ? encoder.encode(text) : text;
  let spins = 0;
  while (bytes.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, bytes);
    } catch (e) {
      if ((e as { code?: string }).code === "EAGAIN" && spins++ < 100000) continue;
      return; // a closed stdout is not the script's error
    }
    bytes = bytes.subarray(n);
  }
}
