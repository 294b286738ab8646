/**
 * vm_amap: the anonymous-memory layer of a map entry — an array of anon references with a packed
 * list of used slots, shared by reference count between entries, with per-page reference counts
 * (ppref) once entries reference only part of it (NetBSD sys/uvm/uvm_amap.[ch]; netbsd_uvm.md
 * §2.2).
 *
 * An entry reaches its amap through an aref: `amap` and `pageoff`, the slot of the entry's first
 * page. amap_copy gives a needs-copy entry an amap of its own (copying anon references, which
 * become shared: copy-on-write at the anon level, case 1B of the fault); amap_splitref splits a
 * reference when an entry is clipped; amap_cow_now copies shared anons at once (fork of a wired
 * entry). ppref here is one count per slot; UVM's run-length encoding (pp_getreflen /
 * pp_setreflen) of the same counts is left out.
 */
import { PAGE_SIZE, type VAddr } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { analloc, anfree, anonDropSwap, anonGet, type VmAnon } from "./uvm_anon.js";
import { PG_BUSY, PG_FAKE } from "./uvm_page.js";

export const AMAP_SHARED = 0x1;
export const AMAP_REFALL = 0x2;
/** An entry this many pages or larger is chunked by amap_copy (uvm_amap.h). */
export const UVM_AMAP_LARGE = 256;
export const UVM_AMAP_CHUNK = 16;

let nextAmapId = 1;

/** struct vm_amap */
export class VmAmap {
  readonly id = nextAmapId++;
  /** am_ref: references from map entries (arefs). */
  ref = 1;
  /** am_flags */
  flags = 0;
  /** am_maxslot / am_nslot */
  readonly maxslot: number;
  readonly nslot: number;
  /** am_nused */
  nused = 0;
  /** am_slots: the used slots, packed; am_bckptr: slot → its index in am_slots. */
  readonly slots: Int32Array;
  readonly bckptr: Int32Array;
  /** am_anon */
  readonly anon: (VmAnon | null)[];
  /** am_ppref: per-slot reference counts once a partial reference exists (UVM_AMAP_PPREF). */
  ppref: Int32Array | null = null;
  /** Wiped out (last reference gone): for the audit. */
  dead = false;

  constructor(slots: number) {
    this.maxslot = slots;
    this.nslot = slots;
    this.slots = new Int32Array(slots);
    this.bckptr = new Int32Array(slots);
    this.anon = new Array<VmAnon | null>(slots).fill(null);
  }
}

/** What amap code needs of a map entry (struct vm_aref and the entry's range). */
export interface ArefHolder {
  start: VAddr;
  end: VAddr;
  amap: VmAmap | null;
  /** aref.ar_pageoff */
  pageoff: number;
}

/** amap_alloc: an amap of `slots` pages, one reference. */
export function amapAlloc(vm: Uvm, slots: number): VmAmap {
  vm.counters.amapAlloc.value++;
  return new VmAmap(slots);
}

/** amap_lookup(aref, offset): the anon at the entry's page `slotoff`, or null. */
export function amapLookup(e: ArefHolder, slotoff: number): VmAnon | null {
  const amap = e.amap;
  if (!amap) return null;
  return amap.anon[e.pageoff + slotoff] ?? null;
}

/**
 * amap_add(aref, offset, anon, replace). Replacing an anon in a shared amap removes every mapping
 * of the old anon's page: other sharers must fault and find the new one ("XXX: suppose page is
 * supposed to be wired somewhere?").
 */
export function amapAdd(vm: Uvm, e: ArefHolder, slotoff: number, anon: VmAnon, replace: boolean): void {
  const amap = e.amap as VmAmap;
  const slot = e.pageoff + slotoff;
  const old = amap.anon[slot] ?? null;
  if (replace) {
    if (!old) vm.kernel.panic(`amap_add: replacing null anon (amap ${amap.id} slot ${slot})`);
    if (old.page && amap.flags & AMAP_SHARED) vm.pmap.pageProtect(old.page, 0);
  } else {
    if (old) vm.kernel.panic(`amap_add: slot in use (amap ${amap.id} slot ${slot})`);
    amap.bckptr[slot] = amap.nused;
    amap.slots[amap.nused] = slot;
    amap.nused++;
  }
  amap.anon[slot] = anon;
}

/** amap_unadd: empty a slot (the anon's reference is the caller's to drop). */
export function amapUnadd(vm: Uvm, e: ArefHolder, slotoff: number): void {
  const amap = e.amap as VmAmap;
  const slot = e.pageoff + slotoff;
  if (!amap.anon[slot]) vm.kernel.panic(`amap_unadd: nothing there (amap ${amap.id} slot ${slot})`);
  removeSlot(amap, slot);
}

function removeSlot(amap: VmAmap, slot: number): void {
  amap.anon[slot] = null;
  const ptr = amap.bckptr[slot] as number;
  const last = amap.nused - 1;
  if (ptr !== last) {
    const moved = amap.slots[last] as number;
    amap.slots[ptr] = moved;
    amap.bckptr[moved] = ptr;
  }
  amap.nused--;
}

/** amap_pp_establish: every slot starts with the amap's full reference count. */
function ppEstablish(amap: VmAmap): Int32Array {
  if (!amap.ppref) amap.ppref = new Int32Array(amap.nslot).fill(amap.ref);
  return amap.ppref;
}

/**
 * amap_ref(amap, offset, len, flags): one more entry references [pageoff, pageoff+len).
 * AMAP_SHARED marks the amap shared (fork with VM_INHERIT_SHARE, MAP_SHARED).
 */
export function amapRef(amap: VmAmap, pageoff: number, len: number, flags: number): void {
  if (flags & AMAP_SHARED) amap.flags |= AMAP_SHARED;
  if (amap.ppref === null && (flags & AMAP_REFALL) === 0 && (pageoff !== 0 || len !== amap.nslot)) ppEstablish(amap);
  amap.ref++;
  if (amap.ppref) ppAdjref(null, amap, pageoff, len, 1);
}

/**
 * amap_unref(amap, offset, len, all): an entry covering [pageoff, pageoff+len) lets go. At zero
 * references the amap is wiped out; otherwise slots nobody references any more are wiped.
 */
export function amapUnref(vm: Uvm, amap: VmAmap, pageoff: number, len: number): void {
  if (amap.ref <= 0) vm.kernel.panic(`amap_unref: amap ${amap.id} has no references`);
  if (amap.ref === 1) {
    amap.ref = 0;
    amapWipeout(vm, amap);
    return;
  }
  if (amap.ppref === null && (pageoff !== 0 || len !== amap.nslot)) ppEstablish(amap);
  amap.ref--;
  if (amap.ref === 1 && amap.flags & AMAP_SHARED) amap.flags &= ~AMAP_SHARED;
  if (amap.ppref) ppAdjref(vm, amap, pageoff, len, -1);
}

/** amap_pp_adjref: adjust the per-slot counts; slots reaching zero are wiped (amap_wiperange). */
function ppAdjref(vm: Uvm | null, amap: VmAmap, start: number, len: number, adj: number): void {
  const pp = amap.ppref as Int32Array;
  for (let s = start; s < start + len; s++) {
    const r = (pp[s] as number) + adj;
    pp[s] = r;
    if (r < 0) vm?.kernel.panic(`amap_pp_adjref: negative reference count (amap ${amap.id} slot ${s})`);
    if (r === 0 && vm) wipeSlot(vm, amap, s);
  }
}

/** One slot of amap_wiperange: drop the anon's reference, free it at zero. */
function wipeSlot(vm: Uvm, amap: VmAmap, slot: number): void {
  const anon = amap.anon[slot];
  if (!anon) return;
  removeSlot(amap, slot);
  if (anon.ref <= 0) vm.kernel.panic("amap_wipeout: corrupt amap");
  anon.ref--;
  if (anon.ref === 0) anfree(vm, anon);
}

/** amap_wipeout: the last reference is gone; drop every anon reference. */
export function amapWipeout(vm: Uvm, amap: VmAmap): void {
  for (let i = amap.nused - 1; i >= 0; i--) {
    const slot = amap.slots[i] as number;
    const anon = amap.anon[slot];
    if (!anon || anon.ref === 0) vm.kernel.panic("amap_wipeout: corrupt amap");
    amap.anon[slot] = null;
    anon.ref--;
    if (anon.ref === 0) anfree(vm, anon);
  }
  amap.nused = 0;
  amap.dead = true;
  vm.counters.amapFree.value++;
}

/**
 * amap_splitref(origref, splitref, offset): the entry was clipped `pages` pages in; the new half
 * references the same amap further on. ppref is established first, while every reference is
 * still whole.
 */
export function amapSplitref(orig: ArefHolder, split: ArefHolder, pages: number): void {
  const amap = orig.amap as VmAmap;
  ppEstablish(amap);
  amap.ref++;
  split.amap = amap;
  split.pageoff = orig.pageoff + pages;
}

/**
 * amap_copy's core: a new amap for `e` holding the anons of its range of the old amap, each with
 * one more reference (they are now shared between the two amaps: copy-on-write per anon). The
 * entry's reference to the old amap is dropped.
 */
export function amapCopyRefs(vm: Uvm, e: ArefHolder): void {
  const src = e.amap as VmAmap;
  const pages = (e.end - e.start) / PAGE_SIZE;
  const dst = amapAlloc(vm, pages);
  for (let i = 0; i < pages; i++) {
    const anon = src.anon[e.pageoff + i];
    if (!anon) continue;
    anon.ref++;
    dst.anon[i] = anon;
    dst.bckptr[i] = dst.nused;
    dst.slots[dst.nused++] = i;
  }
  const oldOff = e.pageoff;
  e.amap = dst;
  e.pageoff = 0;
  amapUnref(vm, src, oldOff, pages);
  vm.counters.amapCopy.value++;
}

/**
 * amap_cow_now: give `e` private copies, now, of every anon it shares with another amap (fork of
 * a wired entry, whose parent cannot take copy-on-write faults). Swapped-out anons are paged in
 * first. False when memory could not be found.
 */
export function amapCowNow(vm: Uvm, e: ArefHolder): boolean {
  const amap = e.amap;
  if (!amap) return true;
  const pages = (e.end - e.start) / PAGE_SIZE;
  for (let i = 0; i < pages; ) {
    const slot = e.pageoff + i;
    const anon = amap.anon[slot];
    if (!anon || anon.ref === 1) {
      i++;
      continue;
    }
    const got = anonGet(vm, anon);
    if (got !== "ok") {
      if (got === "refault") continue;
      return false;
    }
    const src = anon.page;
    if (!src) continue;
    const nanon = analloc(vm);
    const pg = vm.pages.alloc(null, 0, nanon);
    if (!pg) {
      nanon.ref = 0;
      anfree(vm, nanon);
      if (!vm.waitForMemory("cownow")) return false;
      continue;
    }
    vm.pages.copy(src, pg);
    pg.flags &= ~(PG_BUSY | PG_FAKE);
    vm.pages.activate(pg);
    anon.ref--;
    amap.anon[slot] = nanon;
    vm.counters.forkCowNow.value++;
    i++;
  }
  return true;
}

/** The anons of [pageoff, pageoff+len) of an amap that are dropped by MADV_FREE (amap ref 1 only). */
export function amapFreeAnon(vm: Uvm, e: ArefHolder, slotoff: number): boolean {
  const amap = e.amap;
  if (amap?.ref !== 1) return false;
  const anon = amap.anon[e.pageoff + slotoff];
  if (anon?.ref !== 1) return false;
  const pg = anon.page;
  if (pg && (pg.wireCount !== 0 || pg.loanCount !== 0 || pg.flags & PG_BUSY)) return false;
  removeSlot(amap, e.pageoff + slotoff);
  anon.ref = 0;
  anonDropSwap(vm, anon);
  anfree(vm, anon);
  return true;
}

/** For messages. */
export function amapName(amap: VmAmap): string {
  return `amap ${amap.id} (ref ${amap.ref}, ${amap.nused}/${amap.nslot} slots${amap.flags & AMAP_SHARED ? ", shared" : ""})`;
}
