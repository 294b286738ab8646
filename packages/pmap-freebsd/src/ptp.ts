/**
 * Page-table pages of a user pmap (pmap.c: pmap_allocpte / _pmap_allocpte, pmap_unuse_pt /
 * pmap_unwire_pte_hold / _pmap_unwire_pte_hold).
 *
 * A page-table page is a vm_page from the VM (VM_ALLOC_NOOBJ | VM_ALLOC_WIRED), found from its
 * directory entry with PHYS_TO_VM_PAGE. Its wire_count is the number of valid entries in it: a
 * new page starts at 1 for the mapping (or lower table) being made, pmap_allocpte adds one per new
 * mapping, pmap_unuse_pt drops one per removed mapping; at 0 the entry naming it is cleared,
 * resident_count drops, its recursive-map address is invalidated, and the page goes on the
 * call's delayed free list (freed after the TLB shootdown, pmap_free_zero_pages). On amd64 the
 * page directories and PDP pages are counted the same way, one level up. Kernel page tables are
 * never freed.
 */
import type { VAddr, VmPage } from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { FreebsdModule } from "./module.js";
import type { FreebsdPmap } from "./pmap.js";
import { demotePde } from "./promote.js";

const { PG_A, PG_M, PG_PS, PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } = hw;

/** Directory entry bits of a user page-table page (PG_U | PG_RW | PG_V | PG_A | PG_M). */
const PTP_BITS = PG_U | PG_RW | PG_V | PG_A | PG_M;

/**
 * pmap_allocpte(pmap, va): the page table for user va with one more reference, demoting a
 * superpage mapping of va first; a missing table (and, on amd64, missing directories above it)
 * is allocated. Null when no page can be had.
 */
export function allocPte(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr): VmPage | null {
  const win = m.win;
  let ea = m.pdeVa(cpu, pm, va);
  if (ea >= 0) {
    let lo = win.load(cpu, ea);
    if ((lo & (PG_PS | PG_V)) === (PG_PS | PG_V)) {
      demotePde(m, cpu, pm, ea, va);
      ea = m.pdeVa(cpu, pm, va);
      lo = ea >= 0 ? win.load(cpu, ea) : 0;
    }
    if ((lo & PG_V) !== 0) {
      const ptp = m.pageOf(pteFrame(lo, win.loadHi(cpu, ea)), "pmap_allocpte: unmanaged page table page");
      ptp.wireCount++;
      return ptp;
    }
  }
  return allocLevels(m, cpu, pm, va);
}

/**
 * _pmap_allocpte: allocate the page table for va and, on amd64, whatever directories above it are
 * missing (each zeroed, wire_count 1, resident_count + 1), linked top-down; the table that already
 * existed above them gets one more reference.
 */
function allocLevels(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr): VmPage | null {
  const win = m.win;
  let top = 1;
  while (m.entryVa(cpu, pm, va, top) < 0) top++;
  const pages: VmPage[] = [];
  for (let l = top; l >= 1; l--) {
    const pg = m.host.allocPage({ interrupt: cpu.depth > 0 });
    if (pg === null) {
      for (const p of pages) m.host.freePage(p);
      return null;
    }
    pages.push(pg);
  }
  for (let l = top, i = 0; l >= 1; l--, i++) {
    const pg = pages[i] as VmPage;
    m.zeroPage(pg);
    pg.wireCount = 1;
    pm.residentCount++;
    const ea = m.entryVa(cpu, pm, va, l);
    if (l === top && l < m.L.levels - 1) {
      // The table holding this entry existed: one more valid entry in it.
      const up = m.entryVa(cpu, pm, va, l + 1);
      m.pageOf(pteFrame(win.load(cpu, up), win.loadHi(cpu, up)), "pmap_allocpte: unmanaged directory").wireCount++;
    }
    win.write(cpu, ea, pteLo(pg.pa, PTP_BITS), pteHi(pg.pa));
    m.cPtpAlloc.value++;
  }
  return pages[pages.length - 1] as VmPage;
}

/**
 * pmap_unuse_pt(pmap, va, &free): one mapping fewer in the page table holding va's PTE (whose
 * PDE is at pdeEa). True when the page table was freed. Kernel addresses: nothing (false).
 */
export function unusePt(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr, pdeEa: VAddr): boolean {
  if (pm.isKernel) return false;
  return unwireLevel(m, cpu, pm, va, pdeEa, 1);
}

/**
 * pmap_unwire_pte_hold at the table named by the level-`level` entry at `ea` (1: the PDE names a
 * page table; amd64 2, 3: a page directory, a PDP page).
 */
export function unwireLevel(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr, ea: VAddr, level: number): boolean {
  const win = m.win;
  const lo = win.load(cpu, ea);
  const ptp = m.pageOf(pteFrame(lo, win.loadHi(cpu, ea)), "pmap_unuse_pt: unmanaged page table page");
  if (--ptp.wireCount > 0) return false;
  // _pmap_unwire_pte_hold: unmap the page table page.
  win.zap(cpu, ea);
  pm.residentCount--;
  win.ptpFreed(cpu, pm, va);
  m.invalidatePage(cpu, pm, win.ptw.tablePageVa(va, level - 1));
  m.freeq.push(ptp);
  m.cPtpFree.value++;
  if (level < m.L.levels - 1) {
    const up = m.entryVa(cpu, pm, va, level + 1);
    unwireLevel(m, cpu, pm, va, up, level + 1);
  }
  return true;
}
