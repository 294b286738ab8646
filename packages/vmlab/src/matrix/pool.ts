/**
 * Running suite tasks, in worker threads or in the calling thread. Each task — one suite of one
 * combination and seed — is deterministic and shares nothing with the others, so which thread runs
 * it, and in which order, cannot change its result: the pool hands the next task to whichever
 * worker is free, and results are put back in task order.
 *
 * The workers run the compiled `worker.js` beside this module. From TypeScript sources (Vitest,
 * the `@vmlab/source` condition) there is no such file and Node 20 cannot load `.ts`: the tasks
 * then run in the calling thread, and the result says `workers: 1`. So do they outside Node (the
 * explorer bundles this package for the browser): Node's modules are imported only when needed.
 */
import { runSuite, type SuiteTask } from "./suites.js";
import type { SuiteResult } from "./types.js";

/** A message to a worker: run task `index`. */
export interface TaskMessage {
  readonly index: number;
  readonly task: SuiteTask;
}

/** A worker's answer. */
export interface ResultMessage {
  readonly index: number;
  readonly result: SuiteResult;
}

export interface PoolHooks {
  readonly onStart?: (index: number) => void;
  readonly onDone?: (index: number, result: SuiteResult, done: number) => void;
}

type WorkerClass = typeof import("node:worker_threads").Worker;

const inNode = () => typeof process !== "undefined" && process.versions?.node !== undefined;

/** Node's Worker and the compiled worker script beside this module; undefined from sources or outside Node. */
async function workerSupport(): Promise<{ Worker: WorkerClass; script: URL } | undefined> {
  if (!inNode()) return undefined;
  const [{ existsSync }, { fileURLToPath }, { Worker }] = await Promise.all([
    import("node:fs"),
    import("node:url"),
    import("node:worker_threads"),
  ]);
  const script = new URL("./worker.js", import.meta.url);
  return script.protocol === "file:" && existsSync(fileURLToPath(script)) ? { Worker, script } : undefined;
}

/**
 * The parent's Node flags without the `@vmlab/source` export condition: the compiled worker must
 * resolve the packages to their compiled `dist` even when the parent runs from sources (Vitest
 * passes `--conditions @vmlab/source`, which workers inherit).
 */
export function compiledExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if ((a === "--conditions" || a === "-C") && argv[i + 1] === "@vmlab/source") i++;
    else if (a !== "--conditions=@vmlab/source" && a !== "-C=@vmlab/source") out.push(a);
  }
  return out;
}

/** How many workers a run uses by default: one per hardware thread the host offers. */
export async function defaultWorkers(): Promise<number> {
  return inNode() ? (await import("node:os")).availableParallelism() : 1;
}

/** Run the tasks; `workers` > 1 uses worker threads when the compiled worker exists. */
export async function runTasks(
  tasks: readonly SuiteTask[],
  workers: number,
  hooks: PoolHooks = {},
): Promise<{ results: SuiteResult[]; workers: number }> {
  const n = Math.min(workers, tasks.length);
  const support = n > 1 ? await workerSupport() : undefined;
  if (support === undefined) return { results: runHere(tasks, hooks), workers: 1 };
  return { results: await runInWorkers(tasks, n, support.Worker, support.script, hooks), workers: n };
}

function runHere(tasks: readonly SuiteTask[], hooks: PoolHooks): SuiteResult[] {
  return tasks.map((t, i) => {
    hooks.onStart?.(i);
    const r = runSuite(t);
    hooks.onDone?.(i, r, i + 1);
    return r;
  });
}

/** A task whose worker died (an exception outside the suite's own checks, or out of memory). */
function crashed(t: SuiteTask, why: unknown): SuiteResult {
  return {
    passed: 0,
    failed: 1,
    seconds: 0,
    failures: [
      {
        name: `${t.suite}: worker thread`,
        seed: t.seed,
        replay: "",
        message: `the worker thread running ${t.suite} died: ${why instanceof Error ? (why.stack ?? why.message) : String(why)}`,
      },
    ],
  };
}

function runInWorkers(
  tasks: readonly SuiteTask[],
  n: number,
  Worker: WorkerClass,
  script: URL,
  hooks: PoolHooks,
): Promise<SuiteResult[]> {
  const results: (SuiteResult | undefined)[] = new Array(tasks.length);
  let next = 0;
  let done = 0;
  return new Promise((resolve) => {
    const finish = (index: number, r: SuiteResult) => {
      results[index] = r;
      done++;
      hooks.onDone?.(index, r, done);
      if (done === tasks.length) resolve(results as SuiteResult[]);
    };
    const start = () => {
      const w = new Worker(script, { execArgv: compiledExecArgv(process.execArgv) });
      let current = -1;
      const feed = () => {
        if (next >= tasks.length) {
          current = -1;
          void w.terminate();
          return;
        }
        current = next++;
        hooks.onStart?.(current);
        w.postMessage({ index: current, task: tasks[current] as SuiteTask } satisfies TaskMessage);
      };
      w.on("message", (m: ResultMessage) => {
        finish(m.index, m.result);
        feed();
      });
      const lost = (why: unknown) => {
        if (current < 0) return;
        const i = current;
        current = -1;
        finish(i, crashed(tasks[i] as SuiteTask, why));
        if (next < tasks.length) start();
      };
      w.on("error", lost);
      w.on("exit", (code: number) => lost(`exit code ${code}`));
      feed();
    };
    for (let i = 0; i < n; i++) start();
  });
}
