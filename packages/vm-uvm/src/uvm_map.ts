/**
 * vm_map: address maps as sorted lists of map entries, each with an anonymous layer (aref →
 * vm_amap) over an optional uvm_object (NetBSD sys/uvm/uvm_map.[ch]; netbsd_uvm.md §2.4, §2.5).
 *
 * The entries are a circular doubly linked list with a hint, the 1999 form (NetBSD added an
 * RB tree keyed by address in 2003 for lookups; the order and the operations are the same).
 * Entry attributes are UVM's: etype (UVM_ET_OBJ, COPYONWRITE, NEEDSCOPY), protection and
 * max_protection, inheritance, advice and wired_count. Clipping splits the amap reference
 * (amap_splitref) and takes an object reference; merging (uvm_mapent_trymerge) needs every
 * attribute equal, wired_count included, and contiguous amap slots and object offsets.
 *
 * Wiring is uvm_map_pageable: wired_count counts user wirings (mlock nests in the count, one
 * munlock clears it — POSIX), and the entry's pages follow only the edges of that count — see
 * `risingEdge`/`fallingEdge`, the one place that decides what an edge is.
 */
import {
  hex,
  INHERIT_COPY,
  INHERIT_ZERO,
  type Inheritance,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  type KernReturn,
  MADV_NORMAL,
  PAGE_SIZE,
  type Pmap,
  Prot,
  type VAddr,
} from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import {
  AMAP_SHARED,
  type ArefHolder,
  amapAlloc,
  amapCopyRefs,
  amapSplitref,
  amapUnref,
  UVM_AMAP_CHUNK,
  UVM_AMAP_LARGE,
  type VmAmap,
} from "./uvm_amap.js";
import { pageAt, uvmFaultUnwireLocked, uvmFaultWire } from "./uvm_fault.js";
import type { UvmObject } from "./uvm_object.js";
import type { UvmPage } from "./uvm_page.js";

// uvm_map.h etype bits (final form).
export const UVM_ET_OBJ = 0x01;
export const UVM_ET_SUBMAP = 0x02;
export const UVM_ET_COPYONWRITE = 0x04;
export const UVM_ET_NEEDSCOPY = 0x08;

// vm_map_entry flags: UVM_MAP_KMEM is NetBSD's (an entry of kernel memory whose pages are
// freed with it); UVM_MAP_SYSTEM is vmlab's: reserved by the kernel (the user page-table region
// of pmaps that keep page tables in the user map): never merged with user entries, never
// inherited, not user-wirable.
export const UVM_MAP_KMEM = 0x02;
export const UVM_MAP_SYSTEM = 0x80;

/** Erratum id: the 2019 wire page count underflow (seed 004). */
export const WIRE_UNDERFLOW = "netbsd-2019-wire-underflow";

// vm_map flags.
export const VM_MAP_PAGEABLE = 0x01;
export const VM_MAP_INTRSAFE = 0x02;
export const VM_MAP_WIREFUTURE = 0x04;

/** struct vm_map_entry */
export class VmMapEntry implements ArefHolder {
  prev: VmMapEntry;
  next: VmMapEntry;
  start = 0;
  end = 0;
  /** object.uvm_obj */
  object: UvmObject | null = null;
  offset = 0;
  etype = 0;
  protection: Prot = Prot.None;
  maxProtection: Prot = Prot.None;
  inheritance: Inheritance = INHERIT_COPY;
  /** wired_count: "can be paged if = 0". */
  wiredCount = 0;
  /** aref.ar_amap / aref.ar_pageoff */
  amap: VmAmap | null = null;
  pageoff = 0;
  advice = MADV_NORMAL;
  flags = 0;

  constructor() {
    this.prev = this;
    this.next = this;
  }

  get size(): number {
    return this.end - this.start;
  }

  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE;
  }

  get needsCopy(): boolean {
    return (this.etype & UVM_ET_NEEDSCOPY) !== 0;
  }

  get copyOnWrite(): boolean {
    return (this.etype & UVM_ET_COPYONWRITE) !== 0;
  }

  get system(): boolean {
    return (this.flags & UVM_MAP_SYSTEM) !== 0;
  }

  /** uvm_mapent_copy: the fields up to uvm_map_entry_stop_copy; no references taken. */
  clone(): VmMapEntry {
    const n = new VmMapEntry();
    n.start = this.start;
    n.end = this.end;
    n.object = this.object;
    n.offset = this.offset;
    n.etype = this.etype;
    n.protection = this.protection;
    n.maxProtection = this.maxProtection;
    n.inheritance = this.inheritance;
    n.wiredCount = this.wiredCount;
    n.amap = this.amap;
    n.pageoff = this.pageoff;
    n.advice = this.advice;
    n.flags = this.flags;
    return n;
  }
}

/** Attributes of a new entry (uvm_map's arguments, after uvm_mmap). */
export interface EntryAttrs {
  object?: UvmObject | null;
  offset?: number;
  amap?: VmAmap | null;
  etype?: number;
  protection: Prot;
  maxProtection: Prot;
  inheritance: Inheritance;
  flags?: number;
  wiredCount?: number;
  advice?: number;
}

/** The kinds of map-entry wiring: user (mlock, MAP_WIRED, mlockall) and the kernel's page tables. */
export type EntryWireKind = "mlock" | "system";

let nextMapId = 1;

/** struct vm_map */
export class VmMap {
  readonly id = nextMapId++;
  readonly header = new VmMapEntry();
  nentries = 0;
  size = 0;
  hint: VmMapEntry;
  timestamp = 0;
  flags = VM_MAP_PAGEABLE;
  /** Transient wirings (uvm_vslock) in force on this map's pages, by address (its vmspace's). */
  transient: ReadonlyMap<VAddr, number> = new Map();

  constructor(
    readonly vm: Uvm,
    readonly min: VAddr,
    readonly max: VAddr,
    readonly pmap: Pmap,
    readonly name: string,
  ) {
    this.hint = this.header;
    this.header.start = min;
    this.header.end = max;
  }

  get wireFuture(): boolean {
    return (this.flags & VM_MAP_WIREFUTURE) !== 0;
  }

  // ------------------------------------------------------------------ list primitives

  contains(e: VmMapEntry, addr: VAddr): boolean {
    return e !== this.header && e.start <= addr && addr < e.end;
  }

  /** uvm_map_lookup_entry: the entry containing addr, else the one before it (or the header). */
  lookupEntry(addr: VAddr): VmMapEntry {
    const h = this.header;
    let e = this.hint;
    if (e === h || addr < e.start) e = h.next;
    let prev = e.prev;
    while (e !== h && e.start <= addr) {
      if (addr < e.end) {
        this.hint = e;
        return e;
      }
      prev = e;
      e = e.next;
    }
    this.hint = prev;
    return prev;
  }

  firstFrom(addr: VAddr): VmMapEntry {
    const e = this.lookupEntry(addr);
    return this.contains(e, addr) ? e : e.next;
  }

  private link(after: VmMapEntry, e: VmMapEntry): void {
    e.prev = after;
    e.next = after.next;
    after.next.prev = e;
    after.next = e;
    this.nentries++;
  }

  private unlink(e: VmMapEntry): void {
    e.prev.next = e.next;
    e.next.prev = e.prev;
    if (this.hint === e) this.hint = e.prev;
    this.nentries--;
  }

  entries(): VmMapEntry[] {
    const out: VmMapEntry[] = [];
    for (let e = this.header.next; e !== this.header; e = e.next) out.push(e);
    return out;
  }

  /** Whether [start, end) is covered by entries with no hole. */
  covered(start: VAddr, end: VAddr): boolean {
    if (end <= start) return true;
    let e = this.lookupEntry(start);
    if (!this.contains(e, start)) return false;
    while (e.end < end) {
      const n = e.next;
      if (n === this.header || n.start !== e.end) return false;
      e = n;
    }
    return true;
  }

  // ------------------------------------------------------------------ clipping and merging

  /** UVM_MAP_CLIP_START: split e so that an entry starts at addr; e keeps the upper part. */
  clipStart(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    const n = e.clone();
    n.end = addr;
    const pages = (addr - e.start) / PAGE_SIZE;
    e.start = addr;
    if (e.object) {
      e.offset += pages * PAGE_SIZE;
      e.object.refs++;
    }
    if (n.amap) amapSplitref(n, e, pages);
    this.link(e.prev, n);
    this.vm.counters.mapClip.value++;
  }

  /** UVM_MAP_CLIP_END: split e so that an entry ends at addr; e keeps the lower part. */
  clipEnd(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    const n = e.clone();
    const pages = (addr - e.start) / PAGE_SIZE;
    n.start = addr;
    e.end = addr;
    if (n.object) {
      n.offset += pages * PAGE_SIZE;
      n.object.refs++;
    }
    if (e.amap) amapSplitref(e, n, pages);
    this.link(e, n);
    this.vm.counters.mapClip.value++;
  }

  /** Clip to [start, end) and return the entries inside (a hole is simply skipped). */
  clipRange(start: VAddr, end: VAddr): VmMapEntry[] {
    const out: VmMapEntry[] = [];
    let e = this.lookupEntry(start);
    if (this.contains(e, start)) this.clipStart(e, start);
    else e = e.next;
    while (e !== this.header && e.start < end) {
      this.clipEnd(e, end);
      out.push(e);
      e = e.next;
    }
    return out;
  }

  /**
   * UVM_ET_ISCOMPATIBLE plus contiguity: equal etype, flags, object (offsets contiguous), amap
   * (slots contiguous), protection, max_protection, inheritance, advice and wired_count.
   */
  private canMerge(a: VmMapEntry, b: VmMapEntry): boolean {
    if (a === this.header || b === this.header || a.end !== b.start) return false;
    if (a.etype !== b.etype || a.flags !== b.flags || a.object !== b.object || a.amap !== b.amap) return false;
    if (a.object && a.offset + a.size !== b.offset) return false;
    if (a.amap && a.pageoff + a.pages !== b.pageoff) return false;
    return (
      a.protection === b.protection &&
      a.maxProtection === b.maxProtection &&
      a.inheritance === b.inheritance &&
      a.advice === b.advice &&
      a.wiredCount === b.wiredCount
    );
  }

  /**
   * uvm_mapent_trymerge over the entries touching [start, end]: the inverse of a clip — the
   * second entry's amap and object references are dropped (each page was covered by one of the
   * two, so per-page counts do not change).
   */
  simplify(start: VAddr, end: VAddr): void {
    let e = this.lookupEntry(start);
    if (e === this.header) e = e.next;
    else if (e.prev !== this.header) e = e.prev;
    while (e !== this.header && e.next !== this.header && e.start <= end) {
      const n = e.next;
      if (!this.canMerge(e, n)) {
        e = n;
        continue;
      }
      e.end = n.end;
      this.unlink(n);
      if (n.amap) {
        n.amap.ref--;
        if (n.amap.ref === 1) n.amap.flags &= ~AMAP_SHARED;
      }
      if (n.object) n.object.refs--;
      this.vm.counters.mapMerge.value++;
    }
  }

  // ------------------------------------------------------------------ insert, find space

  /** uvm_map_enter: link a new entry over the free range [start, end), then try to merge it. */
  insert(start: VAddr, end: VAddr, a: EntryAttrs): VmMapEntry {
    const prev = this.lookupEntry(start);
    if (this.contains(prev, start) || (prev.next !== this.header && prev.next.start < end)) {
      this.vm.kernel.panic(`uvm_map: [${hex(start)}, ${hex(end)}) is not free in map ${this.name}`);
    }
    const e = new VmMapEntry();
    e.start = start;
    e.end = end;
    e.object = a.object ?? null;
    e.offset = a.offset ?? 0;
    e.amap = a.amap ?? null;
    e.etype = (a.etype ?? 0) | (e.object ? UVM_ET_OBJ : 0);
    e.protection = a.protection;
    e.maxProtection = a.maxProtection;
    e.inheritance = a.inheritance;
    e.flags = a.flags ?? 0;
    e.wiredCount = a.wiredCount ?? 0;
    e.advice = a.advice ?? MADV_NORMAL;
    this.link(prev, e);
    this.size += end - start;
    this.timestamp++;
    return e;
  }

  /** Link a prepared entry (uvmspace_fork's copies); it keeps the references it holds. */
  insertEntry(e: VmMapEntry): void {
    const prev = this.lookupEntry(e.start);
    if (this.contains(prev, e.start) || (prev.next !== this.header && prev.next.start < e.end)) {
      this.vm.kernel.panic(`uvm_map_entry_link: [${hex(e.start)}, ${hex(e.end)}) is not free in map ${this.name}`);
    }
    this.link(prev, e);
    this.size += e.size;
    this.timestamp++;
  }

  /** uvm_map_findspace: lowest address ≥ hint where `length` fits in [lo, hi); -1 if none. */
  findSpace(hint: VAddr, length: number, lo: VAddr, hi: VAddr): VAddr {
    let start = Math.max(hint, lo);
    if (start + length > hi || length <= 0) return -1;
    let e = this.lookupEntry(start);
    if (this.contains(e, start)) start = e.end;
    for (;;) {
      if (start + length > hi) return -1;
      const n = e.next;
      if (n === this.header || n.start >= start + length) {
        if (n !== this.header || start + length <= this.max) return start;
        return -1;
      }
      e = n;
      if (e.end > start) start = e.end;
    }
  }

  // ------------------------------------------------------------------ unmap

  /**
   * uvm_unmap_remove + uvm_unmap_detach: clip, unwire wired entries (falling edge), remove the
   * translations, free kernel-object pages of kmem entries (uvm_km_pgremove), unlink, then drop
   * the amap and object references.
   */
  remove(start: VAddr, end: VAddr, removeTranslations = true): void {
    const dead: VmMapEntry[] = [];
    for (const e of this.clipRange(start, end)) {
      if (e.wiredCount > 0) this.fallingEdge(e);
      if (removeTranslations) this.pmap.remove(e.start, e.end);
      if (e.flags & UVM_MAP_KMEM && e.object) e.object.freeRange(this.vm, e.offset, e.offset + e.size);
      this.unlink(e);
      this.size -= e.size;
      dead.push(e);
    }
    this.timestamp++;
    for (const e of dead) this.detachEntry(e);
  }

  /** uvm_unmap_detach for one entry. */
  detachEntry(e: VmMapEntry): void {
    if (e.amap) {
      const amap = e.amap;
      e.amap = null;
      amapUnref(this.vm, amap, e.pageoff, e.pages);
    }
    if (e.object) {
      const obj = e.object;
      e.object = null;
      obj.detach(this.vm);
    }
  }

  // ------------------------------------------------------------------ protect, inherit, advice

  /**
   * uvm_map_protect: a hole is KERN_INVALID_ADDRESS, a protection above max is
   * KERN_PROTECTION_FAILURE (both before anything changes). The pmap only ever loses rights here
   * (MASK(entry): never WRITE on copy-on-write memory); under VM_MAP_WIREFUTURE an entry leaving
   * PROT_NONE is wired.
   */
  protect(start: VAddr, end: VAddr, newProt: Prot, setMax: boolean): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if ((newProt & e.maxProtection) !== newProt) return KERN_PROTECTION_FAILURE;
    }
    const toWire: [VAddr, VAddr][] = [];
    for (const e of this.clipRange(start, end)) {
      const old = e.protection;
      if (setMax) {
        e.maxProtection = newProt;
        e.protection = newProt & old;
      } else {
        e.protection = newProt;
      }
      if (e.protection !== old) {
        const mask = e.copyOnWrite ? ~Prot.Write : Prot.All;
        this.pmap.protect(e.start, e.end, e.protection & mask);
      }
      if (this.wireFuture && e.wiredCount === 0 && old === Prot.None && e.protection !== Prot.None && !e.system) {
        toWire.push([e.start, e.end]);
      }
    }
    this.simplify(start, end);
    this.timestamp++;
    let rv = KERN_SUCCESS;
    for (const [s, t] of toWire) {
      const wrv = this.wire(s, t, "mlock");
      if (wrv !== KERN_SUCCESS && rv === KERN_SUCCESS) rv = wrv;
    }
    return rv;
  }

  /** uvm_map_inherit (holes ignored, as NetBSD does). */
  inherit(start: VAddr, end: VAddr, inh: number): KernReturn {
    if (!Number.isInteger(inh) || inh < 0 || inh > INHERIT_ZERO) return KERN_INVALID_ARGUMENT;
    for (const e of this.clipRange(start, end)) e.inheritance = inh as Inheritance;
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /** uvm_map_advice: record the advice (the fault uses it for fault-ahead). */
  advise(start: VAddr, end: VAddr, advice: number): void {
    for (const e of this.clipRange(start, end)) e.advice = advice;
    this.simplify(start, end);
  }

  // ------------------------------------------------------------------ amap_copy

  /**
   * amap_copy(map, entry, waitf, canchunk, startva, endva): clear needs-copy. An entry without
   * an amap gets a fresh one — a large one (≥ UVM_AMAP_LARGE pages) first clipped to the
   * UVM_AMAP_CHUNK-aligned pages around [startva, endva) when `canchunk`; an amap referenced only
   * by this entry is simply taken over; otherwise the entry gets a copy holding the same anons.
   */
  amapCopy(e: VmMapEntry, canchunk: boolean, startva: VAddr, endva: VAddr): VmMapEntry {
    if (!e.amap) {
      if (canchunk && e.pages >= UVM_AMAP_LARGE) {
        const chunk = UVM_AMAP_CHUNK * PAGE_SIZE;
        const s = Math.max(e.start, Math.floor(startva / chunk) * chunk);
        const t = Math.min(e.end, Math.ceil(endva / chunk) * chunk);
        this.clipStart(e, s);
        this.clipEnd(e, t);
      }
      e.amap = amapAlloc(this.vm, e.pages);
      e.pageoff = 0;
      e.etype &= ~UVM_ET_NEEDSCOPY;
      return e;
    }
    e.etype &= ~UVM_ET_NEEDSCOPY;
    if (e.amap.ref === 1) return e;
    amapCopyRefs(this.vm, e);
    return e;
  }

  // ------------------------------------------------------------------ wiring (uvm_map_pageable)

  /**
   * The rising edge: an entry whose wired_count went 0 → 1 has its pages faulted in and wired
   * (uvm_fault_wire with the entry's max_protection, so copy-on-write is resolved now and a later
   * write cannot move the data off the wired page). Nothing else wires an entry's pages.
   */
  risingEdge(e: VmMapEntry): KernReturn {
    return uvmFaultWire(this.vm, this, e.start, e.end, e.maxProtection & (Prot.Read | Prot.Write), true, 1);
  }

  /**
   * The falling edge (uvm_map_entry_unwire): wired_count is forced to 0 and the pages the entry
   * wired are unwired once each (uvm_fault_unwire_locked). Nothing else unwires them.
   *
   * Erratum `netbsd-2019-wire-underflow` (seed 004, netbsd_uvm.md §2.5, §3.3 item 3): NetBSD's
   * shm_memlock wired an SHM_LOCK'ed segment twice — uvm_obj_wirepages on the object, then
   * uvm_map_pageable on the attaching entry — so the entry's wired_count also stood for the
   * segment lock. With the erratum the POSIX forced falling edge takes that at its word: an entry
   * over an SHM_LOCK'ed object releases the object's wiring of each page along with its own
   * (`shmLockShare`), while SHM_LOCK still holds it and releases it again at SHM_UNLOCK. The
   * page's count falls one below its wirings; the next holder to let go — another process's
   * munlock, a vsunlock after I/O, SHM_UNLOCK — drives uvm_pageunwire onto wire_count 0.
   */
  fallingEdge(e: VmMapEntry): void {
    e.wiredCount = 0;
    uvmFaultUnwireLocked(this.vm, this, e.start, e.end);
    const shares = this.shmLockShare(e);
    for (let va = e.start; shares > 0 && va < e.end; va += PAGE_SIZE) {
      const pg = pageAt(e, va) as UvmPage;
      for (let i = 0; i < shares; i++) this.vm.pages.unwire(pg);
    }
  }

  /**
   * The segment-lock wirings a falling edge of `e` releases besides its own: none (the fix —
   * uvm_obj_wirepages' wiring belongs to SHM_UNLOCK alone); with the erratum, the SHM_LOCKs of
   * the entry's object, counted as part of the entry's wired_count as shm_memlock's
   * uvm_map_pageable call made them.
   */
  private shmLockShare(e: VmMapEntry): number {
    if (e.object === null || e.object.wiredAll === 0) return 0;
    return this.vm.kernel.erratum(WIRE_UNDERFLOW) ? e.object.wiredAll : 0;
  }

  /**
   * uvm_map_pageable(map, start, end, FALSE): wire. A hole is KERN_INVALID_ADDRESS and a
   * PROT_NONE entry KERN_PROTECTION_FAILURE, before anything changes. Pass 1 does what the fault
   * would need the write lock for (amap_copy of needs-copy entries that may be written or have no
   * object), clips, and counts wired_count up; pass 2 runs the rising edge of entries now at 1.
   * A failure undoes the counts, and the edges already run.
   */
  wire(start: VAddr, end: VAddr, _kind: EntryWireKind): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.protection === Prot.None) return KERN_PROTECTION_FAILURE;
    }
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.wiredCount !== 0) continue;
      if (e.needsCopy && (e.maxProtection & Prot.Write || e.object === null)) {
        e = this.amapCopy(e, true, Math.max(start, e.start), Math.min(end, e.end));
      }
    }
    const changed = this.clipRange(start, end);
    const rising: VmMapEntry[] = [];
    for (const e of changed) {
      e.wiredCount++;
      if (e.wiredCount === 1) rising.push(e);
    }
    for (let i = 0; i < rising.length; i++) {
      const e = rising[i] as VmMapEntry;
      const rv = this.risingEdge(e);
      if (rv === KERN_SUCCESS) continue;
      for (const c of changed) {
        c.wiredCount--;
        const j = rising.indexOf(c);
        if (c.wiredCount === 0 && j >= 0 && j < i) this.fallingEdge(c);
      }
      this.simplify(start, end);
      return rv;
    }
    this.simplify(start, end);
    this.timestamp++;
    return KERN_SUCCESS;
  }

  /**
   * uvm_map_pageable(map, start, end, TRUE): unwire. A hole is KERN_INVALID_ADDRESS; an entry
   * that is not wired is KERN_INVALID_ARGUMENT (NetBSD's EINVAL; munlock of never-locked memory);
   * nothing changes in either case. "POSIX 1003.1b — a single munlock call unlocks a region,
   * regardless of the number of mlock calls": the count falls to 0 at once. The kernel's own
   * page-table wirings ("system") are counted down one at a time.
   */
  unwire(start: VAddr, end: VAddr, kind: EntryWireKind): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.wiredCount === 0) return KERN_INVALID_ARGUMENT;
    }
    for (const e of this.clipRange(start, end)) {
      if (kind === "system" && e.wiredCount > 1) e.wiredCount--;
      else this.fallingEdge(e);
    }
    this.simplify(start, end);
    this.timestamp++;
    return KERN_SUCCESS;
  }

  /**
   * uvm_map_pageable_all(map, MCL_CURRENT): every entry that is not PROT_NONE counts up, then the
   * rising edges run. On failure the counts go back down and the entries that fell to 0 have
   * their edge undone (NetBSD 1.335 tests VM_MAPENT_ISWIRED the other way round here; see
   * netbsd_uvm.md §2.5).
   */
  wireAll(): KernReturn {
    for (let e = this.header.next; e !== this.header; e = e.next) {
      if (e.system || e.protection === Prot.None || e.wiredCount !== 0) continue;
      if (e.needsCopy && (e.maxProtection & Prot.Write || e.object === null))
        e = this.amapCopy(e, false, e.start, e.end);
    }
    const changed: VmMapEntry[] = [];
    const rising: VmMapEntry[] = [];
    for (let e = this.header.next; e !== this.header; e = e.next) {
      if (e.system || e.protection === Prot.None) continue;
      e.wiredCount++;
      changed.push(e);
      if (e.wiredCount === 1) rising.push(e);
    }
    for (let i = 0; i < rising.length; i++) {
      const rv = this.risingEdge(rising[i] as VmMapEntry);
      if (rv === KERN_SUCCESS) continue;
      for (const c of changed) {
        c.wiredCount--;
        const j = rising.indexOf(c);
        if (c.wiredCount === 0 && j >= 0 && j < i) this.fallingEdge(c);
      }
      this.simplify(this.min, this.max);
      return rv;
    }
    this.simplify(this.min, this.max);
    return KERN_SUCCESS;
  }

  /** uvm_map_pageable_all(map, 0): munlockall — every user-wired entry falls to 0. */
  unwireAll(): void {
    for (let e = this.header.next; e !== this.header; e = e.next) {
      if (!e.system && e.wiredCount > 0) this.fallingEdge(e);
    }
    this.flags &= ~VM_MAP_WIREFUTURE;
    this.simplify(this.min, this.max);
  }
}
