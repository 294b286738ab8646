/**
 * The invariants of the Mach VM, one check per rule, each naming the structure and address
 * involved. Run between operations (never inside one: a fault in progress legitimately holds
 * busy pages, extra references and paging_in_progress counts).
 */
import { hex, INHERIT_ZERO, InvariantViolation, PAGE_SIZE, Prot, roundPage, type VAddr } from "@vmlab/core";
import { SwapPager } from "./swap_pager.js";
import type { MachVm } from "./vm.js";
import { wiredPageOf } from "./vm_fault.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import { OBJ_CANPERSIST, OBJ_INTERNAL, type VmObject } from "./vm_object.js";
import {
  IO_NONE,
  IO_WRITE,
  type MachPage,
  type PageQueue,
  PG_ACTIVE,
  PG_BUSY,
  PG_FAKE,
  PG_FREE,
  PG_HOST,
  PG_INACTIVE,
  Q_ACTIVE,
  Q_FREE,
  Q_INACTIVE,
  Q_NONE,
} from "./vm_page.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("vm", rule, details);
}

function where(map: VmMap, e: VmMapEntry): string {
  return `map ${map.name}#${map.id} entry [${hex(e.start)}, ${hex(e.end)})`;
}

/** Everything the audit accumulates while walking maps and objects. */
interface Tally {
  readonly objectRefs: Map<VmObject, number>;
  readonly shareMapRefs: Map<VmMap, number>;
  /** Expected wire_count of each page: one per wired main-map entry mapping it. */
  readonly wires: Map<MachPage, number>;
  /** Pages wired where they lie, below the first object (a transient wiring of a read-only entry). */
  readonly inPlace: Set<MachPage>;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function auditVm(vm: MachVm): void {
  const t: Tally = { objectRefs: new Map(), shareMapRefs: new Map(), wires: new Map(), inPlace: new Set() };
  const mainMaps: VmMap[] = [vm.kernelMap.map, ...[...vm.spaces].map((s) => s.map)];
  for (const s of vm.spaces) {
    if (!s.alive) fail("vmspace alive", `vmspace ${s.id} is listed but destroyed`);
    if (s.map.pmap !== s.pmap) fail("vmspace pmap", `vmspace ${s.id}: map pmap differs from the space's pmap`);
  }
  for (const map of mainMaps) auditMap(vm, map, t);
  for (const sm of t.shareMapRefs.keys()) auditMap(vm, sm, t);
  // kernel_object keeps a permanent reference of its own.
  bump(t.objectRefs, vm.kernelMap.object);
  for (const obj of vm.objects.live) if (obj.shadow) bump(t.objectRefs, obj.shadow);
  // A SysV segment holds a reference until shmRelease, and SHM_LOCK wires each page once.
  for (const shm of vm.shms) {
    bump(t.objectRefs, shm.object);
    if (!shm.locked) continue;
    for (let off = 0; off < shm.size; off += PAGE_SIZE) {
      const pg = shm.object.pages.get(off);
      if (!pg) fail("shm locked resident", `segment object ${shm.object.id}: locked page at ${hex(off)} not resident`);
      bump(t.wires, pg);
    }
  }

  auditShareMapRefs(t);
  auditObjects(vm, t);
  auditVnodeObjects(vm);
  auditSwap(vm);
  auditPages(vm, t);
  for (const s of vm.spaces) auditTranslations(vm, s.map);
}

// ------------------------------------------------------------------ maps

function auditMap(vm: MachVm, map: VmMap, t: Tally): void {
  const h = map.header;
  const seen = new Set<VmMapEntry>();
  let prev = h;
  let n = 0;
  let size = 0;
  for (let e = h.next; e !== h; e = e.next) {
    if (seen.has(e)) fail("map list", `map ${map.name}#${map.id}: entry list has a cycle at ${hex(e.start)}`);
    seen.add(e);
    if (e.prev !== prev) fail("map links", `${where(map, e)}: prev link does not point at the previous entry`);
    if (e.start >= e.end) fail("entry range", `${where(map, e)}: empty or inverted`);
    if (e.start % PAGE_SIZE !== 0 || e.end % PAGE_SIZE !== 0)
      fail("entry alignment", `${where(map, e)}: not page aligned`);
    if (e.start < map.min || e.end > map.max) {
      fail("entry inside map", `${where(map, e)}: outside [${hex(map.min)}, ${hex(map.max)})`);
    }
    if (prev !== h && prev.end > e.start) {
      fail(
        "entries ordered and disjoint",
        `${where(map, e)} overlaps or precedes [${hex(prev.start)}, ${hex(prev.end)})`,
      );
    }
    auditEntry(vm, map, e, t);
    prev = e;
    n++;
    size += e.size;
  }
  if (h.prev !== prev) fail("map links", `map ${map.name}#${map.id}: header.prev is not the last entry`);
  if (n !== map.nentries) fail("map nentries", `map ${map.name}#${map.id}: ${map.nentries} recorded, ${n} linked`);
  if (size !== map.size)
    fail("map size", `map ${map.name}#${map.id}: size ${hex(map.size)} recorded, ${hex(size)} linked`);
  if (map.hint !== h && !seen.has(map.hint)) {
    fail(
      "map hint",
      `map ${map.name}#${map.id}: hint [${hex(map.hint.start)}, ${hex(map.hint.end)}) is not in the map`,
    );
  }
  if ((map.pmap === null) === map.isMainMap) {
    fail("map pmap", `map ${map.name}#${map.id}: a main map needs a pmap and a sharing map has none`);
  }
}

function auditEntry(vm: MachVm, map: VmMap, e: VmMapEntry, t: Tally): void {
  if ((e.protection & e.maxProtection) !== e.protection) {
    fail("protection within max", `${where(map, e)}: protection ${e.protection} exceeds max ${e.maxProtection}`);
  }
  if (!Number.isInteger(e.inheritance) || e.inheritance < 0 || e.inheritance > INHERIT_ZERO) {
    fail("inheritance", `${where(map, e)}: inheritance ${e.inheritance}`);
  }
  if (e.offset % PAGE_SIZE !== 0) fail("entry offset alignment", `${where(map, e)}: offset ${hex(e.offset)}`);
  if (e.wiredCount < (e.userWired ? 1 : 0)) {
    fail("wired count", `${where(map, e)}: wired_count ${e.wiredCount} with user wiring ${e.userWired}`);
  }
  const sm = e.shareMap;
  if (sm) {
    if (!map.isMainMap) fail("sharing map nesting", `${where(map, e)}: a sharing map entry points at another map`);
    if (e.object !== null) fail("is_a_map", `${where(map, e)}: has both a sharing map and an object`);
    if (sm.isMainMap) fail("is_a_map", `${where(map, e)}: points at a main map`);
    if (e.offset < sm.min || e.offset + e.size > sm.max) {
      fail("sharing map window", `${where(map, e)}: offset ${hex(e.offset)} outside the sharing map`);
    }
    bump(t.shareMapRefs, sm);
  } else if (e.object) {
    const obj = e.object;
    if (!obj.alive) fail("entry object alive", `${where(map, e)}: object ${obj.id} was terminated`);
    if (!obj.vnode && e.offset + e.size > obj.size) {
      fail(
        "entry object window",
        `${where(map, e)}: offset ${hex(e.offset)} + size exceeds object ${obj.id} size ${hex(obj.size)}`,
      );
    }
    bump(t.objectRefs, obj);
  }
  if (!map.isMainMap && (e.wiredCount !== 0 || e.userWired)) {
    fail("sharing map wiring", `${where(map, e)}: sharing-map entries are never wired`);
  }
  if (e.wiredCount > 0) auditWiredEntry(vm, map, e, t);
}

/**
 * A wired entry: every page resident in its first object, counted toward that page's wiring —
 * or, for an entry wired only transiently and read-only (vm_fault copiesOnWire), resident in its
 * chain, wired where it lies.
 */
function auditWiredEntry(vm: MachVm, map: VmMap, e: VmMapEntry, t: Tally): void {
  const inPlace = (e.protection & Prot.Write) === 0 && e.transientCount === e.wiredCount;
  for (let va = e.start; va < e.end; va += PAGE_SIZE) {
    const loc = map.objectAt(e, va);
    if (!loc) fail("wired entry resident", `${where(map, e)}: no sharing-map entry at ${hex(va)}`);
    if (loc.objEntry.needsCopy)
      fail("wired entry needs_copy", `${where(map, e)}: wired but still needs_copy at ${hex(va)}`);
    const first = loc.objEntry.object;
    const pg = inPlace ? wiredPageOf(first, loc.offset) : first?.pages.get(loc.offset);
    if (!pg)
      fail("wired entry resident", `${where(map, e)}: wired page at ${hex(va)} is not resident in the first object`);
    if (pg.object !== first) t.inPlace.add(pg);
    bump(t.wires, pg);
  }
  void vm;
}

function auditShareMapRefs(t: Tally): void {
  for (const [sm, refs] of t.shareMapRefs) {
    if (sm.refCount !== refs) {
      fail("sharing map ref_count", `sharing map #${sm.id}: ref_count ${sm.refCount}, ${refs} entries point at it`);
    }
  }
}

// ------------------------------------------------------------------ objects

function auditObjects(vm: MachVm, t: Tally): void {
  const live = vm.objects.live;
  // The windows [shadowOffset, shadowOffset + size) through which each object is seen by its shadows.
  const windows = new Map<VmObject, [number, number][]>();
  for (const obj of live) {
    if (!obj.shadow) continue;
    const w = windows.get(obj.shadow) ?? [];
    w.push([obj.shadowOffset, obj.shadowOffset + obj.size]);
    windows.set(obj.shadow, w);
  }
  for (const [obj] of t.objectRefs) {
    if (!live.has(obj)) fail("object alive", `object ${obj.id} (${obj.label}) is referenced but not live`);
  }
  for (const obj of live) {
    const what = `object ${obj.id} (${obj.label})`;
    if (!obj.alive) fail("object alive", `${what} is listed but terminated`);
    const refs = t.objectRefs.get(obj) ?? 0;
    if (obj.refCount !== refs) fail("object ref_count", `${what}: ref_count ${obj.refCount}, ${refs} references found`);
    let inFlight = 0;
    for (const pg of obj.pages.values()) if (pg.io !== IO_NONE) inFlight++;
    if (obj.pagingInProgress !== inFlight) {
      fail(
        "object paging_in_progress",
        `${what}: ${obj.pagingInProgress} between operations, ${inFlight} pager transfers in flight`,
      );
    }
    if (obj.copy !== null) fail("object copy", `${what}: has a copy object (not modelled)`);
    if (obj.vnode ? obj.size % PAGE_SIZE !== 0 : obj.size <= 0 || obj.size % PAGE_SIZE !== 0) {
      fail("object size", `${what}: size ${hex(obj.size)}`);
    }
    // Shadow chains are acyclic and end in live objects.
    const chain = new Set<VmObject>();
    for (let o: VmObject | null = obj; o; o = o.shadow) {
      if (chain.has(o)) fail("shadow chain acyclic", `${what}: chain loops at object ${o.id}`);
      if (!live.has(o)) fail("shadow chain live", `${what}: chain reaches dead object ${o.id}`);
      chain.add(o);
    }
    for (const [off, pg] of obj.pages) {
      if (pg.object !== obj || pg.offset !== off) {
        fail(
          "page back-pointer",
          `${what}: page ${hex(pg.pa)} at ${hex(off)} says object ${pg.object?.id} offset ${hex(pg.offset)}`,
        );
      }
      if (off % PAGE_SIZE !== 0 || off < 0 || (!obj.vnode && off >= obj.size)) {
        fail("page offset", `${what}: page ${hex(pg.pa)} at offset ${hex(off)} outside size ${hex(obj.size)}`);
      }
      if (pg.flags & PG_FAKE) fail("page fake", `${what}: page ${hex(pg.pa)} at ${hex(off)} fake between operations`);
      // Between operations the only busy pages are those a pager write holds (page-ins are
      // waited for by their thread), and each is counted in paging_in_progress.
      if (((pg.flags & PG_BUSY) !== 0) !== (pg.io !== IO_NONE)) {
        fail(
          "page busy accounted",
          `${what}: page ${hex(pg.pa)} at ${hex(off)} busy ${pg.flags & PG_BUSY}, io ${pg.io}`,
        );
      }
      if (pg.io !== IO_NONE && pg.io !== IO_WRITE) {
        fail(
          "page busy accounted",
          `${what}: page ${hex(pg.pa)} at ${hex(off)} has a page-in in flight between operations`,
        );
      }
      // vm_fault copies up when wiring and fork copies wired ranges eagerly, so no shadow ever
      // sees a wired page of anonymous memory: copy-on-write, collapse and bypass can never move
      // or free it. File and SysV objects are never collapsed, and their pages stay put. A
      // transient wiring of a read-only entry wires in place (vm_fault copiesOnWire): nothing
      // else runs in that map until vsunlock.
      const fixed = obj.vnode !== null || obj.label === "shm";
      if (pg.wireCount > 0 && !fixed && !t.inPlace.has(pg) && windows.get(obj)?.some(([a, b]) => off >= a && off < b)) {
        fail(
          "wired page in backing object",
          `${what}: wired page ${hex(pg.pa)} at ${hex(off)} is seen through a shadow object`,
        );
      }
    }
  }
}

/** vnode object ↔ vp.vmObject, the object cache, and nothing unwired past EOF. */
function auditVnodeObjects(vm: MachVm): void {
  const cache = new Set(vm.objects.cache);
  if (cache.size !== vm.objects.cache.length) fail("object cache", "an object is on the cache twice");
  for (const obj of cache) {
    if (!vm.objects.live.has(obj)) fail("object cache", `object ${obj.id} cached but not live`);
  }
  for (const obj of vm.objects.live) {
    const what = `object ${obj.id} (${obj.label})`;
    if (obj.cached !== cache.has(obj))
      fail("object cache", `${what}: cached flag ${obj.cached} disagrees with the cache`);
    if (obj.cached && obj.refCount !== 0) fail("object cache", `${what}: cached with ref_count ${obj.refCount}`);
    const vp = obj.vnode;
    if (!vp) {
      if (obj.pager?.type === "vnode") fail("vnode object", `${what}: vnode pager without a vnode`);
      if (obj.cached || obj.flags & OBJ_CANPERSIST) fail("object cache", `${what}: persistent without a vnode`);
      continue;
    }
    if (vp.vmObject !== obj) fail("vnode object", `${what}: vnode ${vp.id}'s v_object is another object`);
    if (obj.pager?.type !== "vnode") fail("vnode object", `${what}: vnode ${vp.id}'s object has no vnode pager`);
    if (obj.flags & OBJ_INTERNAL || (obj.flags & OBJ_CANPERSIST) === 0) {
      fail("vnode object", `${what}: flags ${hex(obj.flags)}: a file's object is persistent and not internal`);
    }
    if (obj.shadow) fail("vnode object", `${what}: a file's object shadows object ${obj.shadow.id}`);
    if (obj.refCount === 0 && !obj.cached) fail("object cache", `${what}: unreferenced but not cached`);
    const eof = roundPage(vp.size);
    for (const pg of obj.pages.values()) {
      if (pg.offset >= eof && pg.wireCount === 0) {
        fail(
          "vnode page past EOF",
          `${what}: page ${hex(pg.pa)} at ${hex(pg.offset)} past EOF ${hex(vp.size)} (vnode ${vp.id})`,
        );
      }
    }
  }
}

/** Every swap slot belongs to exactly one page of one live object's swap pager. */
function auditSwap(vm: MachVm): void {
  const owner = new Map<number, string>();
  for (const obj of vm.objects.live) {
    const pager = obj.pager;
    if (!(pager instanceof SwapPager)) continue;
    if ((obj.flags & OBJ_INTERNAL) === 0) fail("swap pager", `object ${obj.id}: swap pager on a non-internal object`);
    for (const [key, slot] of pager.slots) {
      const here = `object ${obj.id} pager offset ${hex(key)}`;
      const other = owner.get(slot);
      if (other !== undefined) fail("swap slot owned once", `slot ${slot}: held by ${other} and ${here}`);
      owner.set(slot, here);
    }
  }
  if (owner.size !== vm.swapInUse)
    fail("swap slot count", `${owner.size} slots held by pagers, ${vm.swapInUse} allocated`);
}

// ------------------------------------------------------------------ pages

function auditQueue(q: PageQueue, name: string): void {
  let n = 0;
  let prev: MachPage | null = null;
  for (let pg = q.head; pg; pg = pg.qnext) {
    if (pg.queue !== q.id) fail("page queue", `page ${hex(pg.pa)} linked on the ${name} queue but tagged ${pg.queue}`);
    if (pg.qprev !== prev) fail("page queue links", `page ${hex(pg.pa)} on the ${name} queue: bad prev link`);
    prev = pg;
    if (++n > q.count) fail("page queue count", `the ${name} queue holds more than its count ${q.count}`);
  }
  if (q.tail !== prev) fail("page queue links", `the ${name} queue's tail is not its last page`);
  if (n !== q.count) fail("page queue count", `the ${name} queue: count ${q.count}, ${n} linked`);
}

function auditPages(vm: MachVm, t: Tally): void {
  const pages = vm.pages;
  auditQueue(pages.free, "free");
  auditQueue(pages.active, "active");
  auditQueue(pages.inactive, "inactive");
  let free = 0;
  let wired = 0;
  let host = 0;
  for (const pg of pages.pages) {
    const p = `page ${hex(pg.pa)}`;
    const flagQueue = pg.flags & (PG_FREE | PG_ACTIVE | PG_INACTIVE);
    const expectFlag =
      pg.queue === Q_FREE ? PG_FREE : pg.queue === Q_ACTIVE ? PG_ACTIVE : pg.queue === Q_INACTIVE ? PG_INACTIVE : 0;
    if (flagQueue !== expectFlag)
      fail("page queue flags", `${p}: flags ${hex(pg.flags)} disagree with queue ${pg.queue}`);
    if (pg.queue === Q_FREE) {
      free++;
      if (pg.object || pg.wireCount !== 0 || pg.flags & PG_HOST) {
        fail("free page", `${p}: on the free queue but owned (object ${pg.object?.id}, wire ${pg.wireCount})`);
      }
      continue;
    }
    if (pg.flags & PG_HOST) {
      host++;
      if (pg.object || pg.queue !== Q_NONE)
        fail("host page", `${p}: allocated to the pmap/kernel but in an object or queue`);
      continue;
    }
    const obj = pg.object;
    if (!obj) fail("page owner", `${p}: neither free, nor the pmap's, nor in an object (leaked)`);
    if (!obj.alive || obj.pages.get(pg.offset) !== pg) {
      fail("page back-pointer", `${p}: claims object ${obj.id} offset ${hex(pg.offset)} which does not hold it`);
    }
    if (pg.wireCount > 0) {
      wired++;
      if (pg.queue !== Q_NONE)
        fail("wired page off the queues", `${p}: wired (${pg.wireCount}) but on queue ${pg.queue}`);
    } else if (pg.queue !== Q_ACTIVE && pg.queue !== Q_INACTIVE) {
      fail("page queue membership", `${p}: unwired object page on no paging queue`);
    }
    const expect = t.wires.get(pg) ?? 0;
    if (pg.wireCount !== expect) {
      fail(
        "page wire count",
        `${p} (object ${obj.id} offset ${hex(pg.offset)}): wire_count ${pg.wireCount}, ${expect} wired entries map it`,
      );
    }
  }
  if (free !== pages.free.count) fail("free count", `${free} free pages, free queue count ${pages.free.count}`);
  if (wired !== pages.wired) fail("wired count", `${wired} wired pages, v_wire_count ${pages.wired}`);
  if (host !== pages.hostPages) fail("host page count", `${host} host pages, ${pages.hostPages} recorded`);
}

// ------------------------------------------------------------------ translations

/** Entries up to this many pages are checked at every address; larger ones at their resident pages. */
const FULL_SCAN_PAGES = 4096;

/**
 * Every managed page a user pmap maps at va is the page the map would find there now (the
 * topmost resident page of the entry's chain): no stale translation survives a copy-on-write,
 * a collapse or an unmap. Huge entries (amd64's page-table region spans 512 GiB) are checked at
 * the addresses of the pages resident in their chain.
 */
function auditTranslations(vm: MachVm, map: VmMap): void {
  const pmap = map.pmap;
  if (!pmap) return;
  for (let e = map.header.next; e !== map.header; e = e.next) {
    if (e.size / PAGE_SIZE <= FULL_SCAN_PAGES) {
      for (let va: VAddr = e.start; va < e.end; va += PAGE_SIZE) checkTranslation(vm, map, e, va);
      continue;
    }
    const vas = new Set<VAddr>();
    const first = map.objectAt(e, e.start);
    // Offsets of the entry's window as seen in each object of the chain.
    let off = first ? first.offset : 0;
    for (let o: VmObject | null = first?.objEntry.object ?? null; o; o = o.shadow) {
      for (const pg of o.pages.values()) {
        const va = e.start + (pg.offset - off);
        if (va >= e.start && va < e.end) vas.add(va);
      }
      off += o.shadowOffset;
    }
    for (const va of vas) checkTranslation(vm, map, e, va);
  }
}

function checkTranslation(vm: MachVm, map: VmMap, e: VmMapEntry, va: VAddr): void {
  const pa = map.pmap?.extract(va);
  if (pa === undefined) return;
  const pg = vm.pages.pageOf(pa);
  if (!pg || pg.flags & PG_HOST) return;
  if (pg.queue === Q_FREE) fail("no free page mapped", `${where(map, e)}: ${hex(va)} maps free page ${hex(pa)}`);
  const loc = map.objectAt(e, va);
  const top = loc ? vm.objects.topPage(loc.objEntry.object, loc.offset) : undefined;
  if (top !== pg) {
    fail(
      "translation current",
      `${where(map, e)}: ${hex(va)} maps ${hex(pa)} but the object chain holds ${top ? hex(top.pa) : "no page"}`,
    );
  }
}
