/**
 * The two host facilities the runner uses — a millisecond clock and a timer to yield to the
 * event loop — which browsers and Node both provide but the ES2022 library does not declare
 * (the package is isomorphic and compiles without DOM or Node types).
 */
interface HostGlobals {
  performance?: { now(): number };
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

const host = globalThis as unknown as HostGlobals;

/** Host wall-clock milliseconds (not simulated time: only for measuring the simulator). */
export function hostNow(): number {
  return host.performance ? host.performance.now() : Date.now();
}

/** Let the host's event loop run (a progress bar's timer, I/O) before going on. */
export function yieldToHost(): Promise<void> {
  return new Promise<void>((resolve) => {
    if (host.setTimeout) host.setTimeout(resolve, 0);
    else resolve();
  });
}
