/**
 * vm_map: address maps (FreeBSD sys/vm/vm_map.[ch], 5.x-11.x).
 *
 * A map's entries are kept twice, as in FreeBSD: a doubly linked list sorted by address (headed
 * by a sentinel) for walks, and a self-adjusting binary search tree (vm_map_entry_splay, Sleator
 * and Tarjan's top-down splay) for lookups, so a lookup near the last one is nearly free and any
 * lookup is amortised O(log n). Entries point straight at objects — FreeBSD dropped Mach's sharing
 * maps: MAP_SHARED memory is one object referenced by every entry that shares it, and fork
 * shadows a needs-copy object first so that sharers share the shadow.
 *
 * Wiring keeps user wiring (mlock, MAP_ENTRY_USER_WIRED: a flag, not nesting) apart from system
 * wiring (vslock, the kernel: counted), both in wired_count (vm_map_wire / vm_map_unwire).
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
import { OBJ_ONEMAPPING, ObjectTable, type VmObject } from "./vm_object.js";

/** struct vm_map_entry */
export class VmMapEntry {
  prev: VmMapEntry;
  next: VmMapEntry;
  /** Splay tree children. */
  left: VmMapEntry | null = null;
  right: VmMapEntry | null = null;
  start = 0;
  end = 0;
  object: VmObject | null = null;
  /** Byte offset into the object. */
  offset = 0;
  /** MAP_ENTRY_COW: a private mapping (copy-on-write). */
  cow = false;
  /** MAP_ENTRY_NEEDS_COPY: the object is shared read-only; the first write shadows it. */
  needsCopy = false;
  /** MAP_ENTRY_USER_WIRED */
  userWired = false;
  protection: Prot = Prot.None;
  maxProtection: Prot = Prot.None;
  inheritance: Inheritance = INHERIT_COPY;
  wiredCount = 0;
  /** MAP_ENTRY_BEHAV_* (madvise). */
  advice = MADV_NORMAL;
  /** Reserved by the kernel (the 4.4BSD i386 UPT region under pmap-mach): never merged or inherited. */
  system = false;
  /** Backed by a kernel object: its pages go with the entry (kmem_free). */
  kmem = false;

  constructor() {
    this.prev = this;
    this.next = this;
  }

  get size(): number {
    return this.end - this.start;
  }

  clone(): VmMapEntry {
    const n = new VmMapEntry();
    n.start = this.start;
    n.end = this.end;
    n.object = this.object;
    n.offset = this.offset;
    n.cow = this.cow;
    n.needsCopy = this.needsCopy;
    n.userWired = this.userWired;
    n.protection = this.protection;
    n.maxProtection = this.maxProtection;
    n.inheritance = this.inheritance;
    n.wiredCount = this.wiredCount;
    n.advice = this.advice;
    n.system = this.system;
    n.kmem = this.kmem;
    return n;
  }
}

export interface LookupResult {
  readonly entry: VmMapEntry;
  readonly object: VmObject;
  readonly pindex: number;
  readonly prot: Prot;
  readonly wired: boolean;
}

export interface EntryAttrs {
  object?: VmObject | null;
  offset?: number;
  protection: Prot;
  maxProtection: Prot;
  inheritance: Inheritance;
  cow?: boolean;
  needsCopy?: boolean;
  system?: boolean;
  kmem?: boolean;
  wiredCount?: number;
}

let nextMapId = 1;

/** struct vm_map */
export class VmMap {
  readonly id = nextMapId++;
  readonly header = new VmMapEntry();
  /** Root of the splay tree. */
  root: VmMapEntry | null = null;
  nentries = 0;
  size = 0;
  timestamp = 0;
  /** MAP_WIREFUTURE (mlockall MCL_FUTURE). */
  wireFuture = false;
  /** The kernel's own maps: clipping never allocates an object for an entry without one. */
  readonly systemMap: boolean;
  private readonly dummy = new VmMapEntry();

  constructor(
    readonly vm: VmCore,
    readonly min: VAddr,
    readonly max: VAddr,
    readonly pmap: Pmap,
    readonly name: string,
  ) {
    this.header.start = max;
    this.header.end = min;
    this.systemMap = name === "kernel_map";
  }

  // ------------------------------------------------------------------ the splay tree

  /**
   * vm_map_entry_splay(addr, root): top-down splay; the returned root contains addr, or is the
   * entry just before or after it.
   */
  private splay(addr: VAddr, root: VmMapEntry | null): VmMapEntry | null {
    if (!root) return null;
    const d = this.dummy;
    d.left = d.right = null;
    let l = d;
    let r = d;
    let t = root;
    for (;;) {
      if (addr < t.start) {
        let y = t.left;
        if (!y) break;
        if (addr < y.start) {
          t.left = y.right;
          y.right = t;
          t = y;
          y = t.left;
          if (!y) break;
        }
        r.left = t;
        r = t;
        t = y;
      } else if (addr >= t.end) {
        let y = t.right;
        if (!y) break;
        if (addr >= y.end) {
          t.right = y.left;
          y.left = t;
          t = y;
          y = t.right;
          if (!y) break;
        }
        l.right = t;
        l = t;
        t = y;
      } else {
        break;
      }
    }
    l.right = t.left;
    r.left = t.right;
    t.left = d.right;
    t.right = d.left;
    d.left = d.right = null;
    return t;
  }

  /** vm_map_entry_link(map, after_where, entry) */
  private link(after: VmMapEntry, e: VmMapEntry): void {
    e.prev = after;
    e.next = after.next;
    after.next.prev = e;
    after.next = e;
    this.nentries++;
    if (after !== this.header) {
      if (after !== this.root) this.root = this.splay(after.start, this.root);
      e.right = after.right;
      e.left = after;
      after.right = null;
    } else {
      e.right = this.root;
      e.left = null;
    }
    this.root = e;
  }

  /** vm_map_entry_unlink */
  private unlink(e: VmMapEntry): void {
    if (e !== this.root) this.root = this.splay(e.start, this.root);
    let root: VmMapEntry | null;
    if (!e.left) root = e.right;
    else {
      root = this.splay(e.start, e.left) as VmMapEntry;
      root.right = e.right;
    }
    this.root = root;
    e.left = e.right = null;
    e.prev.next = e.next;
    e.next.prev = e.prev;
    this.nentries--;
  }

  contains(e: VmMapEntry, addr: VAddr): boolean {
    return e !== this.header && e.start <= addr && addr < e.end;
  }

  /** vm_map_lookup_entry: the entry containing addr, or the one before it (header if none). */
  lookupEntry(addr: VAddr): VmMapEntry {
    const cur = this.root;
    if (cur && addr >= cur.start && addr < cur.end) return cur;
    const t = this.splay(addr, cur);
    this.root = t;
    if (!t) return this.header;
    return addr >= t.start ? t : t.prev;
  }

  firstFrom(addr: VAddr): VmMapEntry {
    const e = this.lookupEntry(addr);
    return this.contains(e, addr) ? e : e.next;
  }

  entries(): VmMapEntry[] {
    const out: VmMapEntry[] = [];
    for (let e = this.header.next; e !== this.header; e = e.next) out.push(e);
    return out;
  }

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

  // ------------------------------------------------------------------ clip, simplify

  /**
   * vm_map_clip_start: split so that an entry starts at addr. An entry of a user map without an
   * object gets one first, so both halves share it (and can merge again).
   */
  clipStart(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    this.backEntry(e);
    const n = e.clone();
    n.end = addr;
    e.offset += addr - e.start;
    e.start = addr;
    this.link(e.prev, n);
    this.vm.objects.reference(n.object);
    this.vm.counters.mapClip.value++;
  }

  /** vm_map_clip_end */
  clipEnd(e: VmMapEntry, addr: VAddr): void {
    if (addr <= e.start || addr >= e.end) return;
    this.backEntry(e);
    const n = e.clone();
    n.start = addr;
    n.offset = e.offset + (addr - e.start);
    e.end = addr;
    this.link(e, n);
    this.vm.objects.reference(n.object);
    this.vm.counters.mapClip.value++;
  }

  /** The anonymous object vm_map_clip_* (and vm_map_lookup) allocate for an untouched entry. */
  backEntry(e: VmMapEntry): void {
    if (e.object !== null || this.systemMap) return;
    const n = this.vm.pages.param.level0Npages;
    e.object = this.vm.objects.allocate(
      "default",
      e.size / PAGE_SIZE,
      e.system ? "upt" : "anon",
      (e.start / PAGE_SIZE) % n,
    );
    e.offset = 0;
  }

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

  private canMerge(a: VmMapEntry, b: VmMapEntry): boolean {
    if (a === this.header || b === this.header || a.end !== b.start) return false;
    if (a.system || b.system || a.kmem !== b.kmem || a.object !== b.object) return false;
    if (a.object !== null && a.offset + a.size !== b.offset) return false;
    return (
      a.protection === b.protection &&
      a.maxProtection === b.maxProtection &&
      a.inheritance === b.inheritance &&
      a.wiredCount === b.wiredCount &&
      a.userWired === b.userWired &&
      a.needsCopy === b.needsCopy &&
      a.cow === b.cow &&
      a.advice === b.advice
    );
  }

  /** vm_map_simplify_entry over the entries touching [start, end]. */
  simplify(start: VAddr, end: VAddr): void {
    let e = this.lookupEntry(start);
    if (e === this.header) e = e.next;
    else if (e.prev !== this.header) e = e.prev;
    while (e !== this.header && e.next !== this.header && e.start <= end) {
      const n = e.next;
      if (this.canMerge(e, n)) {
        this.unlink(n);
        e.end = n.end;
        this.vm.objects.deallocate(n.object);
        this.vm.counters.mapSimplify.value++;
      } else {
        e = n;
      }
    }
  }

  // ------------------------------------------------------------------ insert, find space

  /**
   * vm_map_insert: a new entry for the free range [start, end). Anonymous memory next to an
   * anonymous entry whose object can grow extends that entry (vm_object_coalesce).
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
    e.cow = a.cow ?? false;
    e.needsCopy = a.needsCopy ?? false;
    e.system = a.system ?? false;
    e.kmem = a.kmem ?? false;
    e.wiredCount = a.wiredCount ?? 0;
    this.link(prev, e);
    this.size += end - start;
    this.timestamp++;
    return e;
  }

  /** Link a prepared entry (vmspace_fork's copies); it keeps its references. */
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
   * vm_object_coalesce from vm_map_insert: grow the previous entry's anonymous object instead of
   * making a new entry, when it is private to that entry (one reference, no backing object),
   * removing any pages and swap left past its old end by an earlier unmap.
   */
  private coalesce(prev: VmMapEntry, start: VAddr, end: VAddr, a: EntryAttrs): boolean {
    if (prev === this.header || prev.end !== start || this.systemMap) return false;
    if (prev.system || prev.kmem || a.system || a.kmem || (a.wiredCount ?? 0) !== 0 || prev.wiredCount !== 0)
      return false;
    if (prev.needsCopy || prev.cow !== (a.cow ?? false) || prev.advice !== MADV_NORMAL) return false;
    if (
      prev.protection !== a.protection ||
      prev.maxProtection !== a.maxProtection ||
      prev.inheritance !== a.inheritance
    ) {
      return false;
    }
    const obj = prev.object;
    if (obj !== null) {
      if (!ObjectTable.anonymous(obj) || obj.refCount !== 1 || obj.backing !== null) return false;
      const next = (prev.offset + prev.size) / PAGE_SIZE;
      const grow = (end - start) / PAGE_SIZE;
      this.vm.objects.pageRemove(obj, next, next + grow, false);
      this.vm.swap.freeSpace(obj, next, next + grow);
      if (obj.size < next + grow) obj.size = next + grow;
    }
    prev.end = end;
    this.size += end - start;
    this.timestamp++;
    this.vm.counters.mapCoalesce.value++;
    return true;
  }

  /**
   * vm_map_findspace: the lowest address ≥ hint (and ≥ lo) where `length` bytes fit below hi,
   * aligned to `align` bytes plus `phase`; -1 if none.
   */
  findSpace(hint: VAddr, length: number, lo: VAddr, hi: VAddr, align = PAGE_SIZE, phase = 0): VAddr {
    const up = (x: VAddr): VAddr => Math.ceil((x - phase) / align) * align + phase;
    let start = up(Math.max(hint, lo));
    if (length <= 0) return -1;
    let e = this.lookupEntry(start);
    if (this.contains(e, start)) start = up(e.end);
    for (;;) {
      if (start + length > hi) return -1;
      const n = e.next;
      if (n === this.header || n.start >= start + length) return start + length <= this.max ? start : -1;
      e = n;
      if (e.end > start) start = up(e.end);
    }
  }

  // ------------------------------------------------------------------ delete

  /** vm_map_delete over [start, end). */
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
   * vm_map_delete's work on one entry, then vm_map_entry_delete: unwire, pmap_remove, and for an
   * object only this mapping can see (OBJ_ONEMAPPING, or a kernel object) free the range's pages
   * and swap now and shrink the object if the range was its tail; then drop the reference.
   */
  private deleteEntry(e: VmMapEntry, removeTranslations: boolean): void {
    if (e.wiredCount > 0) {
      faultUnwire(this.vm, this, e, e.start, e.end);
      e.wiredCount = 0;
      e.userWired = false;
    }
    if (removeTranslations) this.pmap.remove(e.start, e.end);
    const obj = e.object;
    if (obj && (e.kmem || (obj.refCount !== 1 && obj.flags & OBJ_ONEMAPPING && ObjectTable.anonymous(obj)))) {
      const s = e.offset / PAGE_SIZE;
      const t = s + e.size / PAGE_SIZE;
      if (!e.kmem) this.vm.objects.collapse(obj);
      this.vm.objects.pageRemove(obj, s, t, false);
      this.vm.swap.freeSpace(obj, s, t);
      if (!e.kmem && t >= obj.size && s < obj.size) obj.size = s;
    }
    this.unlink(e);
    this.size -= e.size;
    e.object = null;
    this.vm.objects.deallocate(obj);
  }

  // ------------------------------------------------------------------ protect, inherit, advise

  /**
   * vm_map_protect: a hole is KERN_INVALID_ADDRESS, a protection above an entry's maximum
   * KERN_PROTECTION_FAILURE, both checked before anything changes. Copy-on-write entries never
   * get write access in the pmap this way.
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
        const mask = e.cow || e.needsCopy ? ~Prot.Write : Prot.All;
        this.pmap.protect(e.start, e.end, e.protection & mask);
      }
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

  /** vm_map_inherit */
  inherit(start: VAddr, end: VAddr, inh: number): KernReturn {
    if (!Number.isInteger(inh) || inh < 0 || inh > INHERIT_ZERO) return KERN_INVALID_ARGUMENT;
    for (const e of this.clipRange(start, end)) e.inheritance = inh as Inheritance;
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /** vm_map_madvise for the behaviours recorded on entries. */
  advise(start: VAddr, end: VAddr, advice: number): void {
    for (const e of this.clipRange(start, end)) e.advice = advice;
    this.simplify(start, end);
  }

  // ------------------------------------------------------------------ wiring

  /**
   * vm_map_wire: a hole is KERN_INVALID_ADDRESS, a PROT_NONE entry KERN_PROTECTION_FAILURE.
   * User wiring sets MAP_ENTRY_USER_WIRED once (mlock does not nest); system wiring counts.
   * Entries whose wired_count becomes 1 are faulted in and wired (vm_fault_wire); on failure
   * everything this call did is undone.
   */
  wire(start: VAddr, end: VAddr, kind: WireKind, access: Prot = Prot.None): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.protection === Prot.None) return KERN_PROTECTION_FAILURE;
      if ((access & e.protection) !== access) return KERN_PROTECTION_FAILURE;
    }
    // Resolve needs-copy and back untouched entries before clipping, so the pieces of a clipped
    // entry keep one object at contiguous offsets.
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      if (e.wiredCount !== 0) continue;
      this.resolveNeedsCopy(e);
      this.backEntry(e);
    }
    const changed: VmMapEntry[] = [];
    const fresh: VmMapEntry[] = [];
    for (const e of this.clipRange(start, end)) {
      if (kind === "mlock") {
        if (e.userWired) continue;
        e.userWired = true;
      }
      e.wiredCount++;
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
        }
        this.simplify(start, end);
        return rv;
      }
    }
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /**
   * vm_map_unwire: a hole is KERN_INVALID_ADDRESS; an entry without the wiring being undone is
   * KERN_INVALID_ARGUMENT; nothing changes in either case.
   */
  unwire(start: VAddr, end: VAddr, kind: WireKind): KernReturn {
    if (!this.covered(start, end)) return KERN_INVALID_ADDRESS;
    for (let e = this.firstFrom(start); e !== this.header && e.start < end; e = e.next) {
      const have = kind === "mlock" ? (e.userWired ? 1 : 0) : e.wiredCount - (e.userWired ? 1 : 0);
      if (have <= 0) return KERN_INVALID_ARGUMENT;
    }
    for (const e of this.clipRange(start, end)) {
      if (kind === "mlock") e.userWired = false;
      e.wiredCount--;
      if (e.wiredCount === 0) faultUnwire(this.vm, this, e, e.start, e.end);
    }
    this.simplify(start, end);
    return KERN_SUCCESS;
  }

  /** vm_object_shadow for a needs-copy entry (vm_map_lookup's write path). */
  resolveNeedsCopy(e: VmMapEntry): void {
    if (!e.needsCopy) return;
    const obj = e.object as VmObject;
    const r = this.vm.objects.shadow(obj, e.offset, e.size / PAGE_SIZE);
    e.object = r.object;
    e.offset = r.offset;
    e.needsCopy = false;
  }

  // ------------------------------------------------------------------ lookup for vm_fault

  /**
   * vm_map_lookup: the entry, the access checked against its protection, needs-copy resolved
   * (shadow on a write or a wiring fault, else map read-only), the object of untouched memory
   * allocated.
   */
  lookup(va: VAddr, faultType: Prot, wiring: boolean): LookupResult | KernReturn {
    const entry = this.lookupEntry(va);
    if (!this.contains(entry, va)) return KERN_INVALID_ADDRESS;
    let prot = entry.protection;
    if ((faultType & prot) !== faultType) return KERN_PROTECTION_FAILURE;
    const wired = entry.wiredCount > 0;
    if (wired || wiring) faultType = prot;
    if (entry.needsCopy) {
      if (faultType & Prot.Write || wiring) this.resolveNeedsCopy(entry);
      else prot &= ~Prot.Write;
    }
    this.backEntry(entry);
    const object = entry.object as VmObject;
    const pindex = (va - entry.start + entry.offset) / PAGE_SIZE;
    return { entry, object, pindex, prot, wired: wired || wiring };
  }

  /** The first object and pindex behind va of entry e. */
  objectAt(e: VmMapEntry, va: VAddr): { object: VmObject | null; pindex: number } {
    return { object: e.object, pindex: (va - e.start + e.offset) / PAGE_SIZE };
  }
}
