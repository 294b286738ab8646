/**
 * Step instrumentation: wraps a System, its processes and threads, and its file system so that
 * every public call is one step. Before a step runs, `hooks.before` may stop the run (replay to a
 * position); after it, `hooks.after` records what happened. Calls made inside a step (a step
 * grouped with `ctx.step`, or fork's own work) are not steps of their own.
 *
 * The wrappers call the real method on the real object (`this` is never the proxy), so the
 * kernel's private state is untouched and an instrumented run does exactly what a plain run does.
 */
import type { Process, System, Thread } from "vmlab";

/** Process/thread methods that are steps (the ProcessApi and Process surface of API.md). */
const PROCESS_STEPS = new Set([
  "load8",
  "load16",
  "load32",
  "store8",
  "store16",
  "store32",
  "readBytes",
  "writeBytes",
  "exec",
  "mmap",
  "munmap",
  "mprotect",
  "madvise",
  "mlock",
  "munlock",
  "mlockall",
  "munlockall",
  "minherit",
  "msync",
  "open",
  "close",
  "read",
  "write",
  "lseek",
  "ftruncate",
  "shmget",
  "shmat",
  "shmdt",
  "shmctl",
  "fork",
  "exit",
  "wait",
  "newThread",
  "setrlimit",
]);

/** System methods that are steps (the inspection calls — audit, stats, trace — are not). */
const SYSTEM_STEPS = new Set(["spawn", "memoryPressure", "runPagedaemon", "advance"]);

/** VM-layer calls a script may make directly (kmem), each a step of the kernel's. */
const VM_STEPS = new Set(["kmemAlloc", "kmemFree", "pagedaemon"]);

/** File-system calls that are steps. */
const FS_STEPS = new Set(["writeFile", "readFile", "mkdir"]);

export interface StepHooks {
  /** Called before step `index` runs; may throw to stop the run there. */
  before(index: number): void;
  /** Called after step `index` ran (error set when it threw). */
  after(index: number, label: string, pid: number | undefined, error: unknown): void;
}

/** Render an argument for a step label: addresses in hex, byte arrays by length. */
export function formatArg(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0x1000 ? `0x${v.toString(16)}` : String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (v === undefined) return "undefined";
  if (v !== null && typeof v === "object") return "{…}";
  return String(v);
}

export class Instrument {
  /** Steps started so far. */
  count = 0;
  private depth = 0;
  private readonly proxies = new WeakMap<object, object>();

  constructor(private readonly hooks: StepHooks) {}

  /** Run `fn` as one step labelled `label` (the outermost call only). */
  step<T>(label: string, pid: number | undefined, fn: () => T): T {
    if (this.depth > 0) return fn();
    const index = this.count;
    this.hooks.before(index);
    this.count++;
    this.depth++;
    let error: unknown;
    try {
      return this.wrapResult(fn());
    } catch (e) {
      error = e;
      throw e;
    } finally {
      this.depth--;
      this.hooks.after(index, label, pid, error);
    }
  }

  /** Processes and threads handed out by a step are instrumented too. */
  private wrapResult<T>(r: T): T {
    if (r !== null && typeof r === "object" && "pid" in r && "load32" in r)
      return this.process(r as unknown as Process) as T;
    return r;
  }

  system(sys: System): System {
    return this.wrap(
      sys,
      SYSTEM_STEPS,
      () => undefined,
      "",
      (prop, value) => {
        if (prop === "fs" && value !== null && typeof value === "object") {
          return this.wrap(value, FS_STEPS, () => undefined, "fs.");
        }
        if (prop === "vm" && value !== null && typeof value === "object") {
          return this.wrap(value, VM_STEPS, () => undefined, "vm.");
        }
        return value;
      },
    );
  }

  process<P extends Process | Thread>(p: P): P {
    return this.wrap(p, PROCESS_STEPS, () => p.pid, "");
  }

  private wrap<T extends object>(
    target: T,
    steps: ReadonlySet<string>,
    pidOf: () => number | undefined,
    prefix: string,
    other?: (prop: string | symbol, value: unknown) => unknown,
  ): T {
    const cached = this.proxies.get(target);
    if (cached) return cached as T;
    const proxy = new Proxy(target, {
      get: (t, prop) => {
        const value = Reflect.get(t, prop, t) as unknown;
        if (typeof prop === "string" && steps.has(prop) && typeof value === "function") {
          return (...args: unknown[]) => {
            const pid = pidOf();
            const who = pid === undefined ? "" : `pid ${pid}: `;
            const label = `${who}${prefix}${prop}(${args.map(formatArg).join(", ")})`;
            return this.step(label, pid, () => (value as (...a: unknown[]) => unknown).apply(t, args));
          };
        }
        if (typeof value === "function") return (value as (...a: unknown[]) => unknown).bind(t);
        return other ? other(prop, value) : value;
      },
    });
    this.proxies.set(target, proxy);
    return proxy;
  }
}
