/**
 * The FreeBSD VM adapter (packages/vm-freebsd: vm_map.ts, vm_object.ts, vm_page.ts, vm_reserv.ts,
 * vm_phys.ts, vm_param.ts): per map entry its vm_object and the backing_object chain behind it
 * (type, ref_count, shadow_count, resident pages, swap metadata, which page is where), each
 * object's superpage reservations (vm_reserv: base frame, popcnt out of VM_LEVEL_0_NPAGES, on the
 * partially-populated queue or not, and whether the page tables map it promoted), who owns a
 * physical frame (a free frame inside an active reservation is the reservation's), and the
 * vm_phys buddy free lists. Checked by shape.
 */
import type { System, VmPage } from "vmlab";
import { PageTableReader } from "./pagetable.js";
import {
  type AddressSpaceView,
  type BackingEdge,
  type BackingNode,
  type EntryView,
  hexs,
  liveSpaces,
  type Owner,
  type PageSlot,
  type PhysTable,
  type ReservationView,
  type VmInspector,
} from "./vm-view.js";

// The FreeBSD VM's structures, as far as the explorer reads them.
interface FbsdPage {
  readonly pa: number;
  readonly index: number;
  wireCount: number;
  flags: number;
  object: VmObject | null;
  pindex: number;
  valid: boolean;
  dirty: boolean;
}
interface VmReserv {
  object: VmObject | null;
  pindex: number;
  popcnt: number;
  inpartpopq: boolean;
  readonly first: number;
}
interface VmObject {
  id: number;
  type: string;
  size: number;
  label: string;
  pages: Map<number, FbsdPage>;
  rvq: Map<number, VmReserv>;
  swblk: Map<number, number>;
  shadows: Set<VmObject>;
  refCount: number;
  flags: number;
  pgColor: number;
  backing: VmObject | null;
  backingOffset: number;
  pip: number;
  handle: { id: number; size: number } | null;
}
interface VmMapEntry {
  start: number;
  end: number;
  object: VmObject | null;
  offset: number;
  cow: boolean;
  needsCopy: boolean;
  userWired: boolean;
  protection: number;
  maxProtection: number;
  inheritance: number;
  wiredCount: number;
  system: boolean;
  kmem: boolean;
}
interface VmPages {
  pages: FbsdPage[];
  param: { level0Size: number; level0Npages: number; nfreeorder: number };
  phys: { freeQueues: { lcnt: number }[][]; buddyFree: number };
  reserv: { array: Map<number, VmReserv>; partpopq: Set<VmReserv>; freeInside: number; enabled: boolean };
}

// vm_page.ts flags, vm_object.ts flags.
const PG_FREE = 0x0001;
const PG_HOST = 0x0002;
const OBJ_FLAGS: readonly [number, string][] = [
  [0x0001, "ONEMAPPING"],
  [0x0002, "DEAD"],
  [0x0004, "MIGHTBEDIRTY"],
  [0x0008, "UNMANAGED"],
];
const POOLS = ["DEFAULT", "DIRECT"];

/** A live pmap: the kernel's, or a running process's. */
interface LivePmap {
  readonly id: number;
  readonly cr3: number;
  readonly kernel: boolean;
  readonly pid: number | undefined;
}
type LargeMappings = Map<number, ReservationView["promoted"][number][]>;
const PAGE = 4096;

/** The adapter, if `sys` runs the FreeBSD VM with the structures this file reads. */
export function freebsdInspector(sys: System): VmInspector | undefined {
  const vm = sys.vm as unknown as { spaces?: unknown; pages?: Partial<VmPages> };
  const pages = vm.pages;
  if (
    sys.vm.name !== "freebsd" ||
    !(vm.spaces instanceof Set) ||
    !Array.isArray(pages?.pages) ||
    !(pages.reserv?.array instanceof Map) ||
    !Array.isArray(pages.phys?.freeQueues) ||
    typeof pages.param?.level0Npages !== "number"
  )
    return undefined;
  const p = pages as VmPages;
  return {
    addressSpace: (pid) => addressSpace(sys, p, pid),
    owner: (pg) => owner(p, pg),
    describe: (pg) => describe(p, pg),
    physTables: () => [freeLists(p), reservations(sys, p)],
  };
}

function mapOf(space: unknown): { entries(): VmMapEntry[] } | undefined {
  const map = (space as { map?: { entries?: unknown } } | undefined)?.map;
  return map && typeof map.entries === "function" ? (map as { entries(): VmMapEntry[] }) : undefined;
}

function isEntry(e: VmMapEntry): boolean {
  return typeof e.cow === "boolean" && typeof e.needsCopy === "boolean" && "object" in e;
}

/**
 * Superpage mappings: every page-table entry of the given pmaps' tables that maps one whole
 * reservation-sized frame (a promoted reservation is one PDE with PS set), by the frame it maps.
 * The kernel's windows (the amd64 direct map) and its static mappings below kernel_map are not
 * promotions and are left out.
 */
function largeMappings(sys: System, p: VmPages, pmaps: readonly LivePmap[]): LargeMappings {
  const reader = new PageTableReader(sys.machine, sys.layout);
  const out: LargeMappings = new Map();
  const { kernelMin, kernelMax, userMax } = sys.layout;
  for (const { id, cr3, kernel, pid } of pmaps) {
    reader.walk(cr3, {
      leaf: (va, frame, size) => {
        if (size !== p.param.level0Size || reader.windowAt(va) !== undefined) return;
        if (kernel ? va < kernelMin || va >= kernelMax : va >= userMax) return;
        out.set(frame, [...(out.get(frame) ?? []), { pmapId: id, pid, va }]);
      },
    });
  }
  return out;
}

/** The pmaps of every live process (and the kernel's with `kernel`). */
function livePmaps(sys: System, kernel: boolean): LivePmap[] {
  const k = sys.pmap.kernelPmap;
  const out: LivePmap[] = kernel ? [{ id: k.id, cr3: k.cr3, kernel: true, pid: undefined }] : [];
  for (const [pid, sp] of liveSpaces(sys)) {
    const pm = (sp as { pmap?: { id: number; cr3: number } }).pmap;
    if (pm && typeof pm.cr3 === "number") out.push({ id: pm.id, cr3: pm.cr3, kernel: false, pid });
  }
  return out;
}

function reservationView(p: VmPages, rv: VmReserv, large: () => LargeMappings): ReservationView {
  const base = (p.pages[rv.first] as FbsdPage).pa;
  return {
    base,
    pindex: rv.pindex,
    popcnt: rv.popcnt,
    npages: p.param.level0Npages,
    partpop: rv.inpartpopq,
    promoted: rv.popcnt === p.param.level0Npages ? (large().get(base) ?? []) : [],
  };
}

/** Resident pages and swap metadata (swblk), by pindex. */
function objectPages(o: VmObject): PageSlot[] {
  const out = new Map<number, PageSlot>();
  for (const [i, m] of o.pages) out.set(i, { index: i, pa: m.pa, swap: undefined, wireCount: m.wireCount });
  for (const [i, slot] of o.swblk) {
    const r = out.get(i);
    out.set(i, r ? { ...r, swap: slot } : { index: i, pa: undefined, swap: slot, wireCount: 0 });
  }
  return [...out.values()].sort((a, b) => a.index - b.index);
}

function flagNames(flags: number): string {
  const names = OBJ_FLAGS.filter(([bit]) => flags & bit).map(([, n]) => `OBJ_${n}`);
  return names.length ? names.join(" ") : "—";
}

function addressSpace(sys: System, p: VmPages, pid: number): AddressSpaceView | string {
  const spaces = liveSpaces(sys);
  const map = mapOf(spaces.get(pid));
  if (!map) return `pid ${pid}: no map`;
  const list = map.entries();
  if (!list.every(isEntry)) return `pid ${pid}: the FreeBSD map entries do not have the shape this inspector reads`;
  const mappers = new Map<VmObject, number[]>();
  for (const [q, sp] of spaces)
    for (const e of mapOf(sp)?.entries() ?? []) {
      if (!e.object) continue;
      const m = mappers.get(e.object) ?? [];
      if (!m.includes(q)) m.push(q);
      mappers.set(e.object, m);
    }
  let large: LargeMappings | undefined;
  const largeOnce = () => {
    large ??= largeMappings(sys, p, livePmaps(sys, false));
    return large;
  };
  const nodes = new Map<string, BackingNode>();
  const edges: BackingEdge[] = [];
  const objectNode = (o: VmObject): string => {
    const id = `obj:${o.id}`;
    if (nodes.has(id)) return id;
    const swap = o.swblk.size ? `, ${o.swblk.size} on swap` : "";
    nodes.set(id, {
      id,
      kind: "object",
      label: `object ${o.id} (${o.label})`,
      detail: `${o.type}, ref ${o.refCount}, shadows ${o.shadows.size}, ${o.pages.size} resident${swap}`,
      fields: [
        ["type", `OBJT_${o.type.toUpperCase()}`],
        ["ref_count", o.refCount],
        ["shadow_count", o.shadows.size],
        ["resident_page_count", o.pages.size],
        ["size", `${o.size} pages`],
        ["backing_object", o.backing ? `object ${o.backing.id}` : "—"],
        ["backing_object_offset", hexs(o.backingOffset)],
        ["flags", flagNames(o.flags)],
        ["pg_color", o.pgColor],
        ["paging_in_progress", o.pip],
        ["swap blocks", o.swblk.size],
        ...(o.handle ? [["handle", `vnode, inode ${o.handle.id}`] as const] : []),
      ],
      mappedBy: mappers.get(o) ?? [],
      pages: objectPages(o),
      reservations: [...o.rvq.values()]
        .map((rv) => reservationView(p, rv, largeOnce))
        .sort((a, b) => a.pindex - b.pindex),
    });
    if (o.backing) edges.push({ from: id, to: objectNode(o.backing), label: `backing +${hexs(o.backingOffset)}` });
    return id;
  };
  const entries: EntryView[] = list.map((e) => ({
    start: e.start,
    end: e.end,
    prot: e.protection,
    maxProt: e.maxProtection,
    inheritance: e.inheritance,
    wired: e.wiredCount,
    userWired: e.userWired,
    needsCopy: e.needsCopy,
    copyOnWrite: e.cow,
    system: e.system,
    backing: e.object ? objectNode(e.object) : undefined,
    offset: e.offset,
    shared: !e.cow && !e.system && !e.kmem,
  }));
  return { entries, nodes: [...nodes.values()], edges };
}

/** The active reservation a frame lies in, if any. */
function reservOf(p: VmPages, pa: number): VmReserv | undefined {
  const rv = p.reserv.array.get(Math.floor(pa / p.param.level0Size));
  return rv?.object ? rv : undefined;
}

function owner(p: VmPages, pg: VmPage): Owner | undefined {
  const m = pg as unknown as FbsdPage;
  if (typeof m.flags !== "number") return undefined;
  if ((m.flags & PG_FREE) !== 0) return reservOf(p, m.pa) ? "reservation" : "free";
  if ((m.flags & PG_HOST) !== 0) return "kernel";
  if (m.object) return m.object.type === "phys" || m.object.label === "upt" ? "kernel" : "user";
  return undefined;
}

function describe(p: VmPages, pg: VmPage): string {
  const m = pg as unknown as FbsdPage;
  const rv = reservOf(p, m.pa);
  const inRv = rv
    ? `reservation ${hexs((p.pages[rv.first] as FbsdPage).pa)} of object ${rv.object?.id} (popcnt ${rv.popcnt}/${p.param.level0Npages})`
    : "";
  if ((m.flags & PG_FREE) !== 0) return rv ? `free, reserved in ${inRv}` : "free in a vm_phys buddy block";
  if ((m.flags & PG_HOST) !== 0) return "given to the pmap or kernel without an object (VM_ALLOC_NOOBJ)";
  if (m.object) {
    const o = m.object;
    const state = `${m.valid ? "valid" : "invalid"}${m.dirty ? ", dirty" : ""}, wire_count ${m.wireCount}`;
    return `object ${o.id} (${o.label}, OBJT_${o.type.toUpperCase()}) pindex ${m.pindex}; ${state}${rv ? `; in ${inRv}` : ""}`;
  }
  return "no owner the VM records";
}

/** vm_phys_free_queues: blocks per pool and order (only non-empty lists). */
function freeLists(p: VmPages): PhysTable {
  const rows: (string | number)[][] = [];
  p.phys.freeQueues.forEach((lists, pool) => {
    lists.forEach((fl, order) => {
      if (fl.lcnt > 0) rows.push([POOLS[pool] ?? String(pool), order, `${(PAGE << order) / 1024} KiB`, fl.lcnt]);
    });
  });
  rows.push(["", "", "pages in buddy blocks", p.phys.buddyFree]);
  rows.push(["", "", "free pages inside reservations", p.reserv.freeInside]);
  return {
    id: "physmem-freelists",
    title: "vm_phys free lists",
    head: ["pool", "order", "block", "blocks (lcnt)"],
    rows,
  };
}

/** Active reservations (those with an object), in physical order. */
function reservations(sys: System, p: VmPages): PhysTable {
  let large: LargeMappings | undefined;
  const largeOnce = () => {
    large ??= largeMappings(sys, p, livePmaps(sys, true));
    return large;
  };
  const rows: (string | number)[][] = [];
  for (const rv of [...p.reserv.array.values()].sort((a, b) => a.first - b.first)) {
    const o = rv.object;
    if (!o) continue;
    const v = reservationView(p, rv, largeOnce);
    rows.push([
      hexs(v.base),
      `object ${o.id} (${o.label})`,
      v.pindex,
      `${v.popcnt}/${v.npages}`,
      v.partpop ? "yes" : "no",
      v.promoted.map((x) => `${x.pid === undefined ? "kernel" : `pid ${x.pid}`} at ${hexs(x.va)}`).join(", ") || "no",
    ]);
  }
  return {
    id: "physmem-reservations",
    title: `vm_reserv: active reservations${p.reserv.enabled ? "" : " (reservations are switched off)"}`,
    head: ["base frame", "object", "first pindex", "populated", "partpopq", "promoted"],
    rows,
  };
}
