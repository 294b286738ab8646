/**
 * Page loanout (NetBSD sys/uvm/uvm_loan.c, 1998; netbsd_uvm.md §2.6): a page of a process's
 * memory lent read-only to the kernel without copying. The first loan write-protects every
 * mapping of the page (pmap_page_protect READ, wired ones included); each loan to the kernel
 * wires the page (uvm_pagewire). A write fault on a loaned page breaks the loan: the owner gets a
 * fresh copy and the loaned frame stays with the kernel. An owner that frees a loaned page
 * disowns it; the orphan is freed when the last loan is returned.
 *
 * Only O→K and A→K loans (uvm_loan with UVM_LOAN_TOPAGE) are modelled; O→A loans
 * (UVM_LOAN_TOANON) are left out. vmlab's write(2) does not loan: like NetBSD's UBC write it copies
 * from the vslock'ed user page (loanout served sosend, and vmlab has no sockets).
 */
import { KERN_FAILURE, KERN_SUCCESS, type KernReturn, PAGE_SIZE, Prot, type VAddr } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import type { VmAnon } from "./uvm_anon.js";
import { pageAt, uvmFault } from "./uvm_fault.js";
import type { VmMap } from "./uvm_map.js";
import { PG_BUSY, PG_CLEAN, PG_FAKE, PQ_ANON, type UvmPage } from "./uvm_page.js";

/**
 * uvm_loan(map, start, len, result, UVM_LOAN_TOPAGE): fault each page in for reading and lend it
 * to the kernel. On failure the loans made so far are returned.
 */
export function uvmLoan(vm: Uvm, map: VmMap, start: VAddr, len: number, out: UvmPage[]): KernReturn {
  const got: UvmPage[] = [];
  for (let va = start; va < start + len; va += PAGE_SIZE) {
    const rv = uvmFault(vm, map, va, Prot.Read, false, false);
    const e = map.lookupEntry(va);
    const pg = rv === KERN_SUCCESS && map.contains(e, va) ? pageAt(e, va) : null;
    if (!pg || pg.flags & PG_BUSY) {
      uvmUnloanPages(vm, got);
      return rv === KERN_SUCCESS ? KERN_FAILURE : rv;
    }
    loanPage(vm, pg);
    got.push(pg);
  }
  out.push(...got);
  return KERN_SUCCESS;
}

/** uvm_loanpage: lend one resident page to the kernel. */
export function loanPage(vm: Uvm, pg: UvmPage): void {
  if (pg.loanCount === 0) vm.pmap.pageProtect(pg, Prot.Read);
  pg.loanCount++;
  vm.pages.wire(pg);
  vm.counters.loan.value++;
}

/** uvm_unloanpage: return kernel loans; an orphan whose last loan comes back is freed. */
export function uvmUnloanPages(vm: Uvm, pages: readonly UvmPage[]): void {
  for (const pg of pages) {
    if (pg.loanCount <= 0) vm.kernel.panic("uvm_unloanpage: page is not loaned");
    pg.loanCount--;
    vm.pages.unwire(pg);
    vm.counters.unloan.value++;
    if (pg.loanCount === 0 && pg.uobject === null && pg.uanon === null && pg.wireCount === 0) {
      vm.pages.freePage(pg);
    }
  }
}

/** A copy of a loaned page for its owner (uvm_loanbreak); null when no page is free. */
function copyForOwner(vm: Uvm, pg: UvmPage, anon: VmAnon | null): UvmPage | null {
  const obj = pg.uobject;
  const off = pg.offset;
  // Every mapping of the loaned frame goes; the owner refaults onto the copy.
  vm.pmap.pageProtect(pg, Prot.None);
  if (anon) {
    anon.page = null;
    pg.uanon = null;
    pg.pqflags &= ~PQ_ANON;
  } else {
    vm.pages.remove(pg);
  }
  const npg = vm.pages.alloc(anon ? null : obj, off, anon);
  if (!npg) {
    // Put the loaned page back; the caller waits for memory and refaults.
    if (anon) {
      anon.page = pg;
      pg.uanon = anon;
      pg.pqflags |= PQ_ANON;
    } else if (obj) vm.pages.insert(pg, obj, off);
    return null;
  }
  vm.pages.copy(pg, npg);
  npg.flags &= ~(PG_BUSY | PG_FAKE);
  npg.flags |= pg.flags & PG_CLEAN;
  vm.pages.activate(npg);
  return npg;
}

/** uvm_loanbreak for an anon's page (write fault, case 1A). */
export function loanBreakAnon(vm: Uvm, anon: VmAnon): UvmPage | null {
  const pg = anon.page as UvmPage;
  return copyForOwner(vm, pg, anon);
}

/** uvm_loanbreak for an object's page (write fault through a shared mapping, case 2A). */
export function loanBreakObject(vm: Uvm, pg: UvmPage): UvmPage | null {
  return copyForOwner(vm, pg, null);
}
