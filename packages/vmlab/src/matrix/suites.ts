/**
 * The five suites of the matrix, each run for one combination and seed: model-based properties
 * (three groups: the calls, memory pressure, threads on several CPUs), the scenario library, and
 * errata detection. One suite of one job is the unit of work a worker thread takes (pool.ts).
 */
import {
  PROPERTIES,
  type PropertyFailure,
  type RunContext,
  runOptions,
  runProperties,
  runScenarios,
  SCENARIOS,
  type SystemFactory,
} from "@vmlab/conformance";
import { createSystem } from "../create.js";
import { erratum, knownErrata } from "../errata/index.js";
import type { Combination } from "../registry.js";
import { erratumToken, propertyToken, scenarioToken } from "./token.js";
import type { ErratumDetection, MatrixFailure, MatrixSize, MatrixSuite, SuiteResult } from "./types.js";

/** Which conformance properties each property suite runs. */
export const SUITE_PROPERTIES: Readonly<Record<"properties" | "pressure" | "smp", readonly string[]>> = {
  properties: [
    "model: every call and access",
    "model: fork, copy-on-write and inheritance",
    "model: wiring",
    "model: files and mappings",
    "model: SysV shared memory",
    "model: wiring with SysV shm and I/O",
  ],
  pressure: ["model: paging", "model: pressure and interrupts", "data survives paging, fork and interrupts"],
  smp: ["model: threads on several CPUs"],
};

export interface SizeConfig {
  /** fast-check runs per property (scaled by each property's share). */
  readonly runs: number;
  /** Commands per run, at most. */
  readonly commands: number;
  /** Seeds per combination (each a job of its own). */
  readonly seeds: number;
  /** Pages of the fork-heavy scenario. */
  readonly forkHeavyPages: number;
  readonly memoryMiB: number;
}

/**
 * How much each size runs, per combination and seed. `quick` is tuned so the whole matrix — 27
 * combinations × five suites — finishes in under three minutes on two cores (docs/matrix.md).
 */
export const MATRIX_SIZES: Readonly<Record<MatrixSize, SizeConfig>> = {
  quick: { runs: 20, commands: 40, seeds: 1, forkHeavyPages: 200, memoryMiB: 32 },
  full: { runs: 100, commands: 50, seeds: 2, forkHeavyPages: 1000, memoryMiB: 32 },
};

/** The property suite a property belongs to ("properties" for one outside the three groups). */
export function suiteOf(property: string): MatrixSuite {
  const groups = Object.keys(SUITE_PROPERTIES) as (keyof typeof SUITE_PROPERTIES)[];
  return groups.find((s) => SUITE_PROPERTIES[s].includes(property)) ?? "properties";
}

/** fork-heavy's size in errata detection (the quick suites use MATRIX_SIZES' forkHeavyPages). */
const DETECTION_FORK_HEAVY_PAGES = 100;

/** One suite of one job: what a worker thread is sent (plain data, structured-clonable). */
export interface SuiteTask {
  readonly combo: Combination;
  readonly seed: number;
  readonly suite: MatrixSuite;
  readonly size: MatrixSize;
  readonly errata: readonly string[];
}

/** Systems of one combination, seed and errata, with each property run's seed and disk timing. */
export function factoryFor(c: Combination, memoryMiB: number, seed: number, errata: readonly string[]): SystemFactory {
  return (run?: RunContext) =>
    createSystem({
      machine: c.machine,
      pmap: c.pmap,
      vm: c.vm,
      memoryMiB,
      cpus: 2,
      seed,
      errata,
      ...runOptions(run),
    });
}

/** Run one suite of one job. Never throws for a failing system: failures are in the result. */
export function runSuite(t: SuiteTask): SuiteResult {
  const cfg = MATRIX_SIZES[t.size];
  const factory = factoryFor(t.combo, cfg.memoryMiB, t.seed, t.errata);
  switch (t.suite) {
    case "properties":
    case "pressure":
    case "smp":
      return propertySuite(t, SUITE_PROPERTIES[t.suite], factory, cfg);
    case "scenarios":
      return scenarioSuite(t, factory, cfg.forkHeavyPages);
    case "errata-detection":
      return errataSuite(t.combo, t.size, t.seed);
  }
}

/** What a property suite's tokens name: fast-check's base seed, and the systems' seed when it differs. */
type PropertyJob = Pick<SuiteTask, "combo" | "seed" | "errata"> & { readonly systemSeed?: number };

export function propertySuite(
  t: PropertyJob,
  names: readonly string[],
  factory: SystemFactory,
  cfg: Pick<SizeConfig, "runs" | "commands">,
  replay?: string,
): SuiteResult {
  const r = runProperties(factory, {
    runs: cfg.runs,
    commands: cfg.commands,
    seed: t.seed,
    properties: names,
    ...(replay !== undefined ? { replay } : {}),
  });
  const failures = r.failures.map((f) => propertyFailure(t, f, cfg.commands));
  return {
    passed: r.passed,
    failed: r.failed,
    seconds: r.seconds,
    runs: r.runs,
    commands: r.commands,
    ...(failures.length > 0 ? { failures } : {}),
  };
}

function propertyFailure(t: PropertyJob, f: PropertyFailure, commands: number): MatrixFailure {
  return {
    name: f.name,
    seed: f.seed,
    replay: propertyToken(t.combo, t.errata, f, commands, t.systemSeed ?? t.seed),
    message: f.message,
  };
}

export function scenarioSuite(
  t: Pick<SuiteTask, "combo" | "seed" | "errata">,
  factory: SystemFactory,
  forkHeavyPages: number,
  names?: readonly string[],
): SuiteResult {
  const r = runScenarios(factory, { forkHeavyPages, ...(names !== undefined ? { names } : {}) });
  const failures: MatrixFailure[] = r.results
    .filter((x) => !x.passed)
    .map((x) => ({
      name: x.name,
      seed: t.seed,
      replay: scenarioToken(t.combo, t.errata, x.name, t.seed, forkHeavyPages),
      message: x.failures.join("\n"),
    }));
  return {
    passed: r.passed,
    failed: r.failed,
    seconds: r.seconds,
    ...(failures.length > 0 ? { failures } : {}),
  };
}

/** One check of errata detection: a property (at its seed in a whole run) or a scenario. */
interface DetectionCheck {
  readonly name: string;
  readonly suite: MatrixSuite;
  /** Whether the check fails on systems from this factory. */
  fails(factory: SystemFactory, seed: number, cfg: SizeConfig): boolean;
}

/**
 * The checks errata detection tries, in the order of a whole run: every property, then every
 * scenario. A property runs alone with the seed it has in a whole `runProperties` run (seed +
 * its index), so each check is exactly one the suites run.
 */
function detectionChecks(): DetectionCheck[] {
  const props = PROPERTIES.map(
    (p, i): DetectionCheck => ({
      name: p.name,
      suite: suiteOf(p.name),
      fails: (f, seed, cfg) =>
        runProperties(f, {
          runs: cfg.runs,
          commands: cfg.commands,
          seed: (seed + i) | 0,
          properties: [p.name],
          shrink: false,
        }).failed > 0,
    }),
  );
  const scen = SCENARIOS.map(
    (s): DetectionCheck => ({
      name: s.name,
      suite: "scenarios",
      fails: (f) => runScenarios(f, { names: [s.name], forkHeavyPages: DETECTION_FORK_HEAVY_PAGES }).failed > 0,
    }),
  );
  return [...props, ...scen];
}

/** The checks with an erratum's `caughtBy` hints first (in hint order), then the rest in order. */
function hintedFirst(checks: readonly DetectionCheck[], hints: readonly string[] = []): DetectionCheck[] {
  const first = hints.flatMap((h) => checks.filter((k) => k.name === h));
  return [...first, ...checks.filter((k) => !first.includes(k))];
}

/**
 * Errata detection (ARCHITECTURE.md: "the conformance suite must catch every erratum"): with each
 * erratum that applies to the combination switched on, some property or scenario that passes with
 * it off must fail. The checks run in order with the erratum on — the erratum's `caughtBy` hints
 * first, to save time, then every other — and the first that fails is run again without it (each check's baseline is computed once per combination and seed), and the
 * erratum is caught when that baseline passes. With no erratum for the combination the suite
 * checks nothing and says so (0/0 with a note, never "passed").
 */
export function errataSuite(c: Combination, size: MatrixSize, seed: number, only?: string): SuiteResult {
  const cfg = MATRIX_SIZES[size];
  const ids = knownErrata().filter((id) => (only === undefined || id === only) && erratum(id).applies(c).applies);
  if (ids.length === 0) {
    return {
      passed: 0,
      failed: 0,
      seconds: 0,
      note: knownErrata().length === 0 ? "no errata in the catalogue yet" : "no erratum applies to this combination",
    };
  }
  const t0 = nowMs();
  const checks = detectionChecks();
  const off = factoryFor(c, cfg.memoryMiB, seed, []);
  const baseline = new Map<string, boolean>();
  const failsOff = (k: DetectionCheck) => {
    let v = baseline.get(k.name);
    if (v === undefined) baseline.set(k.name, (v = k.fails(off, seed, cfg)));
    return v;
  };
  const detections: ErratumDetection[] = [];
  const failures: MatrixFailure[] = [];
  for (const id of ids) {
    const on = factoryFor(c, cfg.memoryMiB, seed, [id]);
    const alsoOff: string[] = [];
    const by = hintedFirst(checks, erratum(id).caughtBy).find((k) => {
      if (!k.fails(on, seed, cfg)) return false;
      if (!failsOff(k)) return true;
      alsoOff.push(k.name);
      return false;
    });
    if (by !== undefined) detections.push({ erratum: id, check: by.name, suite: by.suite });
    else
      failures.push({
        name: id,
        seed,
        replay: erratumToken(c, id, seed, size),
        message:
          `erratum ${id} switched on, and nothing failed that passes with it off` +
          (alsoOff.length > 0 ? ` (failing without it too: ${alsoOff.join("; ")})` : ""),
      });
  }
  return {
    passed: detections.length,
    failed: failures.length,
    seconds: (nowMs() - t0) / 1000,
    detections,
    ...(failures.length ? { failures } : {}),
  };
}

const perf = (globalThis as { performance?: { now(): number } }).performance;
/** Host time, for the seconds columns only (never simulation logic). */
export function nowMs(): number {
  return perf ? perf.now() : 0;
}
