/**
 * The conformance matrix (issue #9): every implemented combination × the conformance suites —
 * model-based properties, scenarios, memory pressure, threads on several CPUs and errata
 * detection — in a `quick` (CI) or `full` size, with a seed, a combination filter, a deterministic
 * shard split of combinations × seeds, and a merge of shard results. The result is the JSON shape
 * of API.md (`vmlab matrix --json`).
 *
 * Runs serially in the calling thread: the systems are deterministic and single-threaded, and
 * parallelism comes from shards (one process or CI job per `shard: "i/n"`, joined by `mergeMatrix`).
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
import { ConfigError } from "@vmlab/core";
import { createSystem } from "./create.js";
import { erratum, knownErrata } from "./errata/index.js";
import { type Combination, combinations } from "./registry.js";

export type MatrixSize = "quick" | "full";

/** The suites, in the order they run and appear in tables. */
export const MATRIX_SUITES = ["properties", "scenarios", "pressure", "smp", "errata-detection"] as const;
export type MatrixSuite = (typeof MATRIX_SUITES)[number];

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

interface SizeConfig {
  readonly runs: number;
  readonly commands: number;
  readonly seeds: number;
  readonly forkHeavyPages: number;
  readonly memoryMiB: number;
}

/** How much each size runs (per combination and seed). */
export const MATRIX_SIZES: Readonly<Record<MatrixSize, SizeConfig>> = {
  quick: { runs: 20, commands: 40, seeds: 1, forkHeavyPages: 200, memoryMiB: 32 },
  full: { runs: 100, commands: 50, seeds: 2, forkHeavyPages: 1000, memoryMiB: 32 },
};

export interface MatrixFailure {
  /** The property or scenario. */
  readonly name: string;
  readonly seed: number;
  /**
   * The matrix replay token: `machine/pmap/vm|property|seed|commands|fast-check token`; pass it as
   * `replay` (or `vmlab matrix --replay`) to rerun exactly the shrunk case. Scenarios are
   * deterministic: their token is `machine/pmap/vm|scenario:<name>`; an erratum the suite missed
   * is `machine/pmap/vm|erratum:<id>|seed`.
   */
  readonly replay: string;
  readonly message: string;
}

export interface SuiteResult {
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly failures?: readonly MatrixFailure[];
  /** Why a suite checked nothing (errata-detection before any erratum exists). */
  readonly note?: string;
  /** errata-detection: which check caught each erratum that was caught. */
  readonly detections?: readonly ErratumDetection[];
}

/** An erratum caught on a combination, and the first property or scenario that caught it. */
export interface ErratumDetection {
  readonly erratum: string;
  readonly check: string;
}

export interface ComboResult {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  /** Every suite ran something and nothing failed (a suite with nothing to run is not counted). */
  readonly ok: boolean;
  readonly suites: Readonly<Record<string, SuiteResult>>;
}

export interface MatrixResult {
  readonly combos: readonly ComboResult[];
  readonly size?: MatrixSize;
  readonly seed?: number;
  /** "i/n" when this is one shard's result; absent for a whole (or merged) run. */
  readonly shard?: string;
}

export interface MatrixOptions {
  readonly size?: MatrixSize;
  readonly seed?: number;
  /** Only these combinations ("machine/pmap/vm" or objects). */
  readonly combos?: readonly (string | Combination)[];
  /** Only these suites. */
  readonly suites?: readonly MatrixSuite[];
  /** Run shard i of n ("i/n", 0-based i): every n-th job of the combinations × seeds list. */
  readonly shard?: string | { readonly index: number; readonly count: number };
  /** Errata to switch on in every system (API.md `--errata`). */
  readonly errata?: readonly string[];
  /** A replay token from a failure: rerun exactly that case (other options are ignored). */
  readonly replay?: string;
  /** Called as each combination and suite starts. */
  readonly onProgress?: (c: Combination, suite: MatrixSuite, job: number, jobs: number) => void;
}

/** One unit of work: a combination with one seed. */
export interface MatrixJob {
  readonly combo: Combination;
  readonly seed: number;
}

export const DEFAULT_MATRIX_SEED = 0x5eed;
/** Seeds of one run are this far apart (runProperties uses seed + property index). */
const SEED_STRIDE = 0x10000;

const comboKey = (c: { machine: string; pmap: string; vm: string }) => `${c.machine}/${c.pmap}/${c.vm}`;

/** "i/n" → { index, count }, with the checks a CLI user needs. */
export function parseShard(s: string | { index: number; count: number }): { index: number; count: number } {
  const v = typeof s === "string" ? /^(\d+)\/(\d+)$/.exec(s.trim()) : null;
  const index = typeof s === "string" ? Number(v?.[1]) : s.index;
  const count = typeof s === "string" ? Number(v?.[2]) : s.count;
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
    throw new ConfigError("shard", s, "i/n with 0 ≤ i < n (for example 0/4)");
  }
  return { index, count };
}

/** The combinations a filter names, in registry order (unknown or unimplemented names are a ConfigError). */
export function selectCombos(filter?: readonly (string | Combination)[]): Combination[] {
  const all = combinations();
  if (filter === undefined || filter.length === 0) return all;
  const keys = filter.map((f) => (typeof f === "string" ? f.trim() : comboKey(f)));
  for (const k of keys) {
    if (!all.some((c) => comboKey(c) === k)) {
      throw new ConfigError("combos", k, `one of ${all.map(comboKey).join(", ")}`);
    }
  }
  return all.filter((c) => keys.includes(comboKey(c)));
}

/**
 * The jobs of a run — combinations × seeds, combination-major — and the ones shard i of n takes:
 * every n-th job starting at i. The split depends only on the list, so every shard of a CI matrix
 * computes the same partition and together they cover each job exactly once.
 */
export function matrixJobs(
  combos: readonly Combination[],
  seeds: number,
  seed: number,
  shard?: { index: number; count: number },
): MatrixJob[] {
  const jobs: MatrixJob[] = [];
  for (const combo of combos) for (let s = 0; s < seeds; s++) jobs.push({ combo, seed: seed + s * SEED_STRIDE });
  return shard === undefined ? jobs : jobs.filter((_, i) => i % shard.count === shard.index);
}

function factoryFor(c: Combination, memoryMiB: number, seed: number, errata: readonly string[]): SystemFactory {
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

function propertySuite(
  c: Combination,
  names: readonly string[],
  factory: SystemFactory,
  seed: number,
  runs: number,
  commands: number,
): SuiteResult {
  const r = runProperties(factory, { runs, commands, seed, properties: names });
  return {
    passed: r.passed,
    failed: r.failed,
    seconds: r.seconds,
    ...(r.failures.length > 0 ? { failures: r.failures.map((f) => propertyFailure(c, f, commands)) } : {}),
  };
}

function propertyFailure(c: Combination, f: PropertyFailure, commands: number): MatrixFailure {
  return {
    name: f.name,
    seed: f.seed,
    replay: `${comboKey(c)}|${f.name}|${f.seed}|${commands}|${f.replay}`,
    message: f.message,
  };
}

function scenarioSuite(c: Combination, factory: SystemFactory, seed: number, forkHeavyPages: number): SuiteResult {
  const r = runScenarios(factory, { forkHeavyPages });
  const failures = r.results
    .filter((x) => !x.passed)
    .map((x) => ({
      name: x.name,
      seed,
      replay: `${comboKey(c)}|scenario:${x.name}`,
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
  /** Whether the check fails on systems from this factory. */
  fails(factory: SystemFactory, seed: number, cfg: SizeConfig): boolean;
}

/**
 * The checks errata detection tries, in the order of a whole run: every property, then every
 * scenario. A property runs alone with the seed it has in a whole `runProperties` run (seed +
 * its index), so each check is exactly the one the suites run.
 */
function detectionChecks(): DetectionCheck[] {
  const props = PROPERTIES.map(
    (p, i): DetectionCheck => ({
      name: p.name,
      fails: (f, seed, cfg) =>
        runProperties(f, { runs: cfg.runs, commands: cfg.commands, seed: (seed + i) | 0, properties: [p.name] })
          .failed > 0,
    }),
  );
  const scen = SCENARIOS.map(
    (s): DetectionCheck => ({
      name: s.name,
      fails: (f) => runScenarios(f, { names: [s.name], forkHeavyPages: DETECTION_FORK_HEAVY_PAGES }).failed > 0,
    }),
  );
  return [...props, ...scen];
}

/** fork-heavy's size in errata detection (the quick suites use MATRIX_SIZES' forkHeavyPages). */
const DETECTION_FORK_HEAVY_PAGES = 100;

/**
 * Errata detection (ARCHITECTURE.md: "the conformance suite must catch every erratum"): with each
 * erratum that applies to the combination switched on, some property or scenario that passes with
 * it off must fail. The checks run in order with the erratum on; the first that fails is run
 * again without it (each check's baseline is computed once per combination and seed), and the
 * erratum is caught when that baseline passes. With no erratum for the combination the suite
 * checks nothing and says so (0/0 with a note, never "passed").
 */
function errataSuite(c: Combination, cfg: SizeConfig, seed: number, only?: string): SuiteResult {
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
    const by = checks.find((k) => {
      if (!k.fails(on, seed, cfg)) return false;
      if (!failsOff(k)) return true;
      alsoOff.push(k.name);
      return false;
    });
    if (by !== undefined) detections.push({ erratum: id, check: by.name });
    else
      failures.push({
        name: id,
        seed,
        replay: `${comboKey(c)}|erratum:${id}|${seed}`,
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
function nowMs(): number {
  return perf ? perf.now() : 0;
}

/** Sum two results of one suite (two seeds, or two shards). */
function addSuite(a: SuiteResult | undefined, b: SuiteResult): SuiteResult {
  if (a === undefined) return b;
  const failures = [...(a.failures ?? []), ...(b.failures ?? [])];
  const detections = [...(a.detections ?? []), ...(b.detections ?? [])];
  const note = a.note ?? b.note;
  return {
    passed: a.passed + b.passed,
    failed: a.failed + b.failed,
    seconds: Math.round((a.seconds + b.seconds) * 1000) / 1000,
    ...(failures.length > 0 ? { failures } : {}),
    ...(detections.length > 0 ? { detections } : {}),
    ...(note !== undefined && a.passed + b.passed + a.failed + b.failed === 0 ? { note } : {}),
  };
}

function comboOk(suites: Readonly<Record<string, SuiteResult>>): boolean {
  return Object.values(suites).every((s) => s.failed === 0);
}

/** Join results per combination (summing suites); combinations keep registry order. */
function joinCombos(parts: readonly ComboResult[]): ComboResult[] {
  const order = combinations().map(comboKey);
  const by = new Map<string, { machine: string; pmap: string; vm: string; suites: Record<string, SuiteResult> }>();
  for (const c of parts) {
    const k = comboKey(c);
    let e = by.get(k);
    if (e === undefined) {
      e = { machine: c.machine, pmap: c.pmap, vm: c.vm, suites: {} };
      by.set(k, e);
    }
    for (const [name, s] of Object.entries(c.suites)) e.suites[name] = addSuite(e.suites[name], s);
  }
  const rank = (k: string) => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return [...by.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([, e]) => ({ machine: e.machine, pmap: e.pmap, vm: e.vm, ok: comboOk(e.suites), suites: e.suites }));
}

/** Join shard results (JSON of `runMatrix` with `shard`) into one result. */
export function mergeMatrix(results: readonly MatrixResult[]): MatrixResult {
  if (results.length === 0) return { combos: [] };
  const first = results[0]!;
  return {
    combos: joinCombos(results.flatMap((r) => r.combos)),
    ...(first.size !== undefined ? { size: first.size } : {}),
    ...(first.seed !== undefined ? { seed: first.seed } : {}),
  };
}

/** Rerun one failure from its matrix replay token. */
function replayMatrix(token: string, errata: readonly string[]): MatrixResult {
  const parts = token.split("|");
  const [key, what] = parts;
  const combo = selectCombos([key ?? ""])[0]!;
  const mem = MATRIX_SIZES.full.memoryMiB;
  const t0 = nowMs();
  let suite: SuiteResult;
  let suiteName: MatrixSuite;
  if (what?.startsWith("erratum:")) {
    suiteName = "errata-detection";
    const seed = Number(parts[2] ?? DEFAULT_MATRIX_SEED);
    erratum(what.slice("erratum:".length));
    suite = errataSuite(combo, MATRIX_SIZES.quick, seed, what.slice("erratum:".length));
  } else if (what?.startsWith("scenario:")) {
    const name = what.slice("scenario:".length);
    suiteName = "scenarios";
    const r = runScenarios(factoryFor(combo, mem, DEFAULT_MATRIX_SEED, errata), { names: [name] });
    const failures = r.results
      .filter((x) => !x.passed)
      .map((x) => ({ name: x.name, seed: 0, replay: token, message: x.failures.join("\n") }));
    suite = { passed: r.passed, failed: r.failed, seconds: r.seconds, ...(failures.length ? { failures } : {}) };
  } else {
    const [, name, seedS, commandsS, ...rest] = parts;
    const seed = Number(seedS);
    const commands = Number(commandsS);
    if (name === undefined || !Number.isInteger(seed) || !Number.isInteger(commands) || rest.length === 0) {
      throw new ConfigError(
        "replay",
        token,
        "a token from a matrix failure: machine/pmap/vm|property|seed|commands|path",
      );
    }
    suiteName =
      (Object.keys(SUITE_PROPERTIES) as ("properties" | "pressure" | "smp")[]).find((s) =>
        SUITE_PROPERTIES[s].includes(name),
      ) ?? "properties";
    const r = runProperties(factoryFor(combo, mem, seed, errata), {
      runs: 1,
      commands,
      seed,
      replay: rest.join("|"),
      properties: [name],
    });
    suite = {
      passed: r.passed,
      failed: r.failed,
      seconds: (nowMs() - t0) / 1000,
      ...(r.failures.length ? { failures: r.failures.map((f) => propertyFailure(combo, f, commands)) } : {}),
    };
  }
  const suites = { [suiteName]: suite };
  return { combos: [{ ...combo, ok: comboOk(suites), suites }] };
}

/**
 * Run the matrix. Never throws for a failing system (failures are in the result); throws
 * ConfigError for bad options. Synchronous work behind a Promise, as API.md's `await runMatrix`.
 */
export async function runMatrix(opts: MatrixOptions = {}): Promise<MatrixResult> {
  return runMatrixSync(opts);
}

export function runMatrixSync(opts: MatrixOptions = {}): MatrixResult {
  const errata = opts.errata ?? [];
  if (opts.replay !== undefined) return replayMatrix(opts.replay, errata);
  const size = opts.size ?? "quick";
  const cfg = MATRIX_SIZES[size];
  if (cfg === undefined) throw new ConfigError("size", size, "'quick' or 'full'");
  const seed = opts.seed ?? DEFAULT_MATRIX_SEED;
  const suites = opts.suites ?? MATRIX_SUITES;
  for (const s of suites) {
    if (!MATRIX_SUITES.includes(s)) throw new ConfigError("suites", s, `one of ${MATRIX_SUITES.join(", ")}`);
  }
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const jobs = matrixJobs(selectCombos(opts.combos), cfg.seeds, seed, shard);
  const out: ComboResult[] = [];
  jobs.forEach((job, j) => {
    const c = job.combo;
    const factory = factoryFor(c, cfg.memoryMiB, job.seed, errata);
    const res: Record<string, SuiteResult> = {};
    for (const suite of suites) {
      opts.onProgress?.(c, suite, j, jobs.length);
      switch (suite) {
        case "properties":
        case "pressure":
        case "smp":
          res[suite] = propertySuite(c, SUITE_PROPERTIES[suite], factory, job.seed, cfg.runs, cfg.commands);
          break;
        case "scenarios":
          res[suite] = scenarioSuite(c, factory, job.seed, cfg.forkHeavyPages);
          break;
        case "errata-detection":
          res[suite] = errataSuite(c, cfg, job.seed);
          break;
      }
    }
    out.push({ machine: c.machine, pmap: c.pmap, vm: c.vm, ok: comboOk(res), suites: res });
  });
  return {
    combos: joinCombos(out),
    size,
    seed,
    ...(shard !== undefined ? { shard: `${shard.index}/${shard.count}` } : {}),
  };
}
