/**
 * vm_map: address maps as ordered lists of entries, with sharing maps (4.4BSD-Lite
 * sys/vm/vm_map.[ch]; mach_x86.md A.2).
 *
 * A map is a circular doubly linked list of entries sorted by address, headed by a sentinel
 * entry, with a lookup hint (the last entry found). A main (task) map has a pmap and entries that
 * point either at an object or — `shareMap` set, 4.4BSD's is_a_map — at a sharing map: a map with
 * no pmap whose entries own the objects, so that every main map referencing it sees the same
 * objects (MAP_SHARED / VM_INHERIT_SHARE across fork). Protection, inheritance and wiring are
 * properties of main-map entries; object, offset, needs_copy and copy_on_write of the entry that
 * holds the object (the sharing-map entry for an is_a_map entry).
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
  type WireKind,
} from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { faultUnwire, faultWire } from "./vm_fault.js";
import type { VmObject } from "./vm_object.js";

/** struct vm_map_entry */
export class VmMapEntry {
  prev: VmMapEntry;
  next: VmMapEntry;
  start = 0;
  end = 0;
  /** The object (object.vm_object), or null for memory not touched yet. */
  object: VmObject | null = null;
  /** is_a_map: the sharing map this main-map entry points at (object.share_map). */
  shareMap: VmMap | null = null;
  offset = 0;
  copyOnWrite = false;
  needsCopy = false;
  protection: Prot = Prot.None;
  maxProtection: Prot = Prot.None;
  inheritance: Inheritance = INHERIT_COPY;
  /** wired_count: the entry may be paged only when 0. Counts system/transient wirings, plus one for mlock. */
  wiredCount = 0;
  /** Mach 3.0's user_wired_count as a flag: mlock does not nest (one munlock undoes many mlocks). */
  userWired = false;
  /** Transient (vslock) wirings among wiredCount: released only by a transient unwire. */
  transientCount = 0;
  /** madvise advice recorded on the entry. */
  advice = MADV_NORMAL;
  /** Reserved by the kernel (the 4.4BSD i386 UPT region): never merged with others, never inherited. */
  system = false;
  /** Backed by the kernel object: its pages are freed with the entry (kmem_free). */
  kmem = false;

  constructor() {
    this.prev = this;
    this.next = this;
  }

  get size(): number {
    return this.end - this.start;
  }

  /** A copy of the attributes (vm_map_entry_create + struct assignment); links not copied. */
  clone(): VmMapEntry {
    const n = new VmMapEntry();
    n.start = this.start;
    n.end = this.end;
    n.object = this.object;
    n.shareMap = this.shareMap;
    n.offset = this.offset;
    n.copyOnWrite = this.copyOnWrite;
    n.needsCopy = this.needsCopy;
    n.protection = this.protection;
    n.maxProtection = this.maxProtection;
    n.inheritance = this.inheritance;
    n.wiredCount = this.wiredCount;
    n.userWired = this.userWired;
    n.transientCount = this.transientCount;
    n.advice = this.advice;
    n.system = this.system;
    n.kmem = this.kmem;
    return n;
  }
}

/** What vm_map_lookup hands the fault handler. */
export interface LookupResult {
  /** The main-map entry. */
  readonly entry: VmMapEntry;
  /** The entry that holds the object: `entry`, or the sharing-map entry for an is_a_map entry. */
  readonly objEntry: VmMapEntry;
  readonly object: VmObject;
  readonly offset: number;
  readonly prot: Prot;
  readonly wired: boolean;
}

/** Attributes of a new entry (vm_map_insert's arguments). */
export interface EntryAttrs {
  object?: VmObject | null;
  offset?: number;
  protection: Prot;
  maxProtection: Prot;
  inheritance: Inheritance;
  system?: boolean;
  kmem?: boolean;
  wiredCount?: number;
  /** A private mapping of an object others see (a file, a SysV segment): shadow on first write. */
  needsCopy?: boolean;
}

let nextMapId = 1;

/** struct vm_map */
export class VmMap {
  readonly id = nextMapId++;
  /** The sentinel: header.next is the first entry, header.prev the last. */
  readonly header = new VmMapEntry();
  nentries = 0;
  /** Bytes mapped. */
  size = 0;
  refCount = 1;
  hint: VmMapEntry;
  timestamp = 0;
  /** mlockall(MCL_FUTURE) in force (NetBSD VM_MAP_WIREFUTURE). */
  wireFuture = false;

  constructor(
    readonly vm: VmCore,
    readonly min: VAddr,
    readonly max: VAddr,
    /** Null for a sharing map. */
    readonly pmap: Pmap | null,
    readonly isMainMap: boolean,
    readonly name: string,
  ) {
    this.hint = this.header;
    this.header.start = min;
    this.header.end = max;
  }

  // ------------------------------------------------------------------ list primitives

  /** Whether e is a real entry containing addr. */
  contains(e: VmMapEntry, addr: VAddr): boolean {
    return e !== this.header && e.start <= addr && addr < e.end;
  }

  /**
   * vm_map_lookup_entry: the entry containing addr, or else the entry before addr (the header
   * if none). Starts at the hint when the hint is at or below addr.
   */
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

  /** The first entry that ends after addr (the one containing it, or the next). */
  firstFrom(addr: VAddr): VmMapEntry {
    const e = this.lookupEntry(addr);
    return this.contains(e, addr) ? e : e.next;
  }

  /** Link `e` after `after` (vm_map_entry_link). */
  private link(after: VmMapEntry, e: VmMapEntry): void {
    e.prev = after;
    e.next = after.next;
    after.next.prev = e;
    after.next = e;
    this.nentries++;
  }

  /** vm_map_entry_unlink; the hint moves off the entry. */
  private unlink(e: VmMapEntry): void {
    e.prev.next = e.next;
    e.next.prev = e.prev;
    if (this.hint === e) this.hint = e.prev;
    this.nentries--;
  }

  /** Every entry, in address order (a snapshot). */
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

  /** References the entry holds (object or sharing map) gained by a copy of it. */
  private referenceEntry(e: VmMapEntry): void {
    if (e.shareMap) e.shareMap.refCount++;
    else this.vm.objects.reference(e.object);
  }

  private releaseEntry(e: VmMapEntry): void {
    if (e.shareMap) {
      const sm = e.shareMap;
      e.shareMap = null;
      sm.deallocate();
    } else {
      const obj = e.object;
      e.object = null;
      this.vm.objects.deallocate(obj);
    }
  }

  // ------------------------------------------------------------------ clipping, simplification

  /** vm_map_clip_start: split e so that an entry starts at addr; e keeps the upper half. */
  clipStart(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    const n = e.clone();
    n.end = addr;
    e.offset += addr - e.start;
    e.start = addr;
    this.link(e.prev, n);
    this.referenceEntry(n);
    this.vm.counters.mapClip.value++;
  }

  /** vm_map_clip_end: split e so that an entry ends at addr; e keeps the lower half. */
  clipEnd(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    const n = e.clone();
    n.start = addr;
    n.offset = e.offset + (addr - e.start);
    e.end = addr;
    this.link(e, n);
    this.referenceEntry(n);
    this.vm.counters.mapClip.value++;
  }

  /** The entries of [start, end), clipped to it; false if the range has a hole. */
  private clipRange(start: VAddr, end: VAddr): VmMapEntry[] {
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

  /** Whether two neighbours can become one entry (vm_map_simplify_entry's test). */
  private canMerge(a: VmMapEntry, b: VmMapEntry): boolean {
    if (a === this.header || b === this.header || a.end !== b.start) return false;
    if (a.system || b.system || a.kmem !== b.kmem) return false;
    if (a.object !== b.object || a.shareMap !== b.shareMap) return false;
    if ((a.object !== null || a.shareMap !== null) && a.offset + a.size !== b.offset) return false;
    return (
      a.protection === b.protection &&
      a.maxProtection === b.maxProtection &&
      a.inheritance === b.inheritance &&
      a.wiredCount === b.wiredCount &&
      a.userWired === b.userWired &&
      a.transientCount === b.transientCount &&
      a.needsCopy === b.needsCopy &&
      a.copyOnWrite === b.copyOnWrite &&
      a.advice === b.advice
    );
  }

  /** vm_map_simplify over [start, end] and its neighbours: merge compatible adjacent entries. */
  simplify(start: VAddr, end: VAddr): void {
    let e = this.lookupEntry(start);
    if (e === this.header) e = e.next;
    else if (e.prev !== this.header) e = e.prev;
    while (e !== this.header && e.next !== this.header && e.start <= end) {
      const n = e.next;
      if (this.canMerge(e, n)) {
        e.end = n.end;
        this.unlink(n);
        this.releaseEntry(n);
        this.vm.counters.mapSimplify.value++;
      } else {
        e = n;
      }
    }
  }

  // ------------------------------------------------------------------ insert, find space

  /**
   * vm_map_insert: a new entry for [start, end), which must be free. A null object next to an
   * entry whose object can simply grow is coalesced into it (vm_object_coalesce).
   */
  insert(start: VAddr, end: VAddr, a: EntryAttrs): VmMapEntry {
    const prev = this.lookupEntry(start);
    if (this.contains(prev, start) || (prev.next !== this.header && prev.next.start < end)) {
      this.vm.kernel.panic(`vm_map_insert: [${hex(start)}, ${hex(end)}) is not free in map ${this.name}`);
    }
    const object = a.object ?? null;
    if (object === null && this.coalesce(prev, start, end, a)) return prev;
    const e = new VmMapEntry();
    e.start = start;
    e.end = end;
    e.object = object;
    e.offset = a.offset ?? 0;
    e.protection = a.protection;
    e.maxProtection = a.maxProtection;
    e.inheritance = a.inheritance;
    e.system = a.system ?? false;
    e.kmem = a.kmem ?? false;
    e.wiredCount = a.wiredCount ?? 0;
    e.needsCopy = a.needsCopy ?? false;
    e.copyOnWrite = e.needsCopy;
    this.link(prev, e);
    this.size += end - start;
    this.timestamp++;
    return e;
  }

  /** Link a prepared entry (vmspace_fork's clones); its range must be free. It keeps its references. */
  insertEntry(e: VmMapEntry): void {
    const prev = this.lookupEntry(e.start);
    if (this.contains(prev, e.start) || (prev.next !== this.header && prev.next.start < e.end)) {
      this.vm.kernel.panic(`vm_map_entry_link: [${hex(e.start)}, ${hex(e.end)}) is not free in map ${this.name}`);
    }
    this.link(prev, e);
    this.size += e.size;
    this.timestamp++;
  }

  /**
   * vm_object_coalesce from vm_map_insert: extend the previous entry and its object instead of
   * making a new one, when the previous object is private to that entry (one reference, no
   * pager, no shadow, no copy) and the attributes match.
   */
  private coalesce(prev: VmMapEntry, start: VAddr, end: VAddr, a: EntryAttrs): boolean {
    if (prev === this.header || prev.end !== start || !this.isMainMap) return false;
    if (prev.shareMap || prev.system || prev.kmem || a.system || a.kmem) return false;
    if (prev.wiredCount !== 0 || (a.wiredCount ?? 0) !== 0 || prev.needsCopy || prev.copyOnWrite) return false;
    if (
      prev.protection !== a.protection ||
      prev.maxProtection !== a.maxProtection ||
      prev.inheritance !== a.inheritance ||
      prev.advice !== MADV_NORMAL
    ) {
      return false;
    }
    const obj = prev.object;
    if (obj !== null) {
      if (obj.refCount !== 1 || obj.pager !== null || obj.shadow !== null || obj.copy !== null) return false;
      // Pages may be left over past the old end from an earlier unmap: they must not reappear.
      const newStart = prev.offset + prev.size;
      const newEnd = newStart + (end - start);
      this.vm.objects.pageRemove(obj, newStart, newEnd);
      if (obj.size < newEnd) obj.size = newEnd;
    }
    prev.end = end;
    this.size += end - start;
    this.timestamp++;
    this.vm.counters.mapCoalesce.value++;
    return true;
  }

  /**
   * vm_map_findspace: the lowest address ≥ hint (and ≥ lo) where `length` bytes fit below hi;
   * -1 if none.
   */
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

  // ------------------------------------------------------------------ delete

  /** vm_map_delete over [start, end): unwire, remove translations, drop references. */
  delete(start: VAddr, end: VAddr, removeTranslations = true): void {
    let e = this.lookupEntry(start);
    if (this.contains(e, start)) this.clipStart(e, start);
    else e = e.next;
    while (e !== this.header && e.start < end) {
      this.clipEnd(e, end);
      const next = e.next;
      this.deleteEntry(e, removeTranslations);
      e = next;
    }
    this.timestamp++;
  }

  /**
   * vm_map_entry_delete with what vm_map_delete does first: unwire the entry, then remove its
   * translations (kernel-object entries free their pages outright), then drop the reference —
   * in that order, so that freed frames never keep stale translations.
   */
  private deleteEntry(e: VmMapEntry, removeTranslations: boolean): void {
    if (e.wiredCount > 0) {
      faultUnwire(this.vm, this, e, e.start, e.end);
      e.wiredCount = 0;
      e.userWired = false;
      e.transientCount = 0;
    }
    if (removeTranslations && this.pmap) this.pmap.remove(e.start, e.end);
    if (e.kmem && e.object) this.vm.objects.pageRemove(e.object, e.offset, e.offset + e.size);
    this.unlink(e);
    this.size -= e.size;
    this.releaseEntry(e);
  }

  /** vm_map_deallocate: drop a reference; at zero delete every entry (sharing maps). */
  deallocate(): void {
    if (this.refCount <= 0) this.vm.kernel.panic(`vm_map_deallocate: map ${this.name} ref_count underflow`);
    this.refCount--;
    if (this.refCount > 0) return;
    this.delete(this.min, this.max, false);
  }

  // ------------------------------------------------------------------ protect, inherit

  /**
   * vm_map_protect: pass 1 refuses a hole (KERN_INVALID_ADDRESS, NetBSD's ENOMEM) and a new
   * protection above an entry's maximum (KERN_PROTECTION_FAILURE); pass 2 clips and sets, and
   * lowers the pmap's rights. With setMax, max = new and protection = new & old. The pmap never
   * gets WRITE on copy-on-write memory this way: that waits for the write fault.
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
      if (e.protection !== old) this.pmapProtectEntry(e);
      // NetBSD uvm_map_protect: under mlockall(MCL_FUTURE) an entry leaving PROT_NONE gets wired.
      if (this.wireFuture && old === Prot.None && e.protection !== Prot.None && !e.userWired && !e.system) {
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

  /** pmap_protect of an entry's range, dropping WRITE where the data is copy-on-write. */
  private pmapProtectEntry(e: VmMapEntry): void {
    const pmap = this.pmap;
    if (!pmap) return;
    const sm = e.shareMap;
    if (!sm) {
      const mask = e.copyOnWrite || e.needsCopy ? ~Prot.Write : Prot.All;
      pmap.protect(e.start, e.end, e.protection & mask);
      return;
    }
    // is_a_map: the copy-on-write state lives in the sharing map's entries.
    const base = e.offset;
    for (let se = sm.firstFrom(base); se !== sm.header && se.start < base + e.size; se = se.next) {
      const s = Math.max(se.start, base) - base + e.start;
      const t = Math.min(se.end, base + e.size) - base + e.start;
      const mask = se.copyOnWrite || se.needsCopy ? ~Prot.Write : Prot.All;
      pmap.protect(s, t, e.protection & mask);
    }
  }

  /** vm_map_inherit (no hole check, as in 4.4BSD and NetBSD). */
  inherit(start: VAddr, end: VAddr, inh: number): KernReturn {
    if (!Number.isInteger(inh) || inh < 0 || inh > INHERIT_ZERO) return KERN_INVALID_ARGUMENT;
    for (const e of this.clipRange(start, end)) e.inheritance = inh as Inheritance;
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /** Record madvise advice on the entries of the range (NetBSD uvm_map_advice). */
  advise(start: VAddr, end: VAddr, advice: number): void {
    for (const e of this.clipRange(start, end)) e.advice = advice;
    this.simplify(start, end);
  }

  // ------------------------------------------------------------------ wiring (vm_map_pageable)

  /**
   * vm_map_pageable(FALSE): wire [start, end). A hole is KERN_INVALID_ADDRESS and a PROT_NONE
   * entry KERN_PROTECTION_FAILURE, both before anything changes. "mlock" sets the entry's user
   * flag (no nesting: an entry already user-wired is left alone); "system"/"transient" count,
   * and transient wirings are also counted apart so that vsunlock releases only its own.
   * Entries whose wired_count becomes 1 are faulted in and their pages wired (vm_fault_wire);
   * a failure undoes everything this call did.
   */
  wire(start: VAddr, end: VAddr, kind: WireKind): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.protection === Prot.None) return KERN_PROTECTION_FAILURE;
    }
    // Pass 1 of vm_map_pageable: do what vm_map_lookup would do, before clipping, so that the
    // pieces of a clipped entry keep one object at contiguous offsets (and can merge again).
    const objects = this.vm.objects;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.wiredCount !== 0 || e.shareMap) continue;
      if (e.needsCopy) {
        e.object = objects.shadow(e.object, e.offset, e.size);
        e.offset = 0;
        e.needsCopy = false;
      }
      if (e.object === null) {
        e.object = objects.allocate(e.size, e.system ? "upt" : "anon");
        e.offset = 0;
      }
    }
    const changed: VmMapEntry[] = [];
    const fresh: VmMapEntry[] = [];
    for (const e of this.clipRange(start, end)) {
      if (kind === "mlock") {
        if (e.userWired) continue;
        e.userWired = true;
      }
      e.wiredCount++;
      if (kind === "transient") e.transientCount++;
      changed.push(e);
      if (e.wiredCount === 1) fresh.push(e);
    }
    for (let i = 0; i < fresh.length; i++) {
      const e = fresh[i] as VmMapEntry;
      const rv = faultWire(this.vm, this, e, e.start, e.end);
      if (rv !== KERN_SUCCESS) {
        for (let j = 0; j < i; j++) {
          const w = fresh[j] as VmMapEntry;
          faultUnwire(this.vm, this, w, w.start, w.end);
        }
        for (const c of changed) {
          c.wiredCount--;
          if (kind === "mlock") c.userWired = false;
          if (kind === "transient") c.transientCount--;
        }
        this.simplify(start, end);
        return rv;
      }
    }
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /**
   * vm_map_pageable(TRUE): unwire [start, end). A hole is KERN_INVALID_ADDRESS; an entry without
   * the wiring being undone is KERN_INVALID_ARGUMENT (NetBSD's munlock of unlocked memory);
   * nothing changes in either case. Entries reaching wired_count 0 have their pages unwired.
   */
  unwire(start: VAddr, end: VAddr, kind: WireKind): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      const user = e.userWired ? 1 : 0;
      const have =
        kind === "mlock" ? user : kind === "transient" ? e.transientCount : e.wiredCount - user - e.transientCount;
      if (have <= 0) return KERN_INVALID_ARGUMENT;
    }
    for (const e of this.clipRange(start, end)) {
      if (kind === "mlock") e.userWired = false;
      if (kind === "transient") e.transientCount--;
      e.wiredCount--;
      if (e.wiredCount === 0) faultUnwire(this.vm, this, e, e.start, e.end);
    }
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  // ------------------------------------------------------------------ lookup for vm_fault

  /**
   * vm_map_lookup (mach_x86.md A.2): find the entry, check the access against its protection,
   * follow an is_a_map entry into its sharing map, resolve needs_copy (shadow on a write — or
   * on a wiring fault, see vm_fault — else map read-only), and allocate the object of untouched
   * memory. `wiring` is vm_fault's change_wiring.
   */
  lookup(va: VAddr, faultType: Prot, wiring: boolean): LookupResult | KernReturn {
    const entry = this.lookupEntry(va);
    if (!this.contains(entry, va)) return KERN_INVALID_ADDRESS;
    let prot = entry.protection;
    if ((faultType & prot) !== faultType) return KERN_PROTECTION_FAILURE;
    const wired = entry.wiredCount > 0;
    if (wired || wiring) faultType = prot;

    let objEntry = entry;
    let where = va;
    const sm = entry.shareMap;
    if (sm) {
      where = va - entry.start + entry.offset;
      objEntry = sm.lookupEntry(where);
      if (!sm.contains(objEntry, where)) return KERN_INVALID_ADDRESS;
    }
    const objects = this.vm.objects;
    if (objEntry.needsCopy) {
      if (faultType & Prot.Write || wiring) {
        objEntry.object = objects.shadow(objEntry.object, objEntry.offset, objEntry.size);
        objEntry.offset = 0;
        objEntry.needsCopy = false;
      } else {
        prot &= ~Prot.Write;
      }
    }
    if (objEntry.object === null) {
      objEntry.object = objects.allocate(objEntry.size, this.isMainMap && entry.system ? "upt" : "anon");
      objEntry.offset = 0;
    }
    const offset = where - objEntry.start + objEntry.offset;
    return { entry, objEntry, object: objEntry.object, offset, prot, wired: wired || wiring };
  }

  /** The entry holding the object for va of main entry e, and the offset in that object. */
  objectAt(e: VmMapEntry, va: VAddr): { objEntry: VmMapEntry; offset: number } | undefined {
    const sm = e.shareMap;
    if (!sm) return { objEntry: e, offset: va - e.start + e.offset };
    const where = va - e.start + e.offset;
    const se = sm.lookupEntry(where);
    if (!sm.contains(se, where)) return undefined;
    return { objEntry: se, offset: where - se.start + se.offset };
  }

  /** Pages of [start, end) (for messages). */
  static pages(start: VAddr, end: VAddr): number {
    return (end - start) / PAGE_SIZE;
  }
}
