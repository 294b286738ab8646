/**
 * The Markdown summary (report/summary.md, and the generated part of docs/benchmarks.md): how
 * to reproduce, the primary figure per combination and workload, the figures where the parts
 * differ most, the simulator's speed, the expectations and every failed cell.
 */
import { evaluateExpectations } from "../expectations.js";
import { metricDef } from "../metrics.js";
import type { BenchReport } from "../runner.js";
import {
  cellIndex,
  comboLabel,
  combosOf,
  errorsOf,
  formatMetric,
  formatShort,
  summaryTable,
  workloadsOf,
} from "./table.js";

/** (workload, metric) pairs of the "where the parts differ" table. */
export const HIGHLIGHTS: readonly (readonly [string, string])[] = [
  ["seq-touch", "sweep.tlb.miss"],
  ["random-touch", "walk.levels_per_miss"],
  ["fork-cow", "window.switch"],
  ["fork-cow", "window.flush"],
  ["fork-cow", "pv.bytes_per_entry"],
  ["fork-cow", "vm.shadow_depth.peak"],
  ["fork-exec", "fault.trap"],
  ["pressure", "swapout"],
  ["smp-shootdown", "ipi"],
];

const row = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
}

const STATUS = { pass: "✅ pass", fail: "❌ FAIL", "n/a": "— n/a" } as const;

export function renderMarkdown(report: BenchReport): string {
  const m = report.meta;
  const combos = combosOf(report);
  const workloads = workloadsOf(report);
  const at = cellIndex(report);
  const out: string[] = ["### Latest run\n"];
  out.push(
    `${combos.length} combinations × ${workloads.length} workloads, scale ${m.scale}, seed ${m.seed}` +
      `${m.date ? `, ${m.date}` : ""}${m.host ? `, ${m.host}` : ""}; the whole run took ${(m.hostMs / 1000).toFixed(1)} s of host time.`,
  );
  if (m.command) out.push(`\nReproduce: \`${m.command}\``);
  out.push("\n### Simulated cycles\n");
  out.push("Exact and repeatable for a given seed and scale (the cost model's cycles over every CPU).\n");
  const sim = summaryTable(report, "sim.cycles", false);
  out.push(table(sim.head, sim.rows));

  out.push("\n### Where the parts differ\n");
  const hl = HIGHLIGHTS.filter(([w]) => workloads.includes(w));
  out.push(
    table(
      ["machine/pmap/vm", ...hl.map(([w, k]) => `${w}: ${metricDef(k)?.label ?? k}`)],
      combos.map((c) => [comboLabel(c), ...hl.map(([w, k]) => formatMetric(at(c, w), k, true))]),
    ),
  );
  out.push("\n— : the parts of this combination do not provide the metric.");

  out.push("\n### Simulator speed\n");
  out.push(
    table(
      ["machine/pmap/vm", "host s", "simulated ops/s (median)", "peak RSS MiB"],
      combos.map((c) => {
        const cells = workloads.map((w) => at(c, w)).filter((r) => r !== undefined && r.error === undefined);
        const s = cells.reduce((acc, r) => acc + (r?.hostMs ?? 0), 0) / 1000;
        const rates = cells.map((r) => r?.metrics["host.ops_per_sec"] ?? 0).sort((a, b) => a - b);
        const med = rates.length ? (rates[rates.length >> 1] as number) : 0;
        const rss = Math.max(0, ...cells.map((r) => r?.metrics["host.peak_rss_mib"] ?? 0));
        return [comboLabel(c), s.toFixed(1), formatShort(Math.round(med)), rss ? rss.toFixed(0) : "—"];
      }),
    ),
  );

  out.push("\n### Expectations\n");
  for (const e of evaluateExpectations(report)) out.push(`- ${STATUS[e.status]} — ${e.title}. ${e.detail}`);

  const errs = errorsOf(report);
  out.push(`\n### Failed cells (${errs.length})\n`);
  if (errs.length === 0) out.push("None.");
  else
    out.push(
      table(
        ["machine/pmap/vm", "workload", "error"],
        errs.map((r) => [comboLabel(r), r.workload, r.error ?? ""]),
      ),
    );
  const audits = report.results.filter((r) => r.audit !== undefined);
  out.push(`\n### Audit findings (${audits.length})\n`);
  if (audits.length === 0) out.push("None.");
  else {
    // One line per distinct finding (the same violation usually repeats across a combination's cells).
    const byText = new Map<string, string[]>();
    for (const r of audits) {
      const key = (r.audit ?? "").replace(/0x[0-9a-f]+/g, "…");
      byText.set(key, [...(byText.get(key) ?? []), `${comboLabel(r)} ${r.workload}`]);
    }
    for (const [text, cells] of byText) out.push(`- ${text} — ${cells.length} cells (e.g. ${cells[0]}).`);
  }
  return `${out.join("\n")}\n`;
}
