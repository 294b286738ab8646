/**
 * The invariants of UVM, one check per rule, each naming the structure and the address involved
 * (netbsd_uvm.md §5). Run between operations. Transfers may be in flight then (completions come by
 * interrupt), so busy pages are allowed; everything else must balance:
 *   - maps: entries ordered, disjoint, aligned, inside the map; counts and sizes recorded right;
 *   - amaps: am_ref = the entries referencing them, ppref = the entries covering each slot, the
 *     used-slot list consistent; anons: an_ref = the amap slots holding them;
 *   - objects: uo_refs = the entries referencing them (plus the kernel object's and a live SysV
 *     segment's own reference);
 *   - wiring: a page's wire_count = the wired entries holding it + its vslock wirings + SHM_LOCK
 *     wirings of its object + its kernel loans; a wired entry's pages are resident; a pmap's wired
 *     PTE count = the mapped pages of wired entries + the vslock'ed ones (+ the u-area);
 *   - pages: on exactly the queue their state says; no page is both free and mapped; every
 *     translation inside an entry maps the page the entry's layers hold there.
 */
import { hex, InvariantViolation, PAGE_SIZE, Prot, type VAddr } from "@vmlab/core";
import type { VmAmap } from "./uvm_amap.js";
import { NOSWAP, type VmAnon } from "./uvm_anon.js";
import { UvmAobj } from "./uvm_aobj.js";
import { pageAt } from "./uvm_fault.js";
import type { UvmSpace } from "./uvm_glue.js";
import { UVM_ET_OBJ, type VmMap, type VmMapEntry } from "./uvm_map.js";
import type { UvmObject } from "./uvm_object.js";
import {
  type PageQueue,
  PG_BUSY,
  PG_HOST,
  PG_RELEASED,
  PQ_ACTIVE,
  PQ_ANON,
  PQ_FREE,
  PQ_INACTIVE,
  type UvmPage,
} from "./uvm_page.js";
import { UvmVnodeObject } from "./uvm_vnode.js";
import type { UvmVm } from "./vm.js";

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
  readonly amapRefs: Map<VmAmap, number>;
  /** Per amap: how many entries cover each slot. */
  readonly amapCover: Map<VmAmap, Int32Array>;
  readonly anonRefs: Map<VmAnon, number>;
  readonly objectRefs: Map<UvmObject, number>;
  /** Expected wire_count per page. */
  readonly wires: Map<UvmPage, number>;
}

export function auditUvm(vm: UvmVm): void {
  const t: Tally = {
    amapRefs: new Map(),
    amapCover: new Map(),
    anonRefs: new Map(),
    objectRefs: new Map(),
    wires: new Map(),
  };
  for (const s of vm.spaces) {
    if (!s.alive) fail("vmspace alive", `vmspace ${s.id} is listed but freed`);
    if (s.map.pmap !== s.pmap) fail("vmspace pmap", `vmspace ${s.id}: its map's pmap is not the space's pmap`);
  }
  auditMap(vm.kernelMap.map, t);
  for (const s of vm.spaces) {
    auditMap(s.map, t);
    auditTransient(s, t);
  }
  bump(t.objectRefs, vm.kernelMap.object);
  for (const obj of vm.shmObjects) {
    bump(t.objectRefs, obj);
    if (obj.wiredAll > 0) {
      for (let off = 0; off < obj.size; off += PAGE_SIZE) {
        const pg = obj.lookup(off);
        if (!pg) fail("locked segment resident", `SysV aobj ${obj.id}: SHM_LOCK'ed page ${hex(off)} is not resident`);
        bump(t.wires, pg, obj.wiredAll);
      }
    }
  }
  auditAmaps(t);
  auditAnons(t);
  auditObjects(vm, t);
  auditPages(vm, t);
  for (const s of vm.spaces) auditTranslations(vm, s);
}

// ------------------------------------------------------------------ maps and entries

function auditMap(map: VmMap, t: Tally): void {
  const h = map.header;
  const seen = new Set<VmMapEntry>();
  let prev = h;
  let n = 0;
  let size = 0;
  for (let e = h.next; e !== h; e = e.next) {
    if (seen.has(e)) fail("map list", `map ${map.name}#${map.id}: the entry list loops at ${hex(e.start)}`);
    seen.add(e);
    if (e.prev !== prev) fail("map links", `${where(map, e)}: prev link is not the previous entry`);
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
    auditEntry(map, e, t);
    prev = e;
    n++;
    size += e.size;
  }
  if (h.prev !== prev) fail("map links", `map ${map.name}#${map.id}: header.prev is not the last entry`);
  if (n !== map.nentries) fail("map nentries", `map ${map.name}#${map.id}: ${map.nentries} recorded, ${n} linked`);
  if (size !== map.size)
    fail("map size", `map ${map.name}#${map.id}: size ${hex(map.size)} recorded, ${hex(size)} linked`);
  if (map.hint !== h && !seen.has(map.hint)) fail("map hint", `map ${map.name}#${map.id}: the hint is not in the map`);
}

function auditEntry(map: VmMap, e: VmMapEntry, t: Tally): void {
  if ((e.protection & e.maxProtection) !== e.protection) {
    fail("protection within max", `${where(map, e)}: protection ${e.protection} exceeds max ${e.maxProtection}`);
  }
  if (e.wiredCount < 0) fail("entry wired_count", `${where(map, e)}: wired_count ${e.wiredCount}`);
  if ((e.object !== null) !== ((e.etype & UVM_ET_OBJ) !== 0)) {
    fail("entry UVM_ET_OBJ", `${where(map, e)}: etype ${hex(e.etype)} disagrees with object ${e.object?.id}`);
  }
  if (e.offset % PAGE_SIZE !== 0) fail("entry offset alignment", `${where(map, e)}: offset ${hex(e.offset)}`);
  const amap = e.amap;
  if (amap) {
    if (amap.dead) fail("entry amap alive", `${where(map, e)}: amap ${amap.id} was wiped out`);
    if (e.pageoff < 0 || e.pageoff + e.pages > amap.nslot) {
      fail(
        "entry amap window",
        `${where(map, e)}: slots [${e.pageoff}, ${e.pageoff + e.pages}) outside amap ${amap.id} of ${amap.nslot}`,
      );
    }
    bump(t.amapRefs, amap);
    let cover = t.amapCover.get(amap);
    if (!cover) {
      cover = new Int32Array(amap.nslot);
      t.amapCover.set(amap, cover);
    }
    for (let i = 0; i < e.pages; i++) cover[e.pageoff + i] = (cover[e.pageoff + i] as number) + 1;
  }
  const obj = e.object;
  if (obj) {
    if (obj.dead) fail("entry object alive", `${where(map, e)}: object ${obj.id} (${obj.label}) is dead`);
    if (obj instanceof UvmAobj && e.offset + e.size > obj.size) {
      fail(
        "entry object window",
        `${where(map, e)}: offset ${hex(e.offset)} + size past aobj ${obj.id} size ${hex(obj.size)}`,
      );
    }
    bump(t.objectRefs, obj);
  }
  if (e.wiredCount > 0) {
    if (e.needsCopy && (e.maxProtection & Prot.Write || e.object === null)) {
      fail("wired entry needs-copy", `${where(map, e)}: wired but still needs-copy`);
    }
    for (let va = e.start; va < e.end; va += PAGE_SIZE) {
      const pg = pageAt(e, va);
      if (!pg) fail("wired entry resident", `${where(map, e)}: wired page at ${hex(va)} is not resident`);
      bump(t.wires, pg);
    }
  }
}

function auditTransient(s: UvmSpace, t: Tally): void {
  for (const [va, n] of s.transient) {
    const e = s.map.lookupEntry(va);
    if (!s.map.contains(e, va)) fail("vslock mapped", `vmspace ${s.id}: vslock'ed page ${hex(va)} is not mapped`);
    const pg = pageAt(e, va);
    if (!pg) fail("vslock resident", `vmspace ${s.id}: vslock'ed page ${hex(va)} is not resident`);
    bump(t.wires, pg, n);
  }
}

// ------------------------------------------------------------------ amaps and anons

function auditAmaps(t: Tally): void {
  for (const [amap, refs] of t.amapRefs) {
    const what = `amap ${amap.id}`;
    if (amap.ref !== refs) fail("amap am_ref", `${what}: am_ref ${amap.ref}, ${refs} entries reference it`);
    const cover = t.amapCover.get(amap) as Int32Array;
    if (amap.ppref) {
      for (let s = 0; s < amap.nslot; s++) {
        if (amap.ppref[s] !== cover[s]) {
          fail("amap ppref", `${what} slot ${s}: ppref ${amap.ppref[s]}, ${cover[s]} entries cover it`);
        }
      }
    } else {
      for (let s = 0; s < amap.nslot; s++) {
        if (cover[s] !== amap.ref) {
          fail(
            "amap full references",
            `${what} slot ${s}: no ppref, but ${cover[s]} of ${amap.ref} references cover it`,
          );
        }
      }
    }
    let used = 0;
    for (let s = 0; s < amap.nslot; s++) {
      const anon = amap.anon[s];
      if (!anon) continue;
      used++;
      if (cover[s] === 0) fail("amap slot covered", `${what} slot ${s}: holds anon ${anon.id} but no entry covers it`);
      if (amap.slots[amap.bckptr[s] as number] !== s) fail("amap am_bckptr", `${what} slot ${s}: back pointer broken`);
      bump(t.anonRefs, anon);
    }
    if (used !== amap.nused) fail("amap am_nused", `${what}: am_nused ${amap.nused}, ${used} slots hold anons`);
  }
}

function auditAnons(t: Tally): void {
  for (const [anon, refs] of t.anonRefs) {
    const what = `anon ${anon.id}`;
    if (anon.freed) fail("anon alive", `${what} is referenced but was freed`);
    if (anon.ref !== refs) fail("anon an_ref", `${what}: an_ref ${anon.ref}, ${refs} amap slots hold it`);
    const pg = anon.page;
    if (pg) {
      if (pg.uanon !== anon || (pg.pqflags & PQ_ANON) === 0) {
        fail("anon page back-pointer", `${what}: page ${hex(pg.pa)} does not point back (PQ_ANON)`);
      }
    } else if (anon.swslot === NOSWAP) {
      fail("anon data", `${what}: neither a resident page nor a swap slot`);
    }
  }
}

// ------------------------------------------------------------------ objects

function auditObjects(vm: UvmVm, t: Tally): void {
  const objs = new Set<UvmObject>([...t.objectRefs.keys(), ...vm.vnodeObjects]);
  for (const obj of objs) {
    const what = `object ${obj.id} (${obj.label})`;
    if (obj.dead) fail("object alive", `${what} is referenced but dead`);
    const refs = t.objectRefs.get(obj) ?? 0;
    if (obj.refs !== refs) fail("object uo_refs", `${what}: uo_refs ${obj.refs}, ${refs} references found`);
    if (obj instanceof UvmVnodeObject && obj.vp.vmObject !== obj) {
      fail("vnode object", `${what}: vnode ${obj.vp.id} does not point at it`);
    }
    for (const [off, pg] of obj.pages) {
      if (pg.uobject !== obj || pg.offset !== off) {
        fail(
          "page back-pointer",
          `${what}: page ${hex(pg.pa)} at ${hex(off)} says object ${pg.uobject?.id} offset ${hex(pg.offset)}`,
        );
      }
      if (pg.uanon) fail("page owner", `${what}: page ${hex(pg.pa)} also claims anon ${pg.uanon.id}`);
    }
  }
}

// ------------------------------------------------------------------ pages

function auditQueue(q: PageQueue): void {
  let n = 0;
  let prev: UvmPage | null = null;
  for (let pg = q.head; pg; pg = pg.qnext) {
    if ((pg.pqflags & q.flag) === 0)
      fail("page queue", `page ${hex(pg.pa)} linked on the ${q.name} queue without its flag`);
    if (pg.qprev !== prev) fail("page queue links", `page ${hex(pg.pa)} on the ${q.name} queue: bad prev link`);
    prev = pg;
    if (++n > q.count) fail("page queue count", `the ${q.name} queue holds more than its count ${q.count}`);
  }
  if (q.tail !== prev) fail("page queue links", `the ${q.name} queue's tail is not its last page`);
  if (n !== q.count) fail("page queue count", `the ${q.name} queue: count ${q.count}, ${n} linked`);
}

function auditPages(vm: UvmVm, t: Tally): void {
  const pages = vm.pages;
  auditQueue(pages.free);
  auditQueue(pages.active);
  auditQueue(pages.inactive);
  let free = 0;
  let wired = 0;
  let host = 0;
  for (const pg of pages.pages) {
    const p = `page ${hex(pg.pa)}`;
    const q = pg.pqflags & (PQ_FREE | PQ_ACTIVE | PQ_INACTIVE);
    if (q !== 0 && q !== PQ_FREE && q !== PQ_ACTIVE && q !== PQ_INACTIVE)
      fail("page one queue", `${p}: on several queues (${hex(q)})`);
    if (q === PQ_FREE) {
      free++;
      if (pg.uobject || pg.uanon || pg.wireCount !== 0 || pg.flags & PG_HOST || pg.loanCount !== 0) {
        fail("free page", `${p}: on the free list but owned, wired or loaned`);
      }
      continue;
    }
    if (pg.flags & PG_HOST) {
      host++;
      if (pg.uobject || pg.uanon || q !== 0) fail("host page", `${p}: the pmap's page is in an object, anon or queue`);
      continue;
    }
    const obj = pg.uobject;
    const anon = pg.uanon;
    if (obj && obj.pages.get(pg.offset) !== pg)
      fail("page back-pointer", `${p}: object ${obj.id} does not hold it at ${hex(pg.offset)}`);
    if (anon && anon.page !== pg) fail("page back-pointer", `${p}: anon ${anon.id} does not hold it`);
    if (!obj && !anon && (pg.flags & PG_RELEASED) === 0 && pg.loanCount === 0) {
      fail("page owner", `${p}: neither free, nor the pmap's, nor owned, released or loaned (leaked)`);
    }
    if (pg.wireCount > 0) {
      wired++;
      if (q !== 0) fail("wired page off the queues", `${p}: wire_count ${pg.wireCount} but queued`);
    } else if (q === 0 && (pg.flags & PG_BUSY) === 0) {
      fail("page queue membership", `${p}: unwired, idle, and on no paging queue`);
    }
    const expect = (t.wires.get(pg) ?? 0) + pg.loanCount;
    if (pg.wireCount !== expect) {
      const owner = anon ? `anon ${anon.id}` : obj ? `object ${obj.id} offset ${hex(pg.offset)}` : "no owner";
      fail("page wire_count", `${p} (${owner}): wire_count ${pg.wireCount}, ${expect} wirings hold it`);
    }
  }
  if (free !== pages.free.count) fail("free count", `${free} free pages, free list count ${pages.free.count}`);
  if (wired !== pages.wired) fail("uvmexp.wired", `${wired} wired pages, uvmexp.wired ${pages.wired}`);
  if (host !== pages.hostPages) fail("host page count", `${host} host pages, ${pages.hostPages} recorded`);
}

// ------------------------------------------------------------------ translations

const FULL_SCAN_PAGES = 4096;

/**
 * Every managed page a user pmap maps inside an entry is the page the entry's layers hold there
 * (no stale translation survives copy-on-write, amap replacement or pageout), none is free, and
 * the pmap's wired PTE count is what the wirings say.
 */
function auditTranslations(vm: UvmVm, s: UvmSpace): void {
  const map = s.map;
  const pmap = map.pmap;
  let wiredPtes = 0;
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const vas: VAddr[] = [];
    if (e.pages <= FULL_SCAN_PAGES) {
      for (let va = e.start; va < e.end; va += PAGE_SIZE) vas.push(va);
    } else {
      const set = new Set<VAddr>();
      if (e.object) {
        for (const pg of e.object.pages.values()) {
          const va = e.start + (pg.offset - e.offset);
          if (va >= e.start && va < e.end) set.add(va);
        }
      }
      if (e.amap) {
        for (let i = 0; i < e.amap.nused; i++) {
          const va = e.start + ((e.amap.slots[i] as number) - e.pageoff) * PAGE_SIZE;
          if (va >= e.start && va < e.end) set.add(va);
        }
      }
      for (const va of s.transient.keys()) if (va >= e.start && va < e.end) set.add(va);
      vas.push(...set);
    }
    for (const va of vas) {
      const pa = pmap.extract(va);
      if (pa === undefined) continue;
      const pg = vm.pages.pageOf(pa);
      if (!pg) continue;
      if (pg.pqflags & PQ_FREE)
        fail("no page both free and mapped", `${where(map, e)}: ${hex(va)} maps free page ${hex(pa)}`);
      if (pg.flags & PG_HOST) continue;
      const top = pageAt(e, va);
      if (top !== pg) {
        fail(
          "translation current",
          `${where(map, e)}: ${hex(va)} maps ${hex(pa)} but the layers hold ${top ? hex(top.pa) : "no page"}`,
        );
      }
      if (e.wiredCount > 0 || s.transient.has(va)) wiredPtes++;
    }
  }
  // The kernel's own wired mappings in the process's pmap outside the map (the u-area).
  const L = vm.layout;
  for (let i = 0; i < L.uareaPages; i++) {
    const va = L.uareaVa + i * PAGE_SIZE;
    const e = map.lookupEntry(va);
    if (map.contains(e, va)) continue;
    const pa = pmap.extract(va);
    if (pa === undefined) continue;
    const pg = vm.pages.pageOf(pa);
    if (pg && pg.pqflags & PQ_FREE)
      fail("no page both free and mapped", `vmspace ${s.id}: u-area ${hex(va)} maps a free page`);
    wiredPtes++;
  }
  if (pmap.wiredCount !== wiredPtes) {
    fail(
      "wired PTEs",
      `vmspace ${s.id} pmap ${pmap.id}: ${pmap.wiredCount} wired PTEs, wirings account for ${wiredPtes}`,
    );
  }
}
