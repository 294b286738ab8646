/**
 * Read-only inspectors of the parts behind a System. The KPI (core's kpi.ts) gives a pmap's CR3 and
 * a VM layer's map entries (VmLayer.entries, the generic address-space view); what a view needs
 * beyond it — pv lists, objects, shadow chains, amaps and anons, reservations and page ownership —
 * is read from the part's own structures by a small adapter per part (the pmaps here, the VM
 * layers in vm-mach.ts, vm-uvm.ts and vm-freebsd.ts), checked by shape at run time. A part
 * without an adapter (or whose shape changed) is shown as "not inspectable", never guessed at.
 */
import type { System, VmPage } from "vmlab";
import { freebsdInspector } from "./vm-freebsd.js";
import { machInspector } from "./vm-mach.js";
import { uvmInspector } from "./vm-uvm.js";
import { type AddressSpaceView, kernelOf, type Owner, type PhysTable, type VmInspector } from "./vm-view.js";

export type {
  AddressSpaceView,
  AnonView,
  BackingEdge,
  BackingKind,
  BackingNode,
  EntryView,
  Owner,
  PageSlot,
  PhysTable,
  ReservationView,
} from "./vm-view.js";
export { kernelOf };

// ------------------------------------------------------------------ processes and pmaps

export interface ProcInfo {
  readonly pid: number;
  readonly state: string;
  readonly pmapId: number;
  /** CR3 of the process's pmap, when the pmap exposes it. */
  readonly cr3: number | undefined;
}

export interface PmapInfo {
  readonly id: number;
  readonly kernel: boolean;
  readonly cr3: number;
  /** The process owning the pmap (undefined for the kernel pmap or a pmap with no process). */
  readonly pid: number | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The pmap's CR3 (`Pmap.cr3` in the KPI; checked by shape, as the module's `pmaps` list is untyped). */
export function pmapCr3(pmap: unknown): number | undefined {
  return pmap !== null && typeof pmap === "object" ? num((pmap as { cr3?: unknown }).cr3) : undefined;
}

/** A pmap whose tables are gone: flagged released, or no longer on the module's list of pmaps. */
function released(sys: System, pmap: unknown): boolean {
  if ((pmap as { released?: unknown }).released === true) return true;
  const list = (sys.pmap as unknown as { pmaps?: unknown }).pmaps;
  return list instanceof Set && pmap !== sys.pmap.kernelPmap && !list.has(pmap);
}

export function processes(sys: System): ProcInfo[] {
  const k = kernelOf(sys);
  if (!k) return [];
  return [...k.procs.values()]
    .filter((p) => p.state !== "reaped")
    .map((p) => ({
      pid: p.pid,
      state: p.state,
      pmapId: p.space.pmap.id,
      // A released pmap's tables are freed memory: no CR3 to walk.
      cr3: released(sys, p.space.pmap) ? undefined : pmapCr3(p.space.pmap),
    }));
}

/** Every live pmap with a CR3: the kernel pmap, the module's pmap list, and every process's. */
export function pmaps(sys: System): PmapInfo[] {
  const byId = new Map<number, PmapInfo>();
  const pidOf = new Map<number, number>();
  for (const p of processes(sys)) pidOf.set(p.pmapId, p.pid);
  const add = (pm: unknown, kernel: boolean) => {
    const cr3 = pmapCr3(pm);
    const id = num((pm as { id?: unknown }).id);
    if (cr3 === undefined || id === undefined || byId.has(id)) return;
    if (released(sys, pm)) return;
    byId.set(id, { id, kernel, cr3, pid: pidOf.get(id) });
  };
  add(sys.pmap.kernelPmap, true);
  const list = (sys.pmap as unknown as { pmaps?: unknown }).pmaps;
  if (list instanceof Set) for (const pm of list) add(pm, pm === sys.pmap.kernelPmap);
  const k = kernelOf(sys);
  if (k) for (const p of k.procs.values()) if (p.state !== "reaped") add(p.space.pmap, false);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The pid of the thread on each CPU (undefined: idle). */
export function runningPids(sys: System): (number | undefined)[] {
  const k = kernelOf(sys);
  return sys.machine.cpus.map((_, i) => k?.running[i]?.proc.pid);
}

/** Names of the software (AVL) PTE bits per pmap: all three keep PG_W and their managed bit there. */
export function softwareBits(pmapName: string): Readonly<Record<number, string>> {
  switch (pmapName) {
    case "mach":
    case "cranor":
      return { 512: "W", 1024: "PVLIST" };
    case "freebsd":
      return { 512: "W", 1024: "MANAGED" };
    default:
      return {};
  }
}

// ------------------------------------------------------------------ pv lists

export interface PvView {
  readonly pmapId: number;
  readonly va: number;
  /** pv_ptp (Cranor): the page-table page holding the PTE. */
  readonly ptp: number | undefined;
  /** FreeBSD: an entry of the 2/4 MiB frame's list (pa_to_pvh), mapping a whole superpage at va. */
  readonly superpage: boolean;
}

interface PvEntryShape {
  next: PvEntryShape | null;
  pmap?: { id: number } | null;
  va: number;
  ptp?: { pa: number } | null;
  chunk?: { pmap: { id: number } | null };
}

function chain(head: PvEntryShape | null | undefined, superpage = false): PvView[] {
  const out: PvView[] = [];
  for (let e = head ?? null; e !== null && out.length < 4096; e = e.next) {
    const pmap = e.pmap ?? e.chunk?.pmap ?? null; // FreeBSD: pv_to_chunk(pv)->pc_pmap
    if (pmap === null) continue; // Mach's embedded head with no mapping
    out.push({ pmapId: pmap.id, va: e.va, ptp: e.ptp ? e.ptp.pa : undefined, superpage });
  }
  return out;
}

/**
 * The pv list of the managed page at `pa` as the pmap keeps it: Mach's pv_table slot (embedded
 * head + chained entries), Cranor's pv_head in the page's md, FreeBSD's md.pv_list plus the
 * superpage list of its 2/4 MiB frame. Undefined: not inspectable.
 */
export function pvList(sys: System, pa: number): PvView[] | undefined {
  const pg = sys.vm.pageOf(pa);
  if (!pg) return [];
  const m = sys.pmap as unknown as { pv?: { heads?: unknown }; pvTable?: unknown; nbpdr?: unknown };
  const md = pg.md as { list?: PvEntryShape | null; pvHead?: PvEntryShape | null } | null | undefined;
  switch (sys.config.pmap) {
    case "mach":
      return Array.isArray(m.pv?.heads) ? chain((m.pv.heads as (PvEntryShape | undefined)[])[pg.index]) : undefined;
    case "cranor":
      if (md === undefined || md === null) return [];
      return "list" in md ? chain(md.list) : undefined;
    case "freebsd": {
      if (!(m.pvTable instanceof Map) || typeof m.nbpdr !== "number") return undefined;
      const pvh = m.pvTable.get(Math.floor(pa / m.nbpdr)) as { pvHead?: PvEntryShape | null } | undefined;
      const small = md && "pvHead" in md ? chain(md.pvHead) : [];
      return [...small, ...chain(pvh?.pvHead, true)];
    }
    default:
      return undefined;
  }
}

/** Frames holding pv entries (Mach and Cranor pv pages, FreeBSD pv chunks). Undefined: not inspectable. */
export function pvFrames(sys: System): Set<number> | undefined {
  const pv = (sys.pmap as unknown as { pv?: { pages?: unknown; byVa?: unknown } }).pv;
  const holders = pv?.pages instanceof Set ? pv.pages : pv?.byVa instanceof Map ? pv.byVa.values() : undefined;
  if (!holders) return undefined;
  const out = new Set<number>();
  for (const p of holders as Iterable<{ pg?: VmPage }>) if (p.pg) out.add(p.pg.pa);
  return out;
}

// ------------------------------------------------------------------ the VM layer

/** The adapter for this system's VM layer, or undefined: no adapter, or its shape did not match. */
export function vmInspector(sys: System): VmInspector | undefined {
  return machInspector(sys) ?? uvmInspector(sys) ?? freebsdInspector(sys);
}

/** Whether the explorer has an inspector for this system's VM layer (maps, objects, page owners). */
export function hasVmInspector(sys: System): boolean {
  return vmInspector(sys) !== undefined;
}

/**
 * The generic address-space view of any VM layer, from the KPI's read-only VmLayer.entries: the
 * entries as the process sees them, with their backing kind but no objects, amaps or shadow
 * chains (those need a per-VM adapter). `wired` is 1 for a wired entry: the KPI gives no count.
 */
export function genericAddressSpace(sys: System, pid: number): AddressSpaceView | string {
  const p = kernelOf(sys)?.procs.get(pid);
  if (p?.state !== "running") return `pid ${pid}: no map`;
  const entries = sys.vm.entries(p.space).map((e) => ({
    start: e.start,
    end: e.end,
    prot: e.prot,
    maxProt: e.maxProt,
    inheritance: e.inheritance,
    wired: e.wired ? 1 : 0,
    userWired: false,
    needsCopy: false,
    copyOnWrite: !e.shared && e.backing !== "kernel",
    system: e.backing === "kernel",
    backing: undefined,
    offset: 0,
    backingKind: e.backing,
    shared: e.shared,
  }));
  return {
    entries,
    nodes: [],
    edges: [],
    note: `generic view (VmLayer.entries): no inspector for the '${sys.vm.name}' VM layer's objects and amaps`,
  };
}

/**
 * The address space of process `pid`: map entries and what backs them (Mach objects, shadow chains
 * and sharing maps; UVM amaps, anons and uvm_objects; FreeBSD objects, backing chains and
 * reservations). A process that has exited has no address space left to show.
 */
export function addressSpace(sys: System, pid: number): AddressSpaceView | string {
  const p = kernelOf(sys)?.procs.get(pid);
  if (p === undefined) return `pid ${pid}: no such process`;
  if (p.state !== "running") return `pid ${pid} has exited: its address space is gone`;
  const vi = vmInspector(sys);
  return vi ? vi.addressSpace(pid) : genericAddressSpace(sys, pid);
}

/** Who owns a managed frame, as the VM layer knows it (undefined: no adapter, or cannot tell). */
export function vmOwnerOf(sys: System): ((pg: VmPage) => Owner | undefined) | undefined {
  return vmInspector(sys)?.owner;
}

/** What holds the frame at `pa`, in the VM layer's words (undefined: not managed, or no adapter). */
export function pageOwner(sys: System, pa: number): string | undefined {
  const pg = sys.vm.pageOf(pa);
  const vi = vmInspector(sys);
  return pg && vi ? vi.describe(pg) : undefined;
}

/** The VM layer's own tables for the physical-memory view (free lists, reservations, queues). */
export function physTables(sys: System): PhysTable[] {
  return vmInspector(sys)?.physTables() ?? [];
}
