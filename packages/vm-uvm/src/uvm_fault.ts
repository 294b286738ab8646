/**
 * uvm_fault: the page-fault handler over the two layers (NetBSD sys/uvm/uvm_fault.c; netbsd_uvm.md
 * §2.2), and uvm_fault_wire / uvm_fault_unwire.
 *
 * Lock order "MAPS => AMAP => UOBJ => ANON => PAGE QUEUES": the handler looks the entry up,
 * resolves needs-copy (amap_copy), then the amap slot, then the object, and only then touches page
 * queues. The cases of "a word on page faults":
 *   1A — the anon is there; read, or write with an_ref 1: use its page in place;
 *   1B — write to an anon with an_ref > 1: a new anon with a copy (copy-on-write);
 *   2A — no anon; read, or write to memory that is not copy-on-write: the object's page;
 *   2B — write to copy-on-write memory, or no object at all: promote into a new anon (copied from
 *        the object's page, or zero-filled).
 * Whenever the handler must wait — a busy page, a pager read, no free page — it drops everything,
 * sleeps, and starts over (ReFault), as UVM does after re-locking and checking the map version.
 */
import {
  hex,
  KERN_INVALID_ADDRESS,
  KERN_MEMORY_ERROR,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type KernReturn,
  PAGE_SIZE,
  PMAP_CANFAIL,
  PMAP_WIRED,
  Prot,
  type VAddr,
} from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { AMAP_SHARED, amapAdd, amapLookup } from "./uvm_amap.js";
import { analloc, anfree, anonDropSwap, anonGet, NOSWAP, type VmAnon } from "./uvm_anon.js";
import { loanBreakAnon, loanBreakObject } from "./uvm_loan.js";
import type { VmMap, VmMapEntry } from "./uvm_map.js";
import { PG_BUSY, PG_CLEAN, PG_FAKE, PG_WANTED, type UvmPage } from "./uvm_page.js";
import { UvmVnodeObject } from "./uvm_vnode.js";

/** The handler dropped everything to wait: start over. */
const REFAULT = -1;
const MAX_REFAULTS = 256;

/**
 * uvm_fault(map, va, access_type, flags). `wire` is UVM_FAULT_WIRE (uvm_fault_wire's faults:
 * the page is wired and entered wired); `maxprot` is UVM_FAULT_MAXPROT (check the access against
 * max_protection: uvm_map_pageable wires with the entry's maximum so copy-on-write is resolved).
 */
export function uvmFault(vm: Uvm, map: VmMap, va: VAddr, access: Prot, wire: boolean, maxprot: boolean): KernReturn {
  vm.counters.fault.value++;
  if (wire) {
    vm.counters.faultWire.value++;
    const ptrv = faultPageTables(vm, map, va);
    if (ptrv !== KERN_SUCCESS) return ptrv;
  }
  for (let tries = 0; ; tries++) {
    if (tries > MAX_REFAULTS) vm.kernel.panic(`uvm_fault: refault loop at ${hex(va)} in map ${map.name}`);
    if (tries > 0) vm.counters.faultRefault.value++;
    const rv = faultOnce(vm, map, va, access, wire, maxprot);
    if (rv !== REFAULT) return rv;
  }
}

/** The state the cases share (struct uvm_faultctx). */
interface FaultCtx {
  readonly map: VmMap;
  readonly va: VAddr;
  entry: VmMapEntry;
  /** The access type the fault resolves for (full access for wired entries). */
  access: Prot;
  /** The access the faulting instruction (or vslock) really asked for: what dirties a page. */
  readonly realAccess: Prot;
  enterProt: Prot;
  readonly wire: boolean;
  readonly wired: boolean;
}

function faultOnce(vm: Uvm, map: VmMap, va: VAddr, access: Prot, wire: boolean, maxprot: boolean): KernReturn {
  let entry = map.lookupEntry(va);
  if (!map.contains(entry, va)) return KERN_INVALID_ADDRESS;
  const check = maxprot ? entry.maxProtection : entry.protection;
  if ((access & check) !== access) return KERN_PROTECTION_FAILURE;
  const wired = entry.wiredCount > 0 || wire;
  let resolve = access;
  // "full access for wired": a wired entry never takes a later copy-on-write fault.
  if (entry.wiredCount > 0 && !wire) resolve = entry.protection & (Prot.Read | Prot.Write);
  let enterProt = entry.protection;

  // ---- needs-copy: uvmfault_amapcopy (the map lock would be upgraded here).
  if (entry.needsCopy) {
    if (resolve & Prot.Write || entry.object === null) {
      vm.counters.faultAmapCopy.value++;
      entry = map.amapCopy(entry, !wire, va, va + PAGE_SIZE);
    } else {
      enterProt &= ~Prot.Write;
    }
  }
  if (!entry.amap && !entry.object) vm.kernel.panic(`uvm_fault: layerless entry at ${hex(va)} (case 0)`);

  const f: FaultCtx = {
    map,
    va,
    entry,
    access: resolve,
    realAccess: maxprot ? access & entry.protection : access,
    enterProt,
    wire,
    wired,
  };
  const slotoff = (va - entry.start) / PAGE_SIZE;
  const anon = amapLookup(entry, slotoff);
  return anon ? faultUpper(vm, f, anon, slotoff) : faultLower(vm, f, slotoff);
}

/** Case 1: the anon layer has the page. */
function faultUpper(vm: Uvm, f: FaultCtx, anon: VmAnon, slotoff: number): KernReturn {
  const got = anonGet(vm, anon);
  if (got === "refault") return REFAULT;
  if (got === "shortage") return KERN_RESOURCE_SHORTAGE;
  if (got === "error") return KERN_MEMORY_ERROR;
  let pg = anon.page as UvmPage;

  if (f.access & Prot.Write && anon.ref > 1) {
    // ---- case 1B: copy-on-write of a shared anon.
    const nanon = analloc(vm);
    const npg = vm.pages.alloc(null, 0, nanon);
    if (!npg) {
      nanon.ref = 0;
      anfree(vm, nanon);
      return waitHolding(vm, pg, "flt_noram3");
    }
    vm.pages.copy(pg, npg);
    npg.flags &= ~(PG_BUSY | PG_FAKE);
    amapAdd(vm, f.entry, slotoff, nanon, true);
    anon.ref--;
    vm.counters.faultCow.value++;
    pg = npg;
  } else {
    // ---- case 1A: the anon's page in place.
    vm.counters.faultAnon.value++;
    if (pg.loanCount > 0) {
      if (f.access & Prot.Write) {
        const broke = loanBreakAnon(vm, anon);
        if (!broke) return vm.waitForMemory("flt_noram4") ? REFAULT : KERN_RESOURCE_SHORTAGE;
        pg = broke;
      } else {
        f.enterProt &= ~Prot.Write;
      }
    }
    if (anon.ref > 1) f.enterProt &= ~Prot.Write;
    if (f.realAccess & Prot.Write && anon.swslot !== NOSWAP) {
      // The swap copy is about to go stale.
      anonDropSwap(vm, anon);
      pg.flags &= ~PG_CLEAN;
    }
  }
  return enter(vm, f, pg);
}

/** Case 2: no anon; the object layer, or zero fill. */
function faultLower(vm: Uvm, f: FaultCtx, slotoff: number): KernReturn {
  const e = f.entry;
  const uobj = e.object;
  const promote = uobj === null || (f.access & Prot.Write && e.copyOnWrite);
  let upg: UvmPage | null = null;
  if (uobj) {
    const off = e.offset + slotoff * PAGE_SIZE;
    if (uobj instanceof UvmVnodeObject && uobj.pastEof(off)) return KERN_MEMORY_ERROR;
    const got = uobj.get(vm, off);
    if (got === "refault") return REFAULT;
    if (got === "shortage") return KERN_RESOURCE_SHORTAGE;
    if (got === "error" || got === "eof") return KERN_MEMORY_ERROR;
    upg = got;
  }

  if (!promote) {
    // ---- case 2A: map the object's page.
    let pg = upg as UvmPage;
    vm.counters.faultObj.value++;
    if (e.copyOnWrite) f.enterProt &= ~Prot.Write;
    if (pg.loanCount > 0) {
      if (f.access & Prot.Write && !e.copyOnWrite) {
        const broke = loanBreakObject(vm, pg);
        if (!broke) return vm.waitForMemory("flt_noram5") ? REFAULT : KERN_RESOURCE_SHORTAGE;
        pg = broke;
      } else {
        f.enterProt &= ~Prot.Write;
      }
    }
    if (f.realAccess & Prot.Write && f.enterProt & Prot.Write) pg.flags &= ~PG_CLEAN;
    return enter(vm, f, pg);
  }

  // ---- case 2B: promote into a new anon.
  if (!e.amap) vm.kernel.panic(`uvm_fault: want to promote data, but no anon (va ${hex(f.va)})`);
  const nanon = analloc(vm);
  const npg = vm.pages.alloc(null, 0, nanon);
  if (!npg) {
    nanon.ref = 0;
    anfree(vm, nanon);
    return upg ? waitHolding(vm, upg, "flt_noram2") : vm.waitForMemory("flt_noram2") ? REFAULT : KERN_RESOURCE_SHORTAGE;
  }
  if (upg) {
    vm.pages.copy(upg, npg);
    vm.counters.faultCow.value++;
    // "promote to shared amap? make sure all other mappings of uobjpage are removed"
    // ("XXX: PAGE MIGHT BE WIRED!").
    if (e.amap.flags & AMAP_SHARED) vm.pmap.pageProtect(upg, Prot.None);
  } else {
    vm.pages.zero(npg);
    vm.counters.faultZerofill.value++;
  }
  npg.flags &= ~(PG_BUSY | PG_FAKE);
  amapAdd(vm, e, slotoff, nanon, false);
  return enter(vm, f, npg);
}

/**
 * uvm_wait for a copy-on-write whose source page is resident: the source is held busy while the
 * daemon runs, or the daemon could free exactly that (clean) page to make room, and the refault
 * would read it in again — forever.
 */
function waitHolding(vm: Uvm, src: UvmPage, wmesg: string): KernReturn {
  src.flags |= PG_BUSY;
  const ok = vm.waitForMemory(wmesg);
  src.flags &= ~(PG_BUSY | PG_WANTED);
  return ok ? REFAULT : KERN_RESOURCE_SHORTAGE;
}

/**
 * pmap_enter with PMAP_CANFAIL (and PMAP_WIRED for wired entries and wiring faults); on a
 * resource shortage "flt_pmfail": wait for memory and refault. The page is wired for a wiring
 * fault (uvm_pagewire), else activated.
 */
function enter(vm: Uvm, f: FaultCtx, pg: UvmPage): KernReturn {
  const prot = f.enterProt;
  const flags = (f.wired ? PMAP_WIRED : 0) | (f.access & prot) | PMAP_CANFAIL;
  if (!f.map.pmap.enter(f.va, pg, prot, flags)) {
    vm.pages.activate(pg);
    return waitHolding(vm, pg, "flt_pmfail1");
  }
  if (f.wire) vm.pages.wire(pg);
  else vm.pages.activate(pg);
  return KERN_SUCCESS;
}

/**
 * Page-table pages that live in the user map (pmaps after 4.4BSD i386) must exist before
 * pmap_enter can write the PTE. trap.c faults them in for user faults; a wiring fault has no
 * trap.c in front of it, so it does the same here: fault the page-table page, then wire it.
 */
function faultPageTables(vm: Uvm, map: VmMap, va: VAddr): KernReturn {
  const pmap = map.pmap;
  if (pmap === vm.pmap.kernelPmap) return KERN_SUCCESS;
  for (const ptva of vm.pmap.missingPageTables(pmap, va)) {
    let rv = uvmFault(vm, map, ptva, Prot.Read | Prot.Write, false, false);
    if (rv === KERN_SUCCESS) rv = map.wire(ptva, ptva + PAGE_SIZE, "system");
    if (rv !== KERN_SUCCESS) return rv === KERN_INVALID_ADDRESS ? KERN_RESOURCE_SHORTAGE : rv;
  }
  return KERN_SUCCESS;
}

/**
 * uvm_fault_wire(map, start, end, access_type, maxprot): fault in and wire every page. On a
 * failure the pages wired so far are unwired again. `ownEntry` is how much of each entry's
 * wired_count this wiring itself stands for — 1 at a rising edge (uvm_map_pageable raised it
 * before faulting), 0 for uvm_vslock — so a PTE keeps its wired bit when a wiring older than this
 * call holds the entry (a vslock that fails over an mlock'ed buffer must leave the lock's PTEs
 * wired, as NetBSD's uvm_fault_unwire_locked does by testing VM_MAPENT_ISWIRED).
 */
export function uvmFaultWire(
  vm: Uvm,
  map: VmMap,
  start: VAddr,
  end: VAddr,
  access: Prot,
  maxprot: boolean,
  ownEntry: number,
): KernReturn {
  for (let va = start; va < end; va += PAGE_SIZE) {
    const rv = uvmFault(vm, map, va, access, true, maxprot);
    if (rv !== KERN_SUCCESS) {
      if (va > start) uvmFaultUnwireLocked(vm, map, start, va, ownEntry);
      return rv;
    }
  }
  return KERN_SUCCESS;
}

/**
 * The page an entry holds at va: the anon's if the amap has one there, else the object's.
 * (What the fault would find without faulting.)
 */
export function pageAt(e: VmMapEntry, va: VAddr): UvmPage | null {
  const slotoff = (va - e.start) / PAGE_SIZE;
  const anon = amapLookup(e, slotoff);
  if (anon) return anon.page;
  if (e.object) return e.object.lookup(e.offset + slotoff * PAGE_SIZE) ?? null;
  return null;
}

/**
 * uvm_fault_unwire_locked(map, start, end): unwire each page once; the PTE loses its wired bit
 * when the entry is no longer wired — beyond the `ownEntry` wirings of a failed wiring being
 * undone — and no other vslock holds it (`ownTransient`: the caller's own vslock being undone). The page is found
 * through the entry's layers rather than pmap_extract: a wired page cannot leave them (no
 * pageout, copy-on-write resolved at wiring, fork copies a wired entry's anons), while its mapping
 * can go (mprotect PROT_NONE, pmap_page_protect) — NetBSD's pmap_extract leaked the wiring then.
 */
export function uvmFaultUnwireLocked(
  vm: Uvm,
  map: VmMap,
  start: VAddr,
  end: VAddr,
  ownEntry = 0,
  ownTransient = 0,
): void {
  const pmap = map.pmap;
  let e = map.lookupEntry(start);
  for (let va = start; va < end; va += PAGE_SIZE) {
    while (e !== map.header && va >= e.end) e = e.next;
    if (!map.contains(e, va)) vm.kernel.panic("uvm_fault_unwire_locked: address not in map");
    const pg = pageAt(e, va);
    if (!pg) vm.kernel.panic(`uvm_fault_unwire_locked: no resident page at ${hex(va)} in map ${map.name}`);
    // The PTE keeps its wired bit while another wiring of this mapping remains: the entry's, or a
    // vslock of the same page (munlock must not unwire a buffer under I/O).
    const otherTransient = (map.transient.get(va) ?? 0) > ownTransient;
    if (e.wiredCount <= ownEntry && !otherTransient && pmap.extract(va) === pg.pa) pmap.unwire(va);
    vm.pages.unwire(pg);
  }
}
