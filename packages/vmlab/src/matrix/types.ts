/**
 * The shapes of the conformance matrix (issue #9): what a run is asked for and what it returns —
 * the JSON of API.md (`vmlab matrix --json`), with per-suite counts, failures that carry a replay
 * token, and the erratum detections of the errata-detection suite.
 */
import type { Combination } from "../registry.js";

export type MatrixSize = "quick" | "full";

/** The suites, in the order they run and appear in tables. */
export const MATRIX_SUITES = ["properties", "scenarios", "pressure", "smp", "errata-detection"] as const;
export type MatrixSuite = (typeof MATRIX_SUITES)[number];

export interface MatrixFailure {
  /** The property, scenario or erratum. */
  readonly name: string;
  readonly seed: number;
  /** Pass as `replay` (or `vmlab matrix --replay`) to rerun exactly this case (see token.ts). */
  readonly replay: string;
  readonly message: string;
}

/** An erratum caught on a combination, and the first property or scenario that caught it. */
export interface ErratumDetection {
  readonly erratum: string;
  /** The property or scenario. */
  readonly check: string;
  /** The matrix suite that check belongs to. */
  readonly suite: MatrixSuite;
}

export interface SuiteResult {
  /** Properties, scenarios or errata that passed (a property passes when all its runs pass). */
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
  /** Property suites: the generated runs and the commands they executed. */
  readonly runs?: number;
  readonly commands?: number;
  readonly failures?: readonly MatrixFailure[];
  /** Why a suite checked nothing (errata-detection on a combination no erratum applies to). */
  readonly note?: string;
  /** errata-detection: which check caught each erratum that was caught. */
  readonly detections?: readonly ErratumDetection[];
}

export interface ComboResult {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  /** Nothing failed in any suite (a suite with nothing to run counts as not failing). */
  readonly ok: boolean;
  readonly suites: Readonly<Record<string, SuiteResult>>;
}

export interface MatrixResult {
  readonly combos: readonly ComboResult[];
  readonly size?: MatrixSize;
  readonly seed?: number;
  /** "i/n" when this is one shard's result; absent for a whole (or merged) run. */
  readonly shard?: string;
  /** Errata switched on in every system of the run. */
  readonly errata?: readonly string[];
  /** Worker threads the run used (1: in the calling thread). */
  readonly workers?: number;
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
  /**
   * Worker threads (default: the host's available parallelism). 1 runs in the calling thread;
   * so does any run from TypeScript sources, where no compiled worker exists (pool.ts).
   */
  readonly workers?: number;
  /** Called as each suite of each job starts. */
  readonly onProgress?: (c: Combination, suite: MatrixSuite, job: number, jobs: number) => void;
  /** Called as each suite of each job finishes, with how many of all the suites are done. */
  readonly onResult?: (c: Combination, suite: MatrixSuite, result: SuiteResult, done: number, total: number) => void;
}

/** One unit of work: a combination with one seed. */
export interface MatrixJob {
  readonly combo: Combination;
  readonly seed: number;
}
