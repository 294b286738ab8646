/**
 * The conformance matrix (issue #9): every combination × the conformance suites — model-based
 * properties, scenarios, memory pressure, threads on several CPUs and errata detection — in a
 * `quick` (CI) or `full` size, with a seed, a combination filter, a deterministic shard split of
 * combinations × seeds for campaigns across machines, and worker threads within one.
 */
import { ConfigError } from "@vmlab/core";
import { erratum } from "../errata/index.js";
import { matrixJobs, parseShard, selectCombos } from "./jobs.js";
import { joinCombos } from "./merge.js";
import { defaultWorkers, runTasks } from "./pool.js";
import { replayMatrix } from "./replay.js";
import type { SuiteTask } from "./suites.js";
import { MATRIX_SIZES } from "./suites.js";
import { type ComboResult, MATRIX_SUITES, type MatrixOptions, type MatrixResult } from "./types.js";

export const DEFAULT_MATRIX_SEED = 0x5eed;

/**
 * Errata detection runs longest: its tasks go first, so the last task a worker takes is a short
 * one and the threads finish together (longest-first scheduling; results do not depend on it).
 */
const RUN_FIRST = new Set(["errata-detection"]);

/**
 * Run the matrix. Never rejects for a failing system (failures are in the result); rejects with
 * ConfigError for bad options.
 */
export async function runMatrix(opts: MatrixOptions = {}): Promise<MatrixResult> {
  const errata = opts.errata ?? [];
  for (const id of errata) erratum(id);
  if (opts.replay !== undefined) return replayMatrix(opts.replay, errata);
  const size = opts.size ?? "quick";
  const cfg = MATRIX_SIZES[size];
  if (cfg === undefined) throw new ConfigError("size", size, "'quick' or 'full'");
  const seed = opts.seed ?? DEFAULT_MATRIX_SEED;
  if (!Number.isInteger(seed)) throw new ConfigError("seed", seed, "an integer");
  const suites = opts.suites ?? MATRIX_SUITES;
  for (const s of suites) {
    if (!MATRIX_SUITES.includes(s)) throw new ConfigError("suites", s, `one of ${MATRIX_SUITES.join(", ")}`);
  }
  const workers = opts.workers ?? (await defaultWorkers());
  if (!Number.isInteger(workers) || workers < 1) throw new ConfigError("workers", workers, "an integer ≥ 1");
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const jobs = matrixJobs(selectCombos(opts.combos), cfg.seeds, seed, shard);

  const tasks: (SuiteTask & { job: number })[] = jobs.flatMap((j, job) =>
    suites.map((suite) => ({ combo: j.combo, seed: j.seed, suite, size, errata, job })),
  );
  const order = [...tasks.filter((t) => RUN_FIRST.has(t.suite)), ...tasks.filter((t) => !RUN_FIRST.has(t.suite))];
  const run = await runTasks(
    order.map(({ job: _, ...t }) => t),
    workers,
    {
      onStart: (i) => {
        const t = order[i]!;
        opts.onProgress?.(t.combo, t.suite, t.job, jobs.length);
      },
      onDone: (i, r, done) => {
        const t = order[i]!;
        opts.onResult?.(t.combo, t.suite, r, done, order.length);
      },
    },
  );
  // Back to job order, suites in the order asked for.
  const rows: ComboResult[] = jobs.map((j) => ({ ...j.combo, ok: true, suites: {} }));
  order.forEach((t, i) => {
    (rows[t.job]!.suites as Record<string, unknown>)[t.suite] = run.results[i];
  });
  return {
    combos: joinCombos(
      rows.map((r) => ({
        ...r,
        suites: Object.fromEntries(suites.map((s) => [s, r.suites[s]!])),
      })),
    ),
    size,
    seed,
    ...(shard !== undefined ? { shard: `${shard.index}/${shard.count}` } : {}),
    ...(errata.length > 0 ? { errata } : {}),
    workers: run.workers,
  };
}
