/**
 * Plain tables of a report: the same rows feed the terminal (cli-table3 in the CLI), the
 * Markdown summary and the HTML page, so the three always show the same numbers.
 */
import type { BenchReport, BenchResult, Combo } from "../runner.js";

export interface TextTable {
  readonly head: string[];
  readonly rows: string[][];
}

/** `machine/pmap/vm`. */
export const comboLabel = (c: Combo): string => `${c.machine}/${c.pmap}/${c.vm}`;

/** 1234567 → "1,234,567"; fractions keep two decimals. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** Short form for narrow cells: 12.35M, 456.7k, 12.3, 0.52. */
export function formatShort(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a >= 100 ? 0 : 2);
}

/** A metric value for a table cell: "—" when absent, "error" when the cell failed. */
export function formatMetric(r: BenchResult | undefined, metric: string, short = false): string {
  if (r === undefined) return "";
  if (r.error !== undefined) return "error";
  const v = r.metrics[metric];
  if (v === undefined) return "—";
  return short ? formatShort(v) : formatNumber(v);
}

/** The report's combinations in order (those of meta, else as results first name them). */
export function combosOf(report: BenchReport): Combo[] {
  if (report.meta?.combinations?.length) return report.meta.combinations;
  const seen = new Map<string, Combo>();
  for (const r of report.results) if (!seen.has(comboLabel(r))) seen.set(comboLabel(r), r);
  return [...seen.values()];
}

export function workloadsOf(report: BenchReport): string[] {
  if (report.meta?.workloads?.length) return report.meta.workloads;
  return [...new Set(report.results.map((r) => r.workload))];
}

/** Index results by combination label and workload. */
export function cellIndex(report: BenchReport): (c: Combo, workload: string) => BenchResult | undefined {
  const m = new Map<string, BenchResult>();
  for (const r of report.results) m.set(`${comboLabel(r)} ${r.workload}`, r);
  return (c, w) => m.get(`${comboLabel(c)} ${w}`);
}

/**
 * One metric for every combination (rows) and workload (columns), plus the combination's host
 * time. The terminal shows it in short form, the Markdown summary in full.
 */
export function summaryTable(report: BenchReport, metric = "sim.cycles", short = true): TextTable {
  const workloads = workloadsOf(report);
  const at = cellIndex(report);
  const rows = combosOf(report).map((c) => {
    const cells = workloads.map((w) => formatMetric(at(c, w), metric, short));
    const ms = workloads.reduce((s, w) => s + (at(c, w)?.hostMs ?? 0), 0);
    return [comboLabel(c), ...cells, (ms / 1000).toFixed(1)];
  });
  return { head: ["machine/pmap/vm", ...workloads, "host s"], rows };
}

/** The failed cells. */
export function errorsOf(report: BenchReport): BenchResult[] {
  return report.results.filter((r) => r.error !== undefined);
}
