/**
 * The UVM adapter (packages/vm-uvm: uvm_map.ts, uvm_amap.ts, uvm_anon.ts, uvm_object.ts,
 * uvm_aobj.ts, uvm_vnode.ts, uvm_page.ts, uvm_glue.ts): per map entry its aref — the amap with
 * its used slots, reference count, AMAP_SHARED and ppref, each anon with an_ref and its page
 * frame or swap slot — and its uvm_object (vnode or aobj) with the pages it holds; the wirings
 * UVM keeps (the entry's wired_count, the vmspace's uvm_vslock ledger, each page's wire_count
 * and loan_count, an aobj's SHM_LOCK count); and who owns a physical page. Checked by shape.
 */
import type { System, VmPage } from "vmlab";
import {
  type AddressSpaceView,
  type BackingNode,
  type EntryView,
  hexs,
  liveSpaces,
  type Owner,
  PAGE,
  type PageSlot,
  type PhysTable,
  type VmInspector,
} from "./vm-view.js";

// The UVM structures, as far as the explorer reads them.
interface UvmPage {
  readonly pa: number;
  wireCount: number;
  loanCount: number;
  flags: number;
  pqflags: number;
  uobject: UvmObject | null;
  offset: number;
  uanon: VmAnon | null;
}
interface VmAnon {
  id: number;
  ref: number;
  page: UvmPage | null;
  swslot: number;
}
interface VmAmap {
  id: number;
  ref: number;
  flags: number;
  maxslot: number;
  nslot: number;
  nused: number;
  slots: Int32Array;
  anon: (VmAnon | null)[];
  ppref: Int32Array | null;
}
interface UvmObject {
  id: number;
  refs: number;
  label: string;
  pages: Map<number, UvmPage>;
  wiredAll: number;
  size: number;
  /** UvmAobj: swap slot by page index. */
  swslots?: Map<number, number>;
  /** UvmVnodeObject: the file. */
  vp?: { id: number; size: number };
}
interface VmMapEntry {
  start: number;
  end: number;
  object: UvmObject | null;
  offset: number;
  etype: number;
  protection: number;
  maxProtection: number;
  inheritance: number;
  wiredCount: number;
  amap: VmAmap | null;
  pageoff: number;
  flags: number;
}
interface VmMap {
  entries(): VmMapEntry[];
  transient: ReadonlyMap<number, number>;
}
interface PageArray {
  pages: UvmPage[];
  free: { count: number };
  active: { count: number };
  inactive: { count: number };
  wired: number;
  hostPages: number;
}

// uvm_map.h etype bits and vm_map_entry flags (uvm_map.ts).
const UVM_ET_COPYONWRITE = 0x04;
const UVM_ET_NEEDSCOPY = 0x08;
const UVM_MAP_SYSTEM = 0x80;
// uvm_amap.h
const AMAP_SHARED = 0x1;
// uvm_page.h pg->flags and pqflags (uvm_page.ts).
const PG_BUSY = 0x0001;
const PG_RELEASED = 0x0020;
const PG_HOST = 0x1000;
const PQ_FREE = 0x0001;
/** an_swslot without swap (uvm_anon.ts NOSWAP). */
const NOSWAP = -1;

/** The adapter, if `sys` runs UVM with the structures this file reads. */
export function uvmInspector(sys: System): VmInspector | undefined {
  const vm = sys.vm as unknown as { spaces?: unknown; pages?: { pages?: unknown } };
  if (sys.vm.name !== "uvm" || !(vm.spaces instanceof Set) || !Array.isArray(vm.pages?.pages)) return undefined;
  const pages = vm.pages as unknown as PageArray;
  return {
    addressSpace: (pid) => addressSpace(sys, pid),
    owner,
    describe: (pg) => describe(sys, pg),
    physTables: () => [queues(pages)],
  };
}

function mapOf(space: unknown): VmMap | undefined {
  const map = (space as { map?: VmMap } | undefined)?.map;
  return map && typeof map.entries === "function" && map.transient instanceof Map ? map : undefined;
}

function isEntry(e: VmMapEntry): boolean {
  return typeof e.etype === "number" && "amap" in e && typeof e.pageoff === "number" && "object" in e;
}

/** Every live space's entries that hold an amap, by amap, and every amap holding an anon. */
interface AmapIndex {
  readonly holders: Map<VmAmap, { pid: number; e: VmMapEntry }[]>;
  readonly amapsOfAnon: Map<VmAnon, number[]>;
  readonly objectMappers: Map<UvmObject, number[]>;
}

function indexSpaces(sys: System): AmapIndex {
  const holders = new Map<VmAmap, { pid: number; e: VmMapEntry }[]>();
  const objectMappers = new Map<UvmObject, number[]>();
  for (const [pid, sp] of liveSpaces(sys)) {
    for (const e of mapOf(sp)?.entries() ?? []) {
      if (e.amap) holders.set(e.amap, [...(holders.get(e.amap) ?? []), { pid, e }]);
      if (e.object) {
        const m = objectMappers.get(e.object) ?? [];
        if (!m.includes(pid)) m.push(pid);
        objectMappers.set(e.object, m);
      }
    }
  }
  const amapsOfAnon = new Map<VmAnon, number[]>();
  for (const amap of holders.keys()) {
    for (let i = 0; i < amap.nused; i++) {
      const anon = amap.anon[amap.slots[i] as number];
      if (anon) amapsOfAnon.set(anon, [...(amapsOfAnon.get(anon) ?? []), amap.id]);
    }
  }
  return { holders, amapsOfAnon, objectMappers };
}

/** The used slots of an amap (am_slots[0 .. am_nused)), in slot order. */
function amapSlots(amap: VmAmap, ix: AmapIndex): PageSlot[] {
  const out: PageSlot[] = [];
  for (let i = 0; i < amap.nused; i++) {
    const slot = amap.slots[i] as number;
    const anon = amap.anon[slot];
    if (!anon) continue;
    const pg = anon.page;
    out.push({
      index: slot,
      anon: { id: anon.id, ref: anon.ref, amaps: ix.amapsOfAnon.get(anon) ?? [amap.id] },
      ...(amap.ppref ? { ppref: amap.ppref[slot] as number } : {}),
      pa: pg?.pa,
      swap: anon.swslot === NOSWAP ? undefined : anon.swslot,
      wireCount: pg?.wireCount ?? 0,
      loanCount: pg?.loanCount ?? 0,
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** An object's resident pages and (aobj) swap slots, by page index. */
function objectPages(o: UvmObject): PageSlot[] {
  const out = new Map<number, PageSlot>();
  for (const [off, pg] of o.pages) {
    out.set(off / PAGE, {
      index: off / PAGE,
      pa: pg.pa,
      swap: undefined,
      wireCount: pg.wireCount,
      loanCount: pg.loanCount,
    });
  }
  if (o.swslots instanceof Map) {
    for (const [i, slot] of o.swslots) {
      const r = out.get(i);
      out.set(i, r ? { ...r, swap: slot } : { index: i, pa: undefined, swap: slot, wireCount: 0, loanCount: 0 });
    }
  }
  return [...out.values()].sort((a, b) => a.index - b.index);
}

function objectLabel(o: UvmObject): string {
  return o.vp ? `uvn ${o.id} (vnode, inode ${o.vp.id})` : `aobj ${o.id} (${o.label})`;
}

function amapNode(amap: VmAmap, ix: AmapIndex): BackingNode {
  const shared = (amap.flags & AMAP_SHARED) !== 0;
  return {
    id: `amap:${amap.id}`,
    kind: "amap",
    label: `amap ${amap.id}`,
    detail: `ref ${amap.ref}, ${amap.nused}/${amap.nslot} slots used${shared ? ", shared" : ""}`,
    fields: [
      ["am_ref", amap.ref],
      ["am_flags", shared ? "AMAP_SHARED" : "—"],
      ["am_nused", amap.nused],
      ["am_nslot", amap.nslot],
      ["am_maxslot", amap.maxslot],
      ["am_ppref", amap.ppref ? "per-slot references" : "none (whole references only)"],
    ],
    mappedBy: [...new Set((ix.holders.get(amap) ?? []).map((h) => h.pid))],
    pages: amapSlots(amap, ix),
  };
}

function objectNode(o: UvmObject, ix: AmapIndex): BackingNode {
  const swapped = o.swslots?.size ?? 0;
  return {
    id: `uobj:${o.id}`,
    kind: "object",
    label: objectLabel(o),
    detail: `refs ${o.refs}, ${o.pages.size} resident${swapped ? `, ${swapped} on swap` : ""}${o.wiredAll ? `, SHM_LOCK ×${o.wiredAll}` : ""}`,
    fields: [
      ["pager", o.vp ? "uvn (vnode)" : "aobj (anonymous, swap)"],
      ["uo_refs", o.refs],
      ["size", `${Math.ceil(o.size / PAGE)} pages`],
      ["resident pages", o.pages.size],
      ...(o.swslots ? [["swap slots", swapped] as const] : []),
      ["wirings of every page (SHM_LOCK)", o.wiredAll],
      ...(o.vp ? [["file size", `${o.vp.size} bytes`] as const] : []),
    ],
    mappedBy: ix.objectMappers.get(o) ?? [],
    pages: objectPages(o),
  };
}

function addressSpace(sys: System, pid: number): AddressSpaceView | string {
  const map = mapOf(liveSpaces(sys).get(pid));
  if (!map) return `pid ${pid}: no map`;
  const list = map.entries();
  if (!list.every(isEntry)) return `pid ${pid}: the UVM map entries do not have the shape this inspector reads`;
  const ix = indexSpaces(sys);
  const nodes = new Map<string, BackingNode>();
  const add = (n: BackingNode): string => {
    if (!nodes.has(n.id)) nodes.set(n.id, n);
    return n.id;
  };
  const entries: EntryView[] = list.map((e) => {
    const amap = e.amap ? add(amapNode(e.amap, ix)) : undefined;
    const object = e.object ? add(objectNode(e.object, ix)) : undefined;
    let transient = 0;
    for (const va of map.transient.keys()) if (va >= e.start && va < e.end) transient++;
    const system = (e.flags & UVM_MAP_SYSTEM) !== 0;
    return {
      start: e.start,
      end: e.end,
      prot: e.protection,
      maxProt: e.maxProtection,
      inheritance: e.inheritance,
      wired: e.wiredCount,
      // wired_count counts user wirings (mlock nests in it); the system entry's, page-table wirings.
      userWired: e.wiredCount > 0 && !system,
      transient,
      needsCopy: (e.etype & UVM_ET_NEEDSCOPY) !== 0,
      copyOnWrite: (e.etype & UVM_ET_COPYONWRITE) !== 0,
      system,
      backing: amap ?? object,
      ...(amap && object ? { object } : {}),
      offset: e.offset,
      ...(e.amap ? { amapSlot: e.pageoff } : {}),
      shared:
        !system && ((e.etype & UVM_ET_COPYONWRITE) === 0 || (e.amap !== null && (e.amap.flags & AMAP_SHARED) !== 0)),
    };
  });
  return { entries, nodes: [...nodes.values()], edges: [] };
}

function owner(pg: VmPage): Owner | undefined {
  const p = pg as unknown as UvmPage;
  if (typeof p.flags !== "number" || typeof p.pqflags !== "number") return undefined;
  if ((p.pqflags & PQ_FREE) !== 0) return "free";
  if ((p.flags & PG_HOST) !== 0) return "kernel";
  if (p.uanon) return "user";
  if (p.uobject) return p.uobject.label === "kernel_object" || p.uobject.label === "upt" ? "kernel" : "user";
  // Disowned while loaned to the kernel (uvm_loan's orphan), or while a pager transfer held it busy.
  if (p.loanCount > 0 || (p.flags & (PG_RELEASED | PG_BUSY)) !== 0) return "kernel";
  return undefined;
}

/** The amap slots holding `anon`, each with the pid and address of every entry covering it. */
function slotUsers(ix: AmapIndex, anon: VmAnon): string[] {
  const out: string[] = [];
  for (const [amap, hs] of ix.holders) {
    for (let i = 0; i < amap.nused; i++) {
      const slot = amap.slots[i] as number;
      if (amap.anon[slot] !== anon) continue;
      const where = hs
        .filter((h) => slot >= h.e.pageoff && slot < h.e.pageoff + (h.e.end - h.e.start) / PAGE)
        .map((h) => `pid ${h.pid} at ${hexs(h.e.start + (slot - h.e.pageoff) * PAGE)}`);
      out.push(`amap ${amap.id} slot ${slot}${where.length ? ` (${where.join(", ")})` : ""}`);
    }
  }
  return out;
}

function describe(sys: System, pg: VmPage): string {
  const p = pg as unknown as UvmPage;
  const wiring = `wire_count ${p.wireCount}, loan_count ${p.loanCount}`;
  if ((p.pqflags & PQ_FREE) !== 0) return "on the free list";
  if ((p.flags & PG_HOST) !== 0) return "given to the pmap or kernel (PG_HOST)";
  if (p.uanon) {
    const a = p.uanon;
    const users = slotUsers(indexSpaces(sys), a);
    return `anon ${a.id} (an_ref ${a.ref}${a.swslot === NOSWAP ? "" : `, swap slot ${a.swslot}`}) in ${users.length ? users.join("; ") : "no live amap"}; ${wiring}`;
  }
  if (p.uobject) return `${objectLabel(p.uobject)} at offset ${hexs(p.offset)}; ${wiring}`;
  if (p.loanCount > 0) return `loaned to the kernel, owner gone (orphan); ${wiring}`;
  if ((p.flags & PG_RELEASED) !== 0) return "released by its owner, freed when its pager transfer completes";
  return "no owner the VM records";
}

function queues(pages: PageArray): PhysTable {
  return {
    id: "physmem-uvm-queues",
    title: "UVM page queues (uvmexp)",
    head: ["free", "active", "inactive", "wired (object and anon pages)", "pmap / kernel (PG_HOST)"],
    rows: [[pages.free.count, pages.active.count, pages.inactive.count, pages.wired, pages.hostPages]],
  };
}
