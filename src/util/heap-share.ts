// Memory bounds sized to the heap this process was given. Node sizes V8's
// heap from the machine's memory (or --max-old-space-size), and the fixed
// defaults (a 384 MiB cache, 256 MiB for sessions) were more than a small
// heap holds: a daemon with a 64 MB heap died of it in ordinary use
// (offline stores of 900 KB logged into one after another), not a line logged.
import { getHeapStatistics } from 'node:v8';

/** The V8 heap's limit, in bytes. */
export function heapLimit(): number {
  return getHeapStatistics().heap_size_limit;
}

/** `max`, or `fraction` of the heap limit when that is less. */
export function heapShare(max: number, fraction: number, limit = heapLimit()): number {
  return Math.min(max, Math.floor(limit * fraction));
}
