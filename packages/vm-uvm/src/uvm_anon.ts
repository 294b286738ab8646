/**
 * vm_anon: one page of anonymous memory, named by the amap slots that reference it (NetBSD
 * sys/uvm/uvm_anon.[ch]; netbsd_uvm.md §2.2). `ref` counts amap slots (and anon loans); `page` is
 * the resident page (pg.uanon points back, PQ_ANON); `swslot` the swap slot holding a copy, or -1.
 */
import { hex } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { PG_BUSY, type UvmPage } from "./uvm_page.js";
import { pagerUnbusy } from "./uvm_pager.js";
import { swapGet } from "./uvm_swap.js";

let nextAnonId = 1;

/** struct vm_anon */
export class VmAnon {
  readonly id = nextAnonId++;
  /** an_ref */
  ref = 1;
  /** an_page */
  page: UvmPage | null = null;
  /** an_swslot: -1 when the anon has no swap (NetBSD uses 0; the swap device here numbers from 0). */
  swslot = -1;
  /** Freed (uvm_anfree ran): only for the audit's "live anon" check. */
  freed = false;
}

/** The swap slot value of an anon or aobj page without swap. */
export const NOSWAP = -1;

/** uvm_analloc: a new anon with one reference, no page, no swap. */
export function analloc(vm: Uvm): VmAnon {
  vm.counters.anonAlloc.value++;
  return new VmAnon();
}

/**
 * uvm_anfree: the last reference is gone. The page is freed (or released to whoever holds it
 * busy, PG_RELEASED) and the swap slot given back.
 */
export function anfree(vm: Uvm, anon: VmAnon): void {
  if (anon.ref !== 0) vm.kernel.panic(`uvm_anfree: anon ${anon.id} still has ${anon.ref} references`);
  if (anon.freed) vm.kernel.panic(`uvm_anfree: anon ${anon.id} freed twice`);
  const pg = anon.page;
  if (pg) {
    if (pg.wireCount !== pg.loanCount) vm.kernel.panic(`uvm_anfree: anon ${anon.id} page ${hex(pg.pa)} is wired`);
    vm.releasePage(pg);
  }
  anonDropSwap(vm, anon);
  anon.freed = true;
  vm.counters.anonFree.value++;
}

/** uvm_anon_dropswap: give the swap slot back (the page is about to be dirtied, or the anon dies). */
export function anonDropSwap(vm: Uvm, anon: VmAnon): void {
  if (anon.swslot === NOSWAP) return;
  vm.io.swapFree(anon.swslot);
  anon.swslot = NOSWAP;
}

/** What uvmfault_anonget answers: the page is resident and idle, or the caller must refault. */
export type AnonGet = "ok" | "refault" | "shortage" | "error";

/**
 * uvmfault_anonget: make the anon's page resident and not busy. A busy page is waited for
 * (PG_WANTED, "anonget2"); a swapped-out anon gets a page and a swap read, waited for
 * ("anonget1", the page held busy until then, so the daemon cannot take it back first). A wait for
 * someone else's busy page or for memory answers "refault": the caller drops what it holds and
 * starts over, as UVM's ReFault does after re-locking.
 */
export function anonGet(vm: Uvm, anon: VmAnon): AnonGet {
  const pg = anon.page;
  if (pg) {
    if ((pg.flags & PG_BUSY) === 0) return "ok";
    return vm.waitForPage(pg, "anonget2") ? "refault" : "shortage";
  }
  if (anon.swslot === NOSWAP) vm.kernel.panic(`uvmfault_anonget: anon ${anon.id} has neither a page nor swap`);
  const npg = vm.pages.alloc(null, 0, anon);
  if (!npg) return vm.waitForMemory("anonget1") ? "refault" : "shortage";
  const got = swapGet(vm, npg, anon.swslot, "anonget1");
  pagerUnbusy(npg);
  if (got === "ok") return "ok";
  // The swap read failed: give the page back; the fault reports a memory error (SIGBUS).
  if (anon.page === npg) vm.pages.freePage(npg);
  return got;
}
