/**
 * `vmlab matrix`: the conformance matrix (runMatrix) as a table — one row per combination, a
 * column per suite with passed/failed and seconds — then every failure with its seed and the
 * replay token that reruns it. `--json` prints the API.md shape; `--merge` joins shard files.
 */
import { readFileSync } from "node:fs";
import Table from "cli-table3";
import { MATRIX_SUITES, type MatrixResult, mergeMatrix, runMatrix } from "vmlab";

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

function cell(s: { passed: number; failed: number; seconds: number; note?: string } | undefined): string {
  if (s === undefined) return "";
  if (s.passed + s.failed === 0) return `— ${s.note ?? "nothing to run"}`;
  return `${s.passed}/${s.failed}  ${s.seconds.toFixed(1)} s`;
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
    const f = new Table({ head: ["combination", "suite", "failed", "seed", "replay (vmlab matrix --replay '…')"] });
    for (const x of failures) f.push([x.combo, x.suite, x.name, String(x.seed), x.replay]);
    lines.push(f.toString());
    lines.push("First failure:", failures[0]!.message.split("\n").slice(0, 40).join("\n"));
  }
  const where = [
    r.size ? `size ${r.size}` : "",
    r.seed !== undefined ? `seed ${r.seed}` : "",
    r.shard ? `shard ${r.shard}` : "",
  ].filter((x) => x !== "");
  if (where.length > 0) lines.push(where.join(", "));
  return lines.join("\n");
}

function failedCount(r: MatrixResult): number {
  return r.combos.reduce((n, c) => n + Object.values(c.suites).reduce((m, s) => m + s.failed, 0), 0);
}

export async function runMatrixCommand(o: MatrixCommandOptions, out: (s: string) => void): Promise<void> {
  if (o.quick && o.full) throw new Error("--quick and --full exclude each other");
  let result: MatrixResult;
  if (o.merge !== undefined && o.merge.length > 0) {
    result = mergeMatrix(o.merge.map((file) => JSON.parse(readFileSync(file, "utf8")) as MatrixResult));
  } else {
    const combos = list(o.combos);
    const suites = list(o.suites);
    const errata = list(o.errata);
    result = await runMatrix({
      size: o.full ? "full" : "quick",
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(combos !== undefined ? { combos } : {}),
      ...(suites !== undefined ? { suites: suites as never } : {}),
      ...(o.shard !== undefined ? { shard: o.shard } : {}),
      ...(o.replay !== undefined ? { replay: o.replay } : {}),
      ...(errata !== undefined ? { errata } : {}),
    });
  }
  out(o.json ? JSON.stringify(result, null, 2) : renderMatrix(result));
  onFailures(failedCount(result));
}
