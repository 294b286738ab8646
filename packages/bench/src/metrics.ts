/**
 * The metrics: stable names the reports and `--json` use, each computed from the counters the
 * parts register (`sys.stats()`), from the peaks the runner samples, from what a workload
 * measures itself, or on the host. This table is the one place where a counter's name turns
 * into a metric's name, and it says which parts provide each: a metric whose counters a part
 * does not register is absent from that part's results, never 0.
 */
import { PAGE_SIZE } from "@vmlab/core";

export type Stats = Readonly<Record<string, number | undefined>>;

export type MetricKind =
  /** A counter's change over the workload (final snapshot minus the one taken before it ran). */
  | "total"
  /** The largest value of a gauge over the snapshots the workload asked for, and its end. */
  | "peak"
  /** Measured by the workload itself over one of its phases. */
  | "workload"
  /** Measured on the host (wall clock, resident memory); varies between runs. */
  | "host"
  /** Computed from other metrics of the same cell. */
  | "derived";

export interface MetricDef {
  /** The stable name (`sim.cycles`, `tlb.miss`, ...). */
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  readonly kind: MetricKind;
  /** Section of the report. */
  readonly group: "time" | "tlb" | "faults" | "pmap" | "vm" | "paging" | "host";
  readonly description: string;
  /** The counters (or other metrics) it is computed from. */
  readonly sources: readonly string[];
  /** Which parts register those counters today. */
  readonly providers: string;
  /** total/peak: the value in one snapshot, undefined when a counter it needs is absent. */
  readonly read?: (s: Stats) => number | undefined;
  /** derived: from the cell's other metrics. */
  readonly derive?: (m: Readonly<Record<string, number>>) => number | undefined;
}

/** The first of these counters that is registered. */
const first =
  (...names: string[]) =>
  (s: Stats): number | undefined => {
    for (const n of names) if (s[n] !== undefined) return s[n];
    return undefined;
  };

/** Live objects: allocations minus frees, when both counters exist. */
const live =
  (alloc: string, free: string, times = 1) =>
  (s: Stats) => {
    const a = s[alloc];
    const f = s[free];
    return a === undefined || f === undefined ? undefined : (a - f) * times;
  };

/** The first reader that gives a value. */
const either =
  (...readers: ((s: Stats) => number | undefined)[]) =>
  (s: Stats): number | undefined => {
    for (const r of readers) {
      const v = r(s);
      if (v !== undefined) return v;
    }
    return undefined;
  };

const ratio = (num: string, den: string) => (m: Readonly<Record<string, number>>) => {
  const a = m[num];
  const b = m[den];
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
};

const ALL_MACHINES = "every machine (@vmlab/machine)";
const EVERY_PMAP = "every pmap (mach, freebsd, cranor)";
const EVERY_VM = "every VM layer (decision 0007's shared names)";

export const METRICS: readonly MetricDef[] = [
  {
    name: "sim.cycles",
    label: "simulated cycles",
    unit: "cycles",
    kind: "total",
    group: "time",
    description: "Cycles charged by the cost model on every CPU: the primary, noise-free figure.",
    sources: ["cpu.cycles"],
    providers: ALL_MACHINES,
    read: first("cpu.cycles"),
  },
  {
    name: "sim.ops",
    label: "simulated operations",
    unit: "ops",
    kind: "workload",
    group: "time",
    description: "Loads, stores, system calls and kernel allocations the workload performed.",
    sources: ["workload"],
    providers: "every workload",
  },
  {
    name: "sim.cycles_per_op",
    label: "cycles per operation",
    unit: "cycles/op",
    kind: "derived",
    group: "time",
    description: "Simulated cycles divided by the workload's operations.",
    sources: ["sim.cycles", "sim.ops"],
    providers: ALL_MACHINES,
    derive: ratio("sim.cycles", "sim.ops"),
  },
  {
    name: "host.ms",
    label: "host wall time",
    unit: "ms",
    kind: "host",
    group: "host",
    description: "Wall-clock time the workload took on the host (simulator speed; noisy).",
    sources: ["performance.now()"],
    providers: "the runner",
  },
  {
    name: "host.ops_per_sec",
    label: "simulated operations per host second",
    unit: "ops/s",
    kind: "derived",
    group: "host",
    description: "The simulator's speed on this workload.",
    sources: ["sim.ops", "host.ms"],
    providers: "the runner",
    derive: (m) => {
      const ops = m["sim.ops"];
      const ms = m["host.ms"];
      return ops === undefined || ms === undefined || ms <= 0 ? undefined : (ops * 1000) / ms;
    },
  },
  {
    name: "host.peak_rss_mib",
    label: "peak resident memory of the simulator",
    unit: "MiB",
    kind: "host",
    group: "host",
    description:
      "Largest resident set of the host process sampled while the cell ran (includes the runtime and garbage not yet collected).",
    sources: ["process.memoryUsage.rss()"],
    providers: "the runner, where the host can tell (Node)",
  },
  {
    name: "tlb.miss",
    label: "TLB misses",
    unit: "misses",
    kind: "total",
    group: "tlb",
    description: "Translations not found in the TLB (each one walks the page tables).",
    sources: ["tlb.miss"],
    providers: ALL_MACHINES,
    read: first("tlb.miss"),
  },
  {
    name: "sweep.tlb.miss",
    label: "TLB misses in the read sweeps",
    unit: "misses",
    kind: "workload",
    group: "tlb",
    description: "seq-touch only: TLB misses of the read sweeps over the populated region (what superpages save).",
    sources: ["tlb.miss (phase delta)"],
    providers: ALL_MACHINES,
  },
  {
    name: "sweep.cycles",
    label: "simulated cycles of the read sweeps",
    unit: "cycles",
    kind: "workload",
    group: "time",
    description: "seq-touch only: cycles of the read sweeps over the populated region.",
    sources: ["cpu.cycles (phase delta)"],
    providers: ALL_MACHINES,
  },
  {
    name: "tlb.hit",
    label: "TLB hits",
    unit: "hits",
    kind: "total",
    group: "tlb",
    description: "Translations served by the TLB.",
    sources: ["tlb.hit"],
    providers: ALL_MACHINES,
    read: first("tlb.hit"),
  },
  {
    name: "walk.levels",
    label: "page-walk levels read",
    unit: "entries",
    kind: "total",
    group: "tlb",
    description:
      "Paging-structure entries read by the walker (2 per miss on i386, 3 on PAE, 4 on amd64; fewer for large pages).",
    sources: ["walk.levels"],
    providers: ALL_MACHINES,
    read: first("walk.levels"),
  },
  {
    name: "walk.levels_per_miss",
    label: "levels per TLB miss",
    unit: "entries/miss",
    kind: "derived",
    group: "tlb",
    description: "Average walk depth.",
    sources: ["walk.levels", "tlb.miss"],
    providers: ALL_MACHINES,
    derive: ratio("walk.levels", "tlb.miss"),
  },
  {
    name: "tlb.flush",
    label: "full TLB flushes",
    unit: "flushes",
    kind: "total",
    group: "tlb",
    description: "Whole-TLB invalidations (CR3 reloads that drop non-global entries count here).",
    sources: ["tlb.flush"],
    providers: ALL_MACHINES,
    read: first("tlb.flush"),
  },
  {
    name: "tlb.invlpg",
    label: "INVLPGs",
    unit: "invlpg",
    kind: "total",
    group: "tlb",
    description: "Single-page invalidations.",
    sources: ["tlb.invlpg"],
    providers: ALL_MACHINES,
    read: first("tlb.invlpg"),
  },
  {
    name: "ipi",
    label: "IPIs sent",
    unit: "IPIs",
    kind: "total",
    group: "tlb",
    description: "Inter-processor interrupts (TLB shootdowns) sent.",
    sources: ["ipi.sent"],
    providers: ALL_MACHINES,
    read: first("ipi.sent"),
  },
  {
    name: "shootdown",
    label: "pmap shootdowns",
    unit: "shootdowns",
    kind: "total",
    group: "tlb",
    description: "Shootdown rounds the pmap started (each may send several IPIs, or none on one CPU).",
    sources: ["pmap.shootdown"],
    providers: EVERY_PMAP,
    read: first("pmap.shootdown"),
  },
  {
    name: "window.switch",
    label: "page-table window switches",
    unit: "switches",
    kind: "total",
    group: "pmap",
    description:
      "Times a pmap pointed its alternate page-table window (APTmap/APTD/APDP) at another pmap's tables. The amd64 direct map needs none.",
    sources: ["pmap.window.switch"],
    providers: EVERY_PMAP,
    read: first("pmap.window.switch"),
  },
  {
    name: "window.flush",
    label: "window TLB flushes",
    unit: "flushes",
    kind: "total",
    group: "pmap",
    description: "TLB flushes a window switch cost.",
    sources: ["pmap.window.flush"],
    providers: EVERY_PMAP,
    read: first("pmap.window.flush"),
  },
  {
    name: "fault.trap",
    label: "page-fault traps",
    unit: "faults",
    kind: "total",
    group: "faults",
    description: "User page faults that entered trap() (every kind, including page-table faults).",
    sources: ["trap.pagefault"],
    providers: "the kernel",
    read: first("trap.pagefault"),
  },
  {
    name: "fault.vm",
    label: "vm_fault calls",
    unit: "faults",
    kind: "total",
    group: "faults",
    description: "Faults the VM layer resolved or refused.",
    sources: ["vm.fault"],
    providers: EVERY_VM,
    read: first("vm.fault"),
  },
  {
    name: "fault.zerofill",
    label: "zero-fill faults",
    unit: "faults",
    kind: "total",
    group: "faults",
    description: "Faults satisfied with a fresh zeroed page.",
    sources: ["vm.fault.zerofill"],
    providers: EVERY_VM,
    read: first("vm.fault.zerofill"),
  },
  {
    name: "fault.cow",
    label: "copy-on-write faults",
    unit: "faults",
    kind: "total",
    group: "faults",
    description: "Faults that copied a page for a private writer.",
    sources: ["vm.fault.cow"],
    providers: EVERY_VM,
    read: first("vm.fault.cow"),
  },
  {
    name: "fault.wire",
    label: "wiring faults",
    unit: "faults",
    kind: "total",
    group: "faults",
    description: "Per-page faults of vm_fault_wire / uvm_fault_wire (mlock, vslock).",
    sources: ["vm.fault.wire"],
    providers: "vm mach, vm uvm",
    read: first("vm.fault.wire"),
  },
  {
    name: "page.zero",
    label: "pages zeroed",
    unit: "pages",
    kind: "total",
    group: "pmap",
    description: "pmap_zero_page calls.",
    sources: ["pmap.zero_page"],
    providers: EVERY_PMAP,
    read: first("pmap.zero_page"),
  },
  {
    name: "page.copy",
    label: "pages copied",
    unit: "pages",
    kind: "total",
    group: "pmap",
    description: "pmap_copy_page calls.",
    sources: ["pmap.copy_page"],
    providers: EVERY_PMAP,
    read: first("pmap.copy_page"),
  },
  {
    name: "pv.alloc",
    label: "pv entries allocated",
    unit: "entries",
    kind: "total",
    group: "pmap",
    description:
      "pv entries allocated for mappings of managed pages (the Mach pmap's embedded pv_table heads are not allocations).",
    sources: ["pmap.pv.alloc"],
    providers: EVERY_PMAP,
    read: first("pmap.pv.alloc"),
  },
  {
    name: "pv.live.peak",
    label: "live pv entries (peak)",
    unit: "entries",
    kind: "peak",
    group: "pmap",
    description: "Largest number of allocated pv entries alive at once.",
    sources: ["pmap.pv.alloc − pmap.pv.free", "vm.pmap.pv_entry_count"],
    providers: EVERY_PMAP,
    read: either(live("pmap.pv.alloc", "pmap.pv.free"), first("vm.pmap.pv_entry_count")),
  },
  {
    name: "pv.bytes.peak",
    label: "memory holding pv entries (peak)",
    unit: "bytes",
    kind: "peak",
    group: "pmap",
    description: "Largest number of bytes of pages given to pv storage at once (pv pages, pv chunks).",
    sources: ["(pmap.pvpage.alloc − pmap.pvpage.free) × PAGE_SIZE", "vm.pmap.pc_chunk_count × PAGE_SIZE"],
    providers: "every pmap (pv pages: mach, cranor; pv chunks: freebsd)",
    read: either(live("pmap.pvpage.alloc", "pmap.pvpage.free", PAGE_SIZE), (s) =>
      s["vm.pmap.pc_chunk_count"] === undefined ? undefined : s["vm.pmap.pc_chunk_count"] * PAGE_SIZE,
    ),
  },
  {
    name: "pv.bytes_per_entry",
    label: "pv bytes per live entry (at peak)",
    unit: "bytes/entry",
    kind: "derived",
    group: "pmap",
    description: "What a mapping's pv entry costs in memory, page headers and unused slots included.",
    sources: ["pv.bytes.peak", "pv.live.peak"],
    providers: EVERY_PMAP,
    derive: ratio("pv.bytes.peak", "pv.live.peak"),
  },
  {
    name: "ptp.alloc",
    label: "page-table pages allocated",
    unit: "pages",
    kind: "total",
    group: "pmap",
    description:
      "Page-table pages the pmap allocated (the Mach pmap's live in the user map and are faulted in instead).",
    sources: ["pmap.ptp.alloc"],
    providers: "pmap cranor",
    read: first("pmap.ptp.alloc"),
  },
  {
    name: "ptp.live.peak",
    label: "page-table pages (peak)",
    unit: "pages",
    kind: "peak",
    group: "pmap",
    description: "Largest number of pmap-allocated page-table pages alive at once.",
    sources: ["pmap.ptp.alloc − pmap.ptp.free"],
    providers: "pmap cranor",
    read: live("pmap.ptp.alloc", "pmap.ptp.free"),
  },
  {
    name: "pde.promote",
    label: "superpage promotions",
    unit: "promotions",
    kind: "total",
    group: "pmap",
    description: "pmap_promote_pde successes.",
    sources: ["vm.pmap.pde.promotions"],
    providers: "pmap freebsd",
    read: first("vm.pmap.pde.promotions"),
  },
  {
    name: "pde.demote",
    label: "superpage demotions",
    unit: "demotions",
    kind: "total",
    group: "pmap",
    description: "pmap_demote_pde calls.",
    sources: ["vm.pmap.pde.demotions"],
    providers: "pmap freebsd",
    read: first("vm.pmap.pde.demotions"),
  },
  {
    name: "vm.map_entries.peak",
    label: "map entries (peak)",
    unit: "entries",
    kind: "peak",
    group: "vm",
    description: "Largest number of vm_map entries alive at once.",
    sources: ["vm.map.entries"],
    providers: "none yet (no VM layer registers the gauge)",
    read: first("vm.map.entries"),
  },
  {
    name: "vm.objects.peak",
    label: "VM objects (peak)",
    unit: "objects",
    kind: "peak",
    group: "vm",
    description: "Largest number of live VM objects.",
    sources: ["vm.object.count"],
    providers: "vm mach",
    read: first("vm.object.count"),
  },
  {
    name: "vm.shadow_depth.peak",
    label: "shadow-chain depth (peak)",
    unit: "objects",
    kind: "peak",
    group: "vm",
    description: "Longest shadow chain seen (objects from the top of a chain to its bottom).",
    sources: ["vm.object.shadow_depth.max"],
    providers: "vm mach",
    read: first("vm.object.shadow_depth.max"),
  },
  {
    name: "vm.collapse",
    label: "object collapses",
    unit: "collapses",
    kind: "total",
    group: "vm",
    description: "vm_object_collapse merges of a shadow into its backing object.",
    sources: ["vm.object.collapse"],
    providers: "vm mach",
    read: first("vm.object.collapse"),
  },
  {
    name: "vm.amaps.peak",
    label: "amaps (peak)",
    unit: "amaps",
    kind: "peak",
    group: "vm",
    description: "Largest number of live anonymous maps.",
    sources: ["vm.amap.alloc − vm.amap.free"],
    providers: "vm uvm",
    read: live("vm.amap.alloc", "vm.amap.free"),
  },
  {
    name: "vm.anons.peak",
    label: "anons (peak)",
    unit: "anons",
    kind: "peak",
    group: "vm",
    description: "Largest number of live anons.",
    sources: ["vm.anon.alloc − vm.anon.free"],
    providers: "vm uvm",
    read: live("vm.anon.alloc", "vm.anon.free"),
  },
  {
    name: "vm.wired.peak",
    label: "wired pages (peak)",
    unit: "pages",
    kind: "peak",
    group: "vm",
    description: "Largest number of wired pages system-wide.",
    sources: ["vm.page.wired"],
    providers: "the kernel (from every VM layer's wiredPages)",
    read: first("vm.page.wired"),
  },
  {
    name: "pageout",
    label: "file pages written",
    unit: "pages",
    kind: "total",
    group: "paging",
    description: "File pages written back (by the pageout daemon or msync).",
    sources: ["vm.pageout"],
    providers: EVERY_VM,
    read: first("vm.pageout"),
  },
  {
    name: "swapout",
    label: "pages swapped out",
    unit: "pages",
    kind: "total",
    group: "paging",
    description: "Anonymous pages written to swap.",
    sources: ["vm.swapout"],
    providers: EVERY_VM,
    read: first("vm.swapout"),
  },
  {
    name: "pagein",
    label: "file pages read",
    unit: "pages",
    kind: "total",
    group: "paging",
    description: "File pages read by the vnode pager.",
    sources: ["vm.pagein"],
    providers: EVERY_VM,
    read: first("vm.pagein"),
  },
  {
    name: "swapin",
    label: "pages swapped in",
    unit: "pages",
    kind: "total",
    group: "paging",
    description: "Anonymous pages read back from swap.",
    sources: ["vm.swapin"],
    providers: EVERY_VM,
    read: first("vm.swapin"),
  },
  {
    name: "pageout.scan",
    label: "pages scanned by the daemon",
    unit: "pages",
    kind: "total",
    group: "paging",
    description: "Pages the pageout daemon examined.",
    sources: ["vm.pageout.scan"],
    providers: EVERY_VM,
    read: first("vm.pageout.scan"),
  },
  {
    name: "swap.used.peak",
    label: "swap slots in use (peak)",
    unit: "slots",
    kind: "peak",
    group: "paging",
    description: "Largest number of swap slots in use at once.",
    sources: ["swap.used"],
    providers: "the kernel",
    read: first("swap.used"),
  },
];

const BY_NAME = new Map(METRICS.map((m) => [m.name, m]));

export function metricDef(name: string): MetricDef | undefined {
  return BY_NAME.get(name);
}

/**
 * Peaks: keeps, per peak metric, the largest value seen in the snapshots offered to `sample`.
 */
export class PeakTracker {
  readonly peaks: Record<string, number> = {};

  sample(s: Stats): void {
    for (const m of METRICS) {
      if (m.kind !== "peak" || m.read === undefined) continue;
      const v = m.read(s);
      if (v === undefined) continue;
      const old = this.peaks[m.name];
      if (old === undefined || v > old) this.peaks[m.name] = v;
    }
  }
}

/**
 * A cell's metrics: totals from the counters' change between `before` and `after`, the peaks,
 * what the workload and the host measured, then the derived ones. Absent counters give absent
 * metrics.
 */
export function computeMetrics(
  before: Stats,
  after: Stats,
  peaks: Readonly<Record<string, number>>,
  measured: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of METRICS) {
    if (m.kind === "total" && m.read) {
      const a = m.read(after);
      const b = m.read(before);
      if (a !== undefined && b !== undefined) out[m.name] = a - b;
    } else if (m.kind === "peak") {
      const v = peaks[m.name];
      if (v !== undefined) out[m.name] = v;
    }
  }
  for (const [k, v] of Object.entries(measured)) out[k] = v;
  for (const m of METRICS) {
    if (m.kind !== "derived" || !m.derive) continue;
    const v = m.derive(out);
    if (v !== undefined && Number.isFinite(v)) out[m.name] = v;
  }
  // The table's order, then anything a workload added that the table does not name.
  const ordered: Record<string, number> = {};
  for (const m of METRICS) if (out[m.name] !== undefined) ordered[m.name] = out[m.name] as number;
  for (const [k, v] of Object.entries(out)) if (ordered[k] === undefined) ordered[k] = v;
  return ordered;
}
