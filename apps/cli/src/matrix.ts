/**
 * `vmlab matrix`: the conformance matrix (runMatrix) as a table — one row per combination, a
 * column per suite with passed/failed, runs and seconds — then every failure with its seed and the
 * replay token that reruns it. `--json` prints the API.md shape; `--merge` joins shard files.
 * On a terminal, a progress bar on stderr counts the suites as the worker threads finish them.
 */
import { readFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import Table from "cli-table3";
import {
  MATRIX_SUITES,
  type MatrixResult,
  type MatrixSuite,
  type MutationReport,
  mergeMatrix,
  mutationMisses,
  runMatrix,
  runMutation,
  selectCombinations,
} from "vmlab";

export interface MatrixCommandOptions {
  quick?: boolean;
  full?: boolean;
  seed?: number;
  combos?: string;
  suites?: string;
  shard?: string;
  json?: boolean;
  merge?: string[];
  replay?: string;
  errata?: string;
  workers?: number;
  mutation?: boolean;
  machine?: string;
  pmap?: string;
  vm?: string;
}

/** Where a failing matrix reports its failure count (the process exit code by default). */
let onFailures: (failed: number) => void = (failed) => {
  if (failed > 0) process.exitCode = 1;
};
export function setMatrixFailureHandler(fn: (failed: number) => void): void {
  onFailures = fn;
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x !== "");

function cell(
  s: { passed: number; failed: number; seconds: number; runs?: number; note?: string } | undefined,
): string {
  if (s === undefined) return "";
  if (s.passed + s.failed === 0) return `— ${s.note ?? "nothing to run"}`;
  const runs = s.runs !== undefined ? `  ${s.runs} runs` : "";
  return `${s.passed}/${s.failed}${runs}  ${s.seconds.toFixed(1)} s`;
}

/** fast-check's shrunk command list in a property failure's message ("" for other failures). */
export function shrunk(message: string): string {
  const m = /^Counterexample: (.*)$/m.exec(message);
  return m ? (m[1] as string).replace(/ \/\*replayPath=.*?\*\//, "") : "";
}

/** The table and the failure list of a result. */
export function renderMatrix(r: MatrixResult): string {
  const suites = MATRIX_SUITES.filter((s) => r.combos.some((c) => c.suites[s] !== undefined));
  const extra = [...new Set(r.combos.flatMap((c) => Object.keys(c.suites)))].filter(
    (s) => !(MATRIX_SUITES as readonly string[]).includes(s),
  );
  const cols = [...suites, ...extra];
  const t = new Table({ head: ["combination", ...cols.map((s) => `${s}\npassed/failed`), "ok"] });
  for (const c of r.combos) {
    t.push([`${c.machine}/${c.pmap}/${c.vm}`, ...cols.map((s) => cell(c.suites[s])), c.ok ? "yes" : "NO"]);
  }
  const lines = [t.toString()];
  const failures = r.combos.flatMap((c) =>
    Object.entries(c.suites).flatMap(([suite, s]) =>
      (s.failures ?? []).map((f) => ({ combo: `${c.machine}/${c.pmap}/${c.vm}`, suite, ...f })),
    ),
  );
  if (failures.length > 0) {
    const f = new Table({
      head: ["#", "combination", "suite", "failed", "seed", "shrunk commands"],
      colWidths: [4, 24, 12, 28, 8, 72],
      wordWrap: true,
      wrapOnWordBoundary: false,
    });
    failures.forEach((x, i) => {
      f.push([String(i + 1), x.combo, x.suite, x.name, String(x.seed), shrunk(x.message)]);
    });
    lines.push(f.toString());
    // Tokens on lines of their own, never wrapped, so they copy whole.
    lines.push("Replay each failure exactly:");
    failures.forEach((x, i) => {
      lines.push(x.replay === "" ? `  ${i + 1}. (no token)` : `  ${i + 1}. vmlab matrix --replay '${x.replay}'`);
    });
    lines.push("First failure:", failures[0]!.message.split("\n").slice(0, 40).join("\n"));
  }
  const where = [
    r.size ? `size ${r.size}` : "",
    r.seed !== undefined ? `seed ${r.seed}` : "",
    r.shard ? `shard ${r.shard}` : "",
    r.errata?.length ? `errata on: ${r.errata.join(", ")}` : "",
    r.workers !== undefined ? `${r.workers} worker thread${r.workers === 1 ? "" : "s"}` : "",
  ].filter((x) => x !== "");
  if (where.length > 0) lines.push(where.join(", "));
  return lines.join("\n");
}

/**
 * The combinations to run: `--combos` and the `--machine/--pmap/--vm` filter together (both when
 * both are given); undefined for every combination.
 */
function chosenCombos(o: MatrixCommandOptions): string[] | undefined {
  const named = list(o.combos);
  const filtered = [o.machine, o.pmap, o.vm].some((x) => x !== undefined && x !== "all");
  if (!filtered) return named;
  const keys = selectCombinations(o).map((c) => `${c.machine}/${c.pmap}/${c.vm}`);
  if (named === undefined) return keys;
  const both = keys.filter((k) => named.includes(k));
  if (both.length === 0) throw new Error("--combos and --machine/--pmap/--vm select no combination together");
  return both;
}

function failedCount(r: MatrixResult): number {
  return r.combos.reduce((n, c) => n + Object.values(c.suites).reduce((m, s) => m + s.failed, 0), 0);
}

/** The mutation check as a table: per erratum and combination, caught or not, by which suites. */
export function renderMutation(r: MutationReport): string {
  const t = new Table({ head: ["erratum", "combination", "caught", "failing suites", "first failure (replay token)"] });
  for (const e of r.errata) {
    if (e.combos.length === 0) t.push([e.id, "—", "", "applies to none of the chosen combinations", ""]);
    for (const c of e.combos) {
      t.push([
        e.id,
        `${c.machine}/${c.pmap}/${c.vm}`,
        c.caught ? "yes" : "NO",
        c.suites.join(", "),
        c.first ? `${c.first.name}\n${c.first.replay}` : "",
      ]);
    }
  }
  const misses = mutationMisses(r);
  const pairs = r.errata.reduce((n, e) => n + e.combos.length, 0);
  return [
    t.toString(),
    `${pairs - misses.length}/${pairs} erratum × combination pairs caught (size ${r.size}, ${r.seconds.toFixed(1)} s)`,
  ].join("\n");
}

/** The progress bar on a terminal's stderr (none for --json or when piped). */
function progressBar(o: MatrixCommandOptions): SingleBar | undefined {
  return o.json || !process.stderr.isTTY
    ? undefined
    : new SingleBar({ format: "matrix [{bar}] {value}/{total} suites  {last}", hideCursor: true });
}

export async function runMatrixCommand(o: MatrixCommandOptions, out: (s: string) => void): Promise<void> {
  if (o.quick && o.full) throw new Error("--quick and --full exclude each other");
  if (o.mutation) {
    const combos = chosenCombos(o);
    const errata = list(o.errata);
    const bar = progressBar(o);
    const r = await runMutation({
      size: o.full ? "full" : "quick",
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(combos !== undefined ? { combos } : {}),
      ...(errata !== undefined ? { errata } : {}),
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      onResult: (c, suite, _r, done, total) => {
        if (done === 1) bar?.start(total, 0, { last: "" });
        bar?.setTotal(total);
        bar?.update(done, { last: `${c.machine}/${c.pmap}/${c.vm} ${suite}` });
      },
    });
    bar?.stop();
    out(o.json ? JSON.stringify(r, null, 2) : renderMutation(r));
    onFailures(mutationMisses(r).length);
    return;
  }
  let result: MatrixResult;
  if (o.merge !== undefined && o.merge.length > 0) {
    result = mergeMatrix(o.merge.map((file) => JSON.parse(readFileSync(file, "utf8")) as MatrixResult));
  } else {
    const combos = chosenCombos(o);
    const suites = list(o.suites) as MatrixSuite[] | undefined;
    const errata = list(o.errata);
    const bar = progressBar(o);
    result = await runMatrix({
      size: o.full ? "full" : "quick",
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(combos !== undefined ? { combos } : {}),
      ...(suites !== undefined ? { suites } : {}),
      ...(o.shard !== undefined ? { shard: o.shard } : {}),
      ...(o.replay !== undefined ? { replay: o.replay } : {}),
      ...(errata !== undefined ? { errata } : {}),
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
      onResult: (c, suite, r, done, total) => {
        if (done === 1) bar?.start(total, 0, { last: "" });
        const verdict = r.failed > 0 ? `FAILED ${r.failed}` : "ok";
        bar?.update(done, { last: `${c.machine}/${c.pmap}/${c.vm} ${suite} ${verdict}` });
      },
    });
    bar?.stop();
  }
  out(o.json ? JSON.stringify(result, null, 2) : renderMatrix(result));
  onFailures(failedCount(result));
}
