/**
 * The Mach VM adapter (packages/vm-mach: vm_map.ts, vm_object.ts, vm_page.ts, swap_pager.ts):
 * map entries, sharing maps, objects with their shadow chains and pages, and who owns a frame.
 * Checked by shape: a VM whose structures do not look like these gets no adapter.
 */
import type { System, VmPage } from "vmlab";
import {
  type AddressSpaceView,
  type BackingEdge,
  type BackingNode,
  hexs,
  liveSpaces,
  type Owner,
  PAGE,
  type PageSlot,
  type VmInspector,
} from "./vm-view.js";

// The Mach VM's structures, as far as the explorer reads them.
interface MachPage {
  readonly pa: number;
  flags: number;
  wireCount: number;
  object: MachObject | null;
  offset: number;
}
interface MachObject {
  id: number;
  label: string;
  refCount: number;
  size: number;
  pages: Map<number, MachPage>;
  shadow: MachObject | null;
  shadowOffset: number;
  pagingOffset: number;
  pager: { type?: string; slots?: Map<number, number> } | null;
}
interface MachEntry {
  start: number;
  end: number;
  object: MachObject | null;
  shareMap: MachMap | null;
  offset: number;
  copyOnWrite: boolean;
  needsCopy: boolean;
  protection: number;
  maxProtection: number;
  inheritance: number;
  wiredCount: number;
  userWired: boolean;
  system: boolean;
}
interface MachMap {
  id: number;
  refCount: number;
  entries(): MachEntry[];
}

// vm_page.ts: PG_FREE 0x1000 (on the free queue), PG_HOST 0x2000 (given to the pmap or kernel).
const PG_FREE = 0x1000;
const PG_HOST = 0x2000;

/** The adapter, if `sys` runs the Mach VM with the structures this file reads. */
export function machInspector(sys: System): VmInspector | undefined {
  const vm = sys.vm as unknown as { spaces?: unknown; pages?: unknown };
  if (sys.vm.name !== "mach" || !(vm.spaces instanceof Set) || typeof vm.pages !== "object") return undefined;
  return {
    addressSpace: (pid) => addressSpace(sys, pid),
    owner,
    describe,
    physTables: () => [],
  };
}

function mapOf(space: unknown): MachMap | undefined {
  const map = (space as { map?: MachMap } | undefined)?.map;
  return map && typeof map.entries === "function" ? map : undefined;
}

/** Resident pages and pages the swap pager holds, by page index. */
function objectPages(o: MachObject): PageSlot[] {
  const out = new Map<number, PageSlot>();
  for (const [off, pg] of o.pages)
    out.set(off / PAGE, { index: off / PAGE, pa: pg.pa, swap: undefined, wireCount: pg.wireCount });
  const slots = o.pager?.type === "swap" ? o.pager.slots : undefined;
  if (slots instanceof Map) {
    for (const [key, slot] of slots) {
      const i = (key - o.pagingOffset) / PAGE;
      const r = out.get(i);
      out.set(i, r ? { ...r, swap: slot } : { index: i, pa: undefined, swap: slot, wireCount: 0 });
    }
  }
  return [...out.values()].sort((a, b) => a.index - b.index);
}

function addressSpace(sys: System, pid: number): AddressSpaceView | string {
  const spaces = liveSpaces(sys);
  const map = mapOf(spaces.get(pid));
  if (!map) return `pid ${pid}: no map`;
  // Which processes point at each object / sharing map directly.
  const mappers = new Map<unknown, number[]>();
  for (const [p, sp] of spaces)
    for (const e of mapOf(sp)?.entries() ?? []) {
      const t = e.shareMap ?? e.object;
      if (t) mappers.set(t, [...new Set([...(mappers.get(t) ?? []), p])]);
    }
  const nodes = new Map<string, BackingNode>();
  const edges: BackingEdge[] = [];
  const objectNode = (o: MachObject): string => {
    const id = `obj:${o.id}`;
    if (nodes.has(id)) return id;
    const pager = o.pager?.type ? `, ${o.pager.type} pager` : "";
    nodes.set(id, {
      id,
      kind: "object",
      label: `object ${o.id} (${o.label})`,
      detail: `ref ${o.refCount}, ${o.pages.size} resident, ${o.size / PAGE} pages${pager}`,
      fields: [
        ["ref_count", o.refCount],
        ["size", `${o.size / PAGE} pages`],
        ["resident_page_count", o.pages.size],
        ["shadow", o.shadow ? `object ${o.shadow.id}` : "—"],
        ["shadow_offset", hexs(o.shadowOffset)],
        ["pager", o.pager?.type ?? "—"],
      ],
      mappedBy: mappers.get(o) ?? [],
      pages: objectPages(o),
    });
    if (o.shadow) edges.push({ from: id, to: objectNode(o.shadow), label: `shadow +${hexs(o.shadowOffset)}` });
    return id;
  };
  const shareNode = (m: MachMap): string => {
    const id = `map:${m.id}`;
    if (nodes.has(id)) return id;
    nodes.set(id, {
      id,
      kind: "sharemap",
      label: `sharing map ${m.id}`,
      detail: `ref ${m.refCount}`,
      fields: [["ref_count", m.refCount]],
      mappedBy: mappers.get(m) ?? [],
    });
    for (const e of m.entries()) {
      if (e.object) edges.push({ from: id, to: objectNode(e.object), label: `${hexs(e.start)}-${hexs(e.end)}` });
    }
    return id;
  };
  const entries = map.entries().map((e) => ({
    start: e.start,
    end: e.end,
    prot: e.protection,
    maxProt: e.maxProtection,
    inheritance: e.inheritance,
    wired: e.wiredCount,
    userWired: e.userWired,
    needsCopy: e.needsCopy,
    copyOnWrite: e.copyOnWrite,
    system: e.system,
    backing: e.shareMap ? shareNode(e.shareMap) : e.object ? objectNode(e.object) : undefined,
    offset: e.offset,
  }));
  return { entries, nodes: [...nodes.values()], edges };
}

function owner(pg: VmPage): Owner | undefined {
  const p = pg as unknown as MachPage;
  if (typeof p.flags !== "number") return undefined;
  if ((p.flags & PG_FREE) !== 0) return "free";
  if ((p.flags & PG_HOST) !== 0) return "kernel";
  if (p.object) return p.object.label === "kernel_object" ? "kernel" : "user";
  return undefined;
}

function describe(pg: VmPage): string {
  const p = pg as unknown as MachPage;
  if ((p.flags & PG_FREE) !== 0) return "on the free queue";
  if ((p.flags & PG_HOST) !== 0) return "given to the pmap or kernel (PG_HOST)";
  if (p.object) return `object ${p.object.id} (${p.object.label}) at offset ${hexs(p.offset)}`;
  return "no owner the VM records";
}
