/**
 * Qualitative expectations from the literature and the seeds, checked against a report. Each
 * compares cells of the same workload on combinations that differ in one part, and says which
 * parts it needs: when the report has no such pair (a part not registered yet, a workload not
 * run), its status is `n/a` with the reason — never a silent pass. The tests assert them on
 * fresh runs; the reports print them.
 */

import { cellIndex, comboLabel, combosOf, formatNumber } from "./render/table.js";
import type { BenchReport, BenchResult, Combo } from "./runner.js";

export type ExpectationStatus = "pass" | "fail" | "n/a";

export interface ExpectationOutcome {
  readonly id: string;
  readonly title: string;
  readonly status: ExpectationStatus;
  /** The figures compared, or why it could not be checked. */
  readonly detail: string;
}

type At = (c: Combo, workload: string) => BenchResult | undefined;

export interface Expectation {
  readonly id: string;
  readonly title: string;
  /** Where the expectation comes from. */
  readonly source: string;
  /** Parts that must be registered for it to apply. */
  readonly needs: { readonly pmap?: readonly string[]; readonly vm?: readonly string[] };
  /** Workloads it reads. */
  readonly workloads: readonly string[];
  /**
   * The smallest workload scale at which the claim is meant to hold (a fixed cost per process,
   * such as a part-filled last pv chunk, dominates smaller runs). Absent: any scale.
   */
  readonly minScale?: number;
  /** Check it on the report's cells (`combos`: the combinations the report ran). */
  check(at: At, combos: readonly Combo[]): { status: ExpectationStatus; detail: string };
}

/** Pairs of combinations in `combos` equal except on `axis`, where they are `a` and `b`. */
function pairs(combos: readonly Combo[], axis: "pmap" | "vm", a: Partial<Combo>, b: Partial<Combo>): [Combo, Combo][] {
  const matches = (c: Combo, p: Partial<Combo>) =>
    (p.machine === undefined || c.machine === p.machine) &&
    (p.pmap === undefined || c.pmap === p.pmap) &&
    (p.vm === undefined || c.vm === p.vm);
  const out: [Combo, Combo][] = [];
  for (const x of combos) {
    if (!matches(x, a)) continue;
    for (const y of combos) {
      if (!matches(y, b)) continue;
      const same =
        axis === "pmap" ? x.machine === y.machine && x.vm === y.vm : x.machine === y.machine && x.pmap === y.pmap;
      if (same && x !== y) out.push([x, y]);
    }
  }
  return out;
}

/** A metric of a cell that ran, or why not. */
function value(at: At, c: Combo, w: string, metric: string): number | string {
  const r = at(c, w);
  if (r === undefined) return `${comboLabel(c)} did not run ${w}`;
  if (r.error !== undefined) return `${comboLabel(c)} ${w} failed: ${r.error}`;
  return r.metrics[metric] ?? `${comboLabel(c)} has no ${metric}`;
}

/**
 * Compare `metric` of workload `w` over pairs: `ok(a, b)` must hold for each. A pair whose cells
 * are missing or failed makes the outcome `n/a` only if no pair could be compared.
 */
function comparePairs(
  at: At,
  ps: [Combo, Combo][],
  w: string,
  metric: string,
  ok: (a: number, b: number) => boolean,
  describe: (x: Combo, a: number, y: Combo, b: number) => string,
): { status: ExpectationStatus; detail: string } {
  const lines: string[] = [];
  const skipped: string[] = [];
  let failed = false;
  for (const [x, y] of ps) {
    const a = value(at, x, w, metric);
    const b = value(at, y, w, metric);
    if (typeof a === "string" || typeof b === "string") {
      skipped.push(typeof a === "string" ? a : (b as string));
      continue;
    }
    const good = ok(a, b);
    if (!good) failed = true;
    lines.push(`${good ? "" : "NOT: "}${describe(x, a, y, b)}`);
  }
  if (lines.length === 0) return { status: "n/a", detail: skipped.join("; ") || "no pair of combinations to compare" };
  return { status: failed ? "fail" : "pass", detail: [...lines, ...skipped.map((s) => `(${s})`)].join("; ") };
}

const n = formatNumber;

export const EXPECTATIONS: readonly Expectation[] = [
  {
    id: "superpage-sweeps",
    title: "Superpage promotion (pmap freebsd + vm freebsd) cuts TLB misses on sequential sweeps by ≥10×",
    source: "Navarro et al., OSDI 2002; FreeBSD vm_reserv.c / pmap_promote_pde",
    needs: { pmap: ["freebsd"], vm: ["freebsd"] },
    workloads: ["seq-touch"],
    check(at, combos) {
      const ps: [Combo, Combo][] = [];
      for (const c of combos) {
        if (c.pmap !== "mach" || c.vm !== "mach") continue;
        const f = combos.find((x) => x.machine === c.machine && x.pmap === "freebsd" && x.vm === "freebsd");
        if (f) ps.push([c, f]);
      }
      return comparePairs(
        at,
        ps,
        "seq-touch",
        "sweep.tlb.miss",
        (a, b) => a >= 10 * b,
        (x, a, y, b) => `${x.machine}: ${n(a)} misses (${x.pmap}/${x.vm}) vs ${n(b)} (${y.pmap}/${y.vm})`,
      );
    },
  },
  {
    id: "direct-map",
    title: "The direct map removes window switches on amd64 (pmap freebsd none, pmap mach some)",
    source: "FreeBSD amd64 pmap.c (PHYS_TO_DMAP) vs the i386 APTD/PTmap windows",
    needs: { pmap: ["freebsd"] },
    workloads: ["fork-cow"],
    check(at, combos) {
      const fb = combos.filter((c) => c.machine === "amd64" && c.pmap === "freebsd");
      const mach = combos.filter((c) => c.machine === "amd64" && c.pmap === "mach");
      if (fb.length === 0 || mach.length === 0)
        return { status: "n/a", detail: "needs amd64 with pmaps freebsd and mach" };
      const lines: string[] = [];
      let failed = false;
      let compared = 0;
      for (const c of [...fb, ...mach]) {
        const v = value(at, c, "fork-cow", "window.switch");
        if (typeof v === "string" && !v.includes("has no")) {
          lines.push(`(${v})`);
          continue;
        }
        const sw = typeof v === "number" ? v : 0;
        const good = c.pmap === "freebsd" ? sw === 0 : sw > 0;
        failed ||= !good;
        compared++;
        lines.push(`${good ? "" : "NOT: "}${comboLabel(c)} ${typeof v === "number" ? n(v) : "no"} window switches`);
      }
      if (compared === 0) return { status: "n/a", detail: lines.join("; ") };
      return { status: failed ? "fail" : "pass", detail: lines.join("; ") };
    },
  },
  {
    id: "pv-chunks",
    title:
      "pv chunks (pmap freebsd) cost fewer bytes per mapping than the pv pages of pmaps mach and cranor, on VM layers that leave other processes' mappings alone at copy-on-write",
    source: "FreeBSD pmap.c pv_chunk (Alan Cox, 2005) vs 4.4BSD/NetBSD pv_page",
    needs: { pmap: ["freebsd"] },
    workloads: ["fork-cow"],
    // A pmap's last chunk is part-filled: with fork-cow's 128 pages per scale unit the per-process
    // remainder outweighs the 12-byte entries below scale 4 (the default).
    minScale: 4,
    check(at, combos) {
      // The Mach VM's copy-up removes every other mapping of the original page (4.4BSD vm_fault's
      // pmap_page_protect(old_m, VM_PROT_NONE)): children lose every eighth entry per generation,
      // no chunk ever empties, and per-pmap chunks cannot be reused — see "pv-chunk-fragmentation".
      const noStrip = combos.filter((c) => c.vm !== "mach");
      const ps = [
        ...pairs(noStrip, "pmap", { pmap: "freebsd" }, { pmap: "mach" }),
        ...pairs(noStrip, "pmap", { pmap: "freebsd" }, { pmap: "cranor" }),
      ];
      return comparePairs(
        at,
        ps,
        "fork-cow",
        "pv.bytes_per_entry",
        (a, b) => a < b,
        (x, a, y, b) => `${x.machine}/${x.vm}: ${a.toFixed(1)} B (${x.pmap}) vs ${b.toFixed(1)} B (${y.pmap})`,
      );
    },
  },
  {
    id: "pv-chunk-fragmentation",
    title:
      "per-pmap pv chunks fragment under the Mach VM's copy-up: pmap freebsd pays over 1.5× the bytes per mapping it pays under UVM",
    source:
      "4.4BSD vm_fault.c pmap_page_protect(old_m, VM_PROT_NONE); FreeBSD free_pv_entry frees a chunk only when empty",
    needs: { pmap: ["freebsd"], vm: ["uvm"] },
    workloads: ["fork-cow"],
    check(at, combos) {
      const ps = pairs(
        combos.filter((c) => c.pmap === "freebsd"),
        "vm",
        { vm: "mach" },
        { vm: "uvm" },
      );
      return comparePairs(
        at,
        ps,
        "fork-cow",
        "pv.bytes_per_entry",
        (a, b) => a > 1.5 * b,
        (x, a, y, b) => `${x.machine}/${x.pmap}: ${a.toFixed(1)} B (vm ${x.vm}) vs ${b.toFixed(1)} B (vm ${y.vm})`,
      );
    },
  },
  {
    id: "amaps-no-shadow-chains",
    title: "UVM's amaps keep fork-heavy work free of the shadow-chain growth the Mach VM shows",
    source: "Cranor & Parulkar, USENIX 1999 (UVM), §4; 4.4BSD vm_object.c shadow chains",
    needs: { vm: ["uvm"] },
    workloads: ["fork-cow"],
    check(at, combos) {
      const ps = pairs(combos, "vm", { vm: "mach" }, { vm: "uvm" });
      const lines: string[] = [];
      let failed = false;
      let compared = 0;
      for (const [m, u] of ps) {
        const dm = value(at, m, "fork-cow", "vm.shadow_depth.peak");
        const ru = at(u, "fork-cow");
        if (typeof dm === "string" || ru === undefined || ru.error !== undefined) {
          lines.push(`(${typeof dm === "string" ? dm : `${comboLabel(u)} fork-cow did not run cleanly`})`);
          continue;
        }
        const du = ru.metrics["vm.shadow_depth.peak"] ?? 0;
        const good = dm >= 3 && du <= 1;
        failed ||= !good;
        compared++;
        const amaps = ru.metrics["vm.amaps.peak"];
        lines.push(
          `${good ? "" : "NOT: "}${m.machine}/${m.pmap}: Mach shadow depth ${n(dm)} vs UVM ${n(du)}${amaps !== undefined ? ` (${n(amaps)} amaps)` : ""}`,
        );
      }
      if (compared === 0) return { status: "n/a", detail: lines.join("; ") || "needs vm mach and vm uvm" };
      return { status: failed ? "fail" : "pass", detail: lines.join("; ") };
    },
  },
  {
    id: "cranor-window-flushes",
    title: "Cranor's pmap_map_ptes flushes the TLB for its window less often than the Mach pmap",
    source: "NetBSD pmap.c (Cranor, 1998) pmap_map_ptes; docs/benchmarks.md",
    needs: { pmap: ["cranor"] },
    workloads: ["fork-cow"],
    check(at, combos) {
      return comparePairs(
        at,
        pairs(combos, "pmap", { pmap: "cranor" }, { pmap: "mach" }),
        "fork-cow",
        "window.flush",
        (a, b) => a < b,
        (x, a, _y, b) => `${x.machine}/${x.vm}: ${n(a)} (cranor) vs ${n(b)} (mach)`,
      );
    },
  },
];

/** Every expectation's outcome on a report. */
export function evaluateExpectations(report: BenchReport): ExpectationOutcome[] {
  const at = cellIndex(report);
  const combos = combosOf(report);
  return EXPECTATIONS.map((e) => {
    const missing = [
      ...(e.needs.pmap ?? []).filter((p) => !combos.some((c) => c.pmap === p)).map((p) => `pmap ${p}`),
      ...(e.needs.vm ?? []).filter((v) => !combos.some((c) => c.vm === v)).map((v) => `vm ${v}`),
    ];
    if (missing.length)
      return { id: e.id, title: e.title, status: "n/a", detail: `not in this run: ${missing.join(", ")}` };
    if (e.minScale !== undefined && report.meta.scale < e.minScale)
      return {
        id: e.id,
        title: e.title,
        status: "n/a",
        detail: `needs scale ≥ ${e.minScale} (this run: ${report.meta.scale})`,
      };
    const ws = e.workloads.filter((w) => !report.results.some((r) => r.workload === w));
    if (ws.length) return { id: e.id, title: e.title, status: "n/a", detail: `workload not run: ${ws.join(", ")}` };
    return { id: e.id, title: e.title, ...e.check(at, combos) };
  });
}
