/**
 * The invariants of the FreeBSD VM, one check per rule, each naming the structure and address.
 * Run between operations (a fault in progress legitimately holds busy pages, extra references
 * and paging_in_progress; asynchronous pageouts may be in flight between operations, and are
 * accounted for).
 */
import { hex, INHERIT_ZERO, InvariantViolation, PAGE_SIZE, type VAddr } from "@vmlab/core";
import type { FreebsdVm } from "./vm.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import { OBJ_UNMANAGED, type VmObject } from "./vm_object.js";
import { type FbsdPage, type PageQueue, PG_BUSY, PG_FREE, PG_HOST, PQ_NONE } from "./vm_page.js";
import { VM_NFREEPOOL } from "./vm_param.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("vm", rule, details);
}

function where(map: VmMap, e: VmMapEntry): string {
  return `map ${map.name}#${map.id} entry [${hex(e.start)}, ${hex(e.end)})`;
}

function bump<K>(m: Map<K, number>, k: K, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

interface Tally {
  readonly objectRefs: Map<VmObject, number>;
  /** Expected wire_count of each page. */
  readonly wires: Map<FbsdPage, number>;
}

export function auditVm(vm: FreebsdVm): void {
  const t: Tally = { objectRefs: new Map(), wires: new Map() };
  for (const s of vm.spaces) {
    if (!s.alive) fail("vmspace alive", `vmspace ${s.id} is listed but destroyed`);
    if (s.map.pmap !== s.pmap) fail("vmspace pmap", `vmspace ${s.id}: map pmap differs from the space's pmap`);
  }
  for (const map of [vm.kernelMap.map, ...[...vm.spaces].map((s) => s.map)]) auditMap(map, t);
  bump(t.objectRefs, vm.kernelMap.object);
  for (const shm of vm.shms) {
    bump(t.objectRefs, shm.object);
    if (shm.locked) for (const m of shm.object.pages.values()) bump(t.wires, m);
  }
  for (const obj of vm.objects.live) if (obj.backing) bump(t.objectRefs, obj.backing);
  auditObjects(vm, t);
  auditPages(vm, t);
  auditPhys(vm);
  auditReserv(vm);
  auditSwap(vm);
  for (const s of vm.spaces) auditTranslations(vm, s.map);
}

// ------------------------------------------------------------------ maps

/** In-order walk of the splay tree. */
function treeOrder(map: VmMap): VmMapEntry[] {
  const out: VmMapEntry[] = [];
  const stack: VmMapEntry[] = [];
  let n = map.root;
  let guard = 0;
  while (n || stack.length > 0) {
    while (n) {
      stack.push(n);
      n = n.left;
      if (++guard > 4 * (map.nentries + 2)) fail("map tree", `map ${map.name}#${map.id}: splay tree has a cycle`);
    }
    const top = stack.pop() as VmMapEntry;
    out.push(top);
    n = top.right;
  }
  return out;
}

function auditMap(map: VmMap, t: Tally): void {
  const h = map.header;
  const list: VmMapEntry[] = [];
  let prev = h;
  let size = 0;
  for (let e = h.next; e !== h; e = e.next) {
    if (list.length > map.nentries) fail("map list", `map ${map.name}#${map.id}: more entries linked than nentries`);
    if (e.prev !== prev) fail("map links", `${where(map, e)}: prev link does not point at the previous entry`);
    if (e.start >= e.end || e.start % PAGE_SIZE !== 0 || e.end % PAGE_SIZE !== 0)
      fail("entry range", `${where(map, e)}: empty or unaligned`);
    if (e.start < map.min || e.end > map.max)
      fail("entry inside map", `${where(map, e)}: outside [${hex(map.min)}, ${hex(map.max)})`);
    if (prev !== h && prev.end > e.start)
      fail("entries ordered and disjoint", `${where(map, e)} overlaps [${hex(prev.start)}, ${hex(prev.end)})`);
    auditEntry(map, e, t);
    list.push(e);
    prev = e;
    size += e.size;
  }
  if (h.prev !== prev) fail("map links", `map ${map.name}#${map.id}: header.prev is not the last entry`);
  if (list.length !== map.nentries)
    fail("map nentries", `map ${map.name}#${map.id}: ${map.nentries} recorded, ${list.length} linked`);
  if (size !== map.size)
    fail("map size", `map ${map.name}#${map.id}: size ${hex(map.size)} recorded, ${hex(size)} linked`);
  const tree = treeOrder(map);
  if (tree.length !== list.length || tree.some((e, i) => e !== list[i])) {
    fail(
      "map tree",
      `map ${map.name}#${map.id}: the splay tree's in-order walk (${tree.length}) differs from the entry list (${list.length})`,
    );
  }
}

function auditEntry(map: VmMap, e: VmMapEntry, t: Tally): void {
  if ((e.protection & e.maxProtection) !== e.protection)
    fail("protection within max", `${where(map, e)}: ${e.protection} exceeds max ${e.maxProtection}`);
  if (!Number.isInteger(e.inheritance) || e.inheritance < 0 || e.inheritance > INHERIT_ZERO)
    fail("inheritance", `${where(map, e)}: ${e.inheritance}`);
  if (e.offset % PAGE_SIZE !== 0 || e.offset < 0) fail("entry offset", `${where(map, e)}: offset ${hex(e.offset)}`);
  if (e.wiredCount < (e.userWired ? 1 : 0))
    fail("wired count", `${where(map, e)}: wired_count ${e.wiredCount} with user wiring`);
  if (e.needsCopy && (!e.object || !e.cow))
    fail("needs_copy", `${where(map, e)}: needs-copy without an object or not copy-on-write`);
  const obj = e.object;
  if (obj) {
    if (!obj.alive) fail("entry object alive", `${where(map, e)}: object ${obj.id} was terminated`);
    if (obj.type !== "vnode" && e.offset / PAGE_SIZE + e.size / PAGE_SIZE > obj.size) {
      fail(
        "entry object window",
        `${where(map, e)}: offset ${hex(e.offset)} + size exceeds object ${obj.id} size ${obj.size} pages`,
      );
    }
    bump(t.objectRefs, obj);
  }
  if (e.wiredCount > 0) {
    if (e.needsCopy) fail("wired entry needs_copy", `${where(map, e)}: wired but still needs-copy`);
    for (let va = e.start; va < e.end; va += PAGE_SIZE) {
      const pg = obj?.pages.get((va - e.start + e.offset) / PAGE_SIZE);
      if (!pg)
        fail("wired entry resident", `${where(map, e)}: wired page at ${hex(va)} is not resident in the first object`);
      bump(t.wires, pg);
    }
  }
}

// ------------------------------------------------------------------ objects

function auditObjects(vm: FreebsdVm, t: Tally): void {
  const live = vm.objects.live;
  for (const obj of t.objectRefs.keys())
    if (!live.has(obj)) fail("object alive", `object ${obj.id} (${obj.label}) is referenced but not live`);
  let pipIo = 0;
  for (const obj of live) {
    const what = `object ${obj.id} (${obj.label}, ${obj.type})`;
    if (!obj.alive) fail("object alive", `${what} is listed but dead`);
    const refs = t.objectRefs.get(obj) ?? 0;
    if (obj.refCount !== refs) fail("object ref_count", `${what}: ref_count ${obj.refCount}, ${refs} references found`);
    let shadows = 0;
    for (const o of live) if (o.backing === obj) shadows++;
    if (obj.shadowCount !== shadows)
      fail("object shadow_count", `${what}: shadow_count ${obj.shadowCount}, ${shadows} objects shadow it`);
    for (const s of obj.shadows)
      if (s.backing !== obj) fail("object shadow list", `${what}: lists object ${s.id} which does not shadow it`);
    if (obj.refCount === 0 && obj.type !== "vnode") fail("object ref_count", `${what}: live with no reference`);
    const seen = new Set<VmObject>();
    for (let o: VmObject | null = obj; o; o = o.backing) {
      if (seen.has(o)) fail("shadow chain acyclic", `${what}: chain loops at object ${o.id}`);
      if (!live.has(o)) fail("shadow chain live", `${what}: chain reaches dead object ${o.id}`);
      seen.add(o);
    }
    let busyIo = 0;
    for (const [pindex, m] of obj.pages) {
      if (m.object !== obj || m.pindex !== pindex)
        fail(
          "page back-pointer",
          `${what}: page ${hex(m.pa)} at ${pindex} says object ${m.object?.id} pindex ${m.pindex}`,
        );
      if (pindex < 0 || (pindex >= obj.size && m.wireCount === 0))
        fail("page pindex", `${what}: page ${hex(m.pa)} at pindex ${pindex} outside size ${obj.size}`);
      if (m.flags & PG_BUSY)
        fail("page busy", `${what}: page ${hex(m.pa)} at ${pindex} exclusive-busy between operations`);
      if (!m.valid) fail("page valid", `${what}: page ${hex(m.pa)} at ${pindex} is not valid between operations`);
      busyIo += m.busy;
    }
    if (obj.pip !== busyIo)
      fail("object paging_in_progress", `${what}: paging_in_progress ${obj.pip}, ${busyIo} pages under I/O`);
    pipIo += busyIo;
    if (obj.type === "default" && obj.swblk.size > 0) fail("object swap", `${what}: OBJT_DEFAULT with swap metadata`);
    for (const [first, rv] of obj.rvq) {
      if (rv.object !== obj || rv.pindex !== first)
        fail(
          "object rvq",
          `${what}: reservation at pindex ${first} belongs to object ${rv.object?.id} pindex ${rv.pindex}`,
        );
    }
  }
  if (pipIo !== vm.swap.inflight + vm.vnodes.inflight) {
    fail(
      "pageout in flight",
      `${pipIo} pages soft-busy, ${vm.swap.inflight} swap and ${vm.vnodes.inflight} vnode writes in flight`,
    );
  }
}

// ------------------------------------------------------------------ pages and queues

function auditQueue(q: PageQueue): void {
  let n = 0;
  let prev: FbsdPage | null = null;
  for (let pg = q.head; pg; pg = pg.qnext) {
    if (pg.queue !== q.id)
      fail("page queue", `page ${hex(pg.pa)} linked on the ${q.name} queue but tagged ${pg.queue}`);
    if (pg.qprev !== prev) fail("page queue links", `page ${hex(pg.pa)} on the ${q.name} queue: bad prev link`);
    prev = pg;
    if (++n > q.count) fail("page queue count", `the ${q.name} queue holds more than its count ${q.count}`);
  }
  if (q.tail !== prev) fail("page queue links", `the ${q.name} queue's tail is not its last page`);
  if (n !== q.count) fail("page queue count", `the ${q.name} queue: count ${q.count}, ${n} linked`);
}

function auditPages(vm: FreebsdVm, t: Tally): void {
  const pages = vm.pages;
  auditQueue(pages.active);
  auditQueue(pages.inactive);
  auditQueue(pages.laundry);
  let free = 0;
  let wired = 0;
  let host = 0;
  for (const m of pages.pages) {
    const p = `page ${hex(m.pa)}`;
    if (m.flags & PG_FREE) {
      free++;
      if (m.object || m.wireCount !== 0 || m.queue !== PQ_NONE || m.flags & PG_HOST || m.unmanaged)
        fail("free page", `${p}: free but owned (object ${m.object?.id}, wire ${m.wireCount}, queue ${m.queue})`);
      continue;
    }
    if (m.flags & PG_HOST) {
      host++;
      if (m.object || m.queue !== PQ_NONE)
        fail("host page", `${p}: allocated to the pmap/kernel but in an object or queue`);
      continue;
    }
    const obj = m.object;
    if (!obj) fail("page owner", `${p}: neither free, nor the pmap's, nor in an object (leaked)`);
    if (!obj.alive || obj.pages.get(m.pindex) !== m)
      fail("page back-pointer", `${p}: claims object ${obj.id} pindex ${m.pindex} which does not hold it`);
    if (m.unmanaged !== ((obj.flags & OBJ_UNMANAGED) !== 0))
      fail("unmanaged page", `${p}: PG_UNMANAGED ${m.unmanaged}, but object ${obj.id} flags ${hex(obj.flags)}`);
    if (m.unmanaged && m.queue !== PQ_NONE)
      fail("unmanaged page off the queues", `${p}: PG_UNMANAGED but on queue ${m.queue}`);
    if (m.wireCount > 0) {
      wired++;
      if (m.queue !== PQ_NONE)
        fail("wired page off the queues", `${p}: wired (${m.wireCount}) but on queue ${m.queue}`);
    } else if (m.queue === PQ_NONE && !m.unmanaged) {
      fail(
        "page queue membership",
        `${p} (object ${obj.id} pindex ${m.pindex}): unwired object page on no paging queue`,
      );
    }
    const expect = t.wires.get(m) ?? 0;
    if (m.wireCount !== expect)
      fail(
        "page wire count",
        `${p} (object ${obj.id} pindex ${m.pindex}): wire_count ${m.wireCount}, ${expect} wirings found`,
      );
  }
  if (free !== pages.freeCount) fail("free count", `${free} free pages, v_free_count ${pages.freeCount}`);
  if (wired !== pages.wired) fail("wired count", `${wired} wired pages, v_wire_count ${pages.wired}`);
  if (host !== pages.hostPages) fail("host page count", `${host} host pages, ${pages.hostPages} recorded`);
}

// ------------------------------------------------------------------ vm_phys

/**
 * The buddy lists: every block head has an order below VM_NFREEORDER, is aligned to its size,
 * lies in one segment and covers only free pages that head nothing else; lcnt matches; no two
 * free buddies of the same order are left uncoalesced; the blocks cover exactly the free pages
 * that are not inside an active reservation.
 */
function auditPhys(vm: FreebsdVm): void {
  const { phys, param, pages } = vm.pages;
  const nfo = param.nfreeorder;
  const inBlock = new Uint8Array(pages.length);
  let total = 0;
  for (let pool = 0; pool < VM_NFREEPOOL; pool++) {
    for (let order = 0; order < nfo; order++) {
      let n = 0;
      for (const m of phys.blocks(pool, order)) {
        n++;
        const size = PAGE_SIZE * 2 ** order;
        const what = `vm_phys free block ${hex(m.pa)} (pool ${pool}, order ${order})`;
        if (m.order !== order || m.pool !== pool)
          fail("buddy head", `${what}: head says order ${m.order} pool ${m.pool}`);
        if (m.pa % size !== 0) fail("buddy alignment", `${what}: not aligned to ${hex(size)}`);
        const seg = phys.segs[phys.segOf(m.pa)];
        if (!seg || m.pa + size > seg.end) fail("buddy segment", `${what}: crosses its segment's end`);
        for (let i = 0; i < 2 ** order; i++) {
          const pg = pages[m.index + i] as FbsdPage;
          if ((pg.flags & PG_FREE) === 0) fail("buddy page free", `${what}: page ${hex(pg.pa)} is not free`);
          if (i > 0 && pg.order !== nfo)
            fail("buddy interior", `${what}: interior page ${hex(pg.pa)} heads a block of order ${pg.order}`);
          if (inBlock[pg.index]) fail("buddy overlap", `${what}: page ${hex(pg.pa)} is in two free blocks`);
          inBlock[pg.index] = 1;
        }
        total += 2 ** order;
        if (order < nfo - 1) {
          const buddyPa = Math.floor(m.pa / size) % 2 === 0 ? m.pa + size : m.pa - size;
          const b = phys.pageOf(buddyPa);
          if (b && phys.segOf(buddyPa) === phys.segOf(m.pa) && b.order === order) {
            fail("buddy coalesced", `${what}: its buddy ${hex(buddyPa)} is free at the same order`);
          }
        }
      }
      if (n !== phys.listCount(pool, order))
        fail("buddy lcnt", `free list pool ${pool} order ${order}: lcnt ${phys.listCount(pool, order)}, ${n} blocks`);
    }
  }
  if (total !== phys.buddyFree) fail("buddy free count", `${total} pages in free blocks, ${phys.buddyFree} recorded`);
  for (const m of pages) {
    if (!inBlock[m.index] && m.order !== nfo)
      fail("buddy head", `page ${hex(m.pa)} has order ${m.order} but heads no listed block`);
    if (m.flags & PG_FREE && !inBlock[m.index]) {
      const rv = vm.pages.reserv.fromPage(m);
      if (!rv || rv.object === null || rv.popmap[m.index - rv.first]) {
        fail(
          "free page placement",
          `page ${hex(m.pa)} is free but neither in a buddy block nor free in an active reservation`,
        );
      }
    }
  }
}

// ------------------------------------------------------------------ vm_reserv

/**
 * Reservations: popcnt equals the popmap's bits and the number of the superpage's pages that are
 * allocated; a free reservation is empty; partpopq holds exactly the partially populated ones;
 * an active reservation is on its object's rvq and none of its free pages is on a buddy list.
 */
function auditReserv(vm: FreebsdVm): void {
  const { reserv, pages, param } = vm.pages;
  const n = param.level0Npages;
  let freeInside = 0;
  for (const rv of reserv.array.values()) {
    const base = (pages[rv.first] as FbsdPage).pa;
    const what = `reservation ${hex(base)}`;
    let bits = 0;
    let allocated = 0;
    for (let i = 0; i < n; i++) {
      const m = pages[rv.first + i] as FbsdPage;
      if (rv.popmap[i]) {
        bits++;
        if (m.flags & PG_FREE) fail("reservation popmap", `${what}: page ${hex(m.pa)} marked populated but free`);
      }
      if ((m.flags & PG_FREE) === 0) allocated++;
    }
    if (bits !== rv.popcnt) fail("reservation popcnt", `${what}: popcnt ${rv.popcnt}, popmap has ${bits}`);
    if (rv.object === null) {
      if (rv.popcnt !== 0) fail("reservation free", `${what}: no object but popcnt ${rv.popcnt}`);
    } else {
      if (rv.popcnt !== allocated)
        fail("reservation popcnt", `${what}: popcnt ${rv.popcnt}, ${allocated} of its pages allocated`);
      if (rv.popcnt === 0) fail("reservation empty", `${what}: active with no page`);
      if (!rv.object.alive) fail("reservation object", `${what}: object ${rv.object.id} is dead`);
      if (rv.object.rvq.get(rv.pindex) !== rv)
        fail("reservation rvq", `${what}: not on object ${rv.object.id}'s rvq at ${rv.pindex}`);
      freeInside += n - rv.popcnt;
    }
    const partial = rv.object !== null && rv.popcnt > 0 && rv.popcnt < n;
    if (rv.inpartpopq !== partial || reserv.partpopq.has(rv) !== partial) {
      fail(
        "reservation partpopq",
        `${what}: popcnt ${rv.popcnt}, inpartpopq ${rv.inpartpopq}, queued ${reserv.partpopq.has(rv)}`,
      );
    }
  }
  if (freeInside !== reserv.freeInside)
    fail("reservation free count", `${freeInside} free pages inside reservations, ${reserv.freeInside} recorded`);
}

// ------------------------------------------------------------------ swap

/** Every swap slot the VM holds belongs to exactly one (object, pindex) of a live swap object. */
function auditSwap(vm: FreebsdVm): void {
  const seen = new Map<number, string>();
  for (const obj of vm.objects.live) {
    for (const [pindex, slot] of obj.swblk) {
      const here = `object ${obj.id} pindex ${pindex}`;
      const other = seen.get(slot);
      if (other) fail("swap slot owner", `swap slot ${slot} held by ${other} and ${here}`);
      seen.set(slot, here);
      if (obj.type !== "swap")
        fail("swap object type", `${here}: swap metadata on an OBJT_${obj.type.toUpperCase()} object`);
    }
  }
  if (seen.size !== vm.swap.slots)
    fail("swap slot count", `${seen.size} slots recorded in objects, ${vm.swap.slots} allocated`);
}

// ------------------------------------------------------------------ translations

const FULL_SCAN_PAGES = 4096;

/** Every managed page a user pmap maps at va is the page the object chain holds there now. */
function auditTranslations(vm: FreebsdVm, map: VmMap): void {
  for (let e = map.header.next; e !== map.header; e = e.next) {
    if (e.size / PAGE_SIZE <= FULL_SCAN_PAGES) {
      for (let va: VAddr = e.start; va < e.end; va += PAGE_SIZE) checkTranslation(vm, map, e, va);
      continue;
    }
    const vas = new Set<VAddr>();
    let off = e.offset / PAGE_SIZE;
    for (let o = e.object; o; o = o.backing) {
      for (const m of o.pages.values()) {
        const va = e.start + (m.pindex - off) * PAGE_SIZE;
        if (va >= e.start && va < e.end) vas.add(va);
      }
      off += o.backingOffset / PAGE_SIZE;
    }
    for (const va of vas) checkTranslation(vm, map, e, va);
  }
}

function checkTranslation(vm: FreebsdVm, map: VmMap, e: VmMapEntry, va: VAddr): void {
  const pa = map.pmap.extract(va);
  if (pa === undefined) return;
  const m = vm.pages.pageOf(pa);
  if (!m || m.flags & PG_HOST) return;
  const top = vm.objects.lookupChain(e.object, (va - e.start + e.offset) / PAGE_SIZE);
  if (top !== m)
    fail(
      "translation current",
      `${where(map, e)}: ${hex(va)} maps ${hex(pa)} but the object chain holds ${top ? hex(top.pa) : "no page"}`,
    );
}
