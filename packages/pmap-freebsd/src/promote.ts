/**
 * Superpages (Alan Cox, FreeBSD 7–8; sys/amd64/amd64/pmap.c and sys/i386/i386/pmap.c):
 * pmap_promote_pde, pmap_demote_pde, pmap_remove_pde, pmap_protect_pde, pmap_pv_promote_pde,
 * pmap_pv_demote_pde, pmap_fill_ptp, and the pm_root store of page-table pages kept for demotion
 * (pmap_insert_pt_page / pmap_lookup_pt_page / pmap_remove_pt_page).
 *
 * The page-table page of a promoted range stays allocated (and counted in resident_count) in
 * pm_root, keyed by its pindex (va >> PDRSHIFT); demotion reinstalls it, refilled if the
 * superpage's attributes changed meanwhile. Its wire_count stays NPTEPG.
 */
import type { PAddr, VAddr } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { FreebsdModule } from "./module.js";
import type { FreebsdPmap } from "./pmap.js";
import { PG_MANAGED, PG_NX, PG_PTE_PROMOTE, PG_W } from "./pte.js";
import { unwireLevel } from "./ptp.js";
import { getPvEntry, reservePvEntries } from "./pv.js";
import { PvChunks } from "./pv-chunk.js";

const { PAGE_SIZE } = core;
const { PG_A, PG_G, PG_M, PG_PS, PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } = hw;

/** The physical address a PDE with PG_PS maps (PG_PS_FRAME). */
function psFrame(m: FreebsdModule, lo: number, hi: number): PAddr {
  const f = pteFrame(lo, hi);
  return f - (f % m.nbpdr);
}

/**
 * pmap_promote_pde(pmap, pde, va): replace the page table at pde by one superpage mapping if every
 * PTE in it maps the next 4 KiB of one aligned 2/4 MiB frame, all valid and accessed, with
 * identical PG_PTE_PROMOTE bits (clean writable PTEs are write-protected first, which needs no
 * invalidation). Keeps the page-table page in pm_root; moves the pv entries to pa_to_pvh. Callers
 * are pinned. True when promoted.
 */
export function promotePde(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, pdeEa: VAddr, va: VAddr): boolean {
  const win = m.win;
  const e = win.entryBytes;
  const base = va - (va % m.nbpdr);
  const pdeLo = win.load(cpu, pdeEa);
  const pdeHi = win.loadHi(cpu, pdeEa);
  const ptpPa = pteFrame(pdeLo, pdeHi);
  const first = m.pteQuickVa(cpu, pm, base, pdeEa);
  let flo = win.load(cpu, first);
  const fhi = win.loadHi(cpu, first);
  const ffr = pteFrame(flo, fhi);
  if ((flo & (PG_A | PG_V)) !== (PG_A | PG_V) || ffr % m.nbpdr !== 0) return failed(m, cpu, pm, va, false);
  // i386: kernel PDEs are copied into every pmap, but pv-based routines read kernel_pmap's only.
  if (!win.dmap && pm.isKernel && (flo & PG_MANAGED) !== 0) return failed(m, cpu, pm, va, false);
  let protectedAny = false;
  if ((flo & (PG_M | PG_RW)) === PG_RW) {
    flo = (flo & ~PG_RW) >>> 0;
    win.store(cpu, first, flo);
    protectedAny = true;
  }
  let pa = ffr + m.nbpdr - PAGE_SIZE;
  for (let i = m.nptepg - 1; i >= 1; i--, pa -= PAGE_SIZE) {
    const ea = first + i * e;
    let lo = win.load(cpu, ea);
    const hi = win.loadHi(cpu, ea);
    if (pteFrame(lo, hi) !== pa || (lo & (PG_A | PG_V)) !== (PG_A | PG_V)) return failed(m, cpu, pm, va, protectedAny);
    if ((lo & (PG_M | PG_RW)) === PG_RW) {
      lo = (lo & ~PG_RW) >>> 0;
      win.store(cpu, ea, lo);
      protectedAny = true;
    }
    if ((lo & PG_PTE_PROMOTE) !== (flo & PG_PTE_PROMOTE) || (hi & PG_NX) !== (fhi & PG_NX)) {
      return failed(m, cpu, pm, va, protectedAny);
    }
  }
  // pmap_insert_pt_page: keep the page table for demotion.
  if (!pm.isKernel) {
    const ptp = m.pageOf(ptpPa, "pmap_promote_pde: page table page is out of range");
    if (ptp.wireCount !== m.nptepg) m.kernel.panic("pmap_promote_pde: page table page's wire_count is wrong");
  }
  const pindex = Math.floor(va / m.nbpdr);
  if (pm.ptRoot.has(pindex)) m.kernel.panic("pmap_insert_pt_page: pindex already inserted");
  pm.ptRoot.set(pindex, ptpPa);
  if ((flo & PG_MANAGED) !== 0) pvPromotePde(m, pm, base, ffr);
  // The superpage PDE: the first PTE's bits with PG_PS (no PAT to move: PG_PTE_PAT is never set).
  const newLo = pteLo(ffr, (flo & 0xfff) | PG_PS);
  if (pm.isKernel) m.kernelPdeStore(cpu, pdeEa, base, newLo, fhi);
  else win.write(cpu, pdeEa, newLo, fhi);
  // pmap_update_pde_invalidate: no 4 KiB entry of the range, nor the page table's window address,
  // may survive beside the large one.
  win.ptpFreed(cpu, pm, base);
  if ((flo & PG_G) !== 0) m.invalidateAllGlobal(cpu, pm);
  else m.invalidateAll(cpu, pm);
  m.cPromotions.value++;
  m.kernel.trace.emit("pmap", "promote", { pmap: pm.id, va: base, pa: ffr });
  return true;
}

/**
 * p_failures++. Clean writable PTEs already write-protected stay so; FreeBSD needed no invalidation
 * for them (PG_M was clear), but a cached writable entry over a read-only PTE is incoherent to
 * vmlab's machine audit, so they are invalidated here.
 */
function failed(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr, protectedAny: boolean): false {
  if (protectedAny) m.invalidateAll(cpu, pm);
  m.cPFailures.value++;
  m.kernel.trace.emit("pmap", "promote.fail", { pmap: pm.id, va });
  return false;
}

/**
 * pmap_pv_promote_pde: the first 4 KiB page's pv entry moves to pa_to_pvh(pa); the other
 * NPTEPG - 1 are freed (a transfer, so no get_pv_entry can reclaim one of the mappings).
 */
function pvPromotePde(m: FreebsdModule, pm: FreebsdPmap, va: VAddr, pa: PAddr): void {
  if (pa % m.nbpdr !== 0) m.kernel.panic("pmap_pv_promote_pde: pa is not 4mpage aligned");
  const md0 = m.md(m.pageOf(pa, "pmap_pv_promote_pde: page not managed"));
  const pv = m.pv.pvhRemove(md0, pm, va) ?? m.kernel.panic("pmap_pv_promote_pde: pv not found");
  PvChunks.insertTail(m.pvh(pa), pv, va);
  for (let i = 1; i < m.nptepg; i++) {
    const md = m.md(m.pageOf(pa + i * PAGE_SIZE, "pmap_pv_promote_pde: page not managed"));
    const o = m.pv.pvhRemove(md, pm, va + i * PAGE_SIZE) ?? m.kernel.panic("pmap_pvh_free: pv not found");
    m.pv.free(pm, o);
  }
}

/**
 * pmap_demote_pde(pmap, pde, va): the superpage at pde becomes NPTEPG 4 KiB mappings in the page
 * table kept at promotion (refilled when the PDE's attributes changed since). Without a kept page,
 * or without the pv entries the 4 KiB mappings need, the whole superpage mapping is destroyed and
 * false returned, as FreeBSD does when it cannot allocate.
 */
export function demotePde(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, pdeEa: VAddr, va: VAddr): boolean {
  const win = m.win;
  const e = win.entryBytes;
  const oldLo = win.load(cpu, pdeEa);
  const oldHi = win.loadHi(cpu, pdeEa);
  if ((oldLo & (PG_PS | PG_V)) !== (PG_PS | PG_V))
    m.kernel.panic("pmap_demote_pde: oldpde is missing PG_PS and/or PG_V");
  const base = va - (va % m.nbpdr);
  const pindex = Math.floor(va / m.nbpdr);
  const kept = pm.ptRoot.get(pindex);
  const managed = (oldLo & PG_MANAGED) !== 0;
  if (kept === undefined || (managed && !reservePvEntries(m, cpu, pm, m.nptepg - 1))) {
    if (kept === undefined && (oldLo & PG_W) !== 0) {
      m.kernel.panic("pmap_demote_pde: page table page for a wired mapping is missing");
    }
    if (pm.isKernel) m.kernel.panic("pmap_remove_pde: failed demotion");
    removePde(m, cpu, pm, pdeEa, base);
    m.invalidatePage(cpu, pm, base);
    m.kernel.trace.emit("pmap", "demote.fail", { pmap: pm.id, va: base });
    return false;
  }
  pm.ptRoot.delete(pindex);
  if ((oldLo & PG_A) === 0) m.kernel.panic("pmap_demote_pde: oldpde is missing PG_A");
  if ((oldLo & (PG_M | PG_RW)) === PG_RW) m.kernel.panic("pmap_demote_pde: oldpde is missing PG_M");
  const frame = psFrame(m, oldLo, oldHi);
  const newLo = pteLo(frame, oldLo & 0xfff & ~PG_PS);
  const ptes = m.ptpPageVa(cpu, kept);
  const flo = win.load(cpu, ptes);
  const fhi = win.loadHi(cpu, ptes);
  if (pteFrame(flo, fhi) !== frame || (flo & PG_PTE_PROMOTE) !== (newLo & PG_PTE_PROMOTE) || fhi !== oldHi) {
    // pmap_fill_ptp: the superpage's attributes changed since promotion.
    for (let i = 0; i < m.nptepg; i++) {
      const pa = frame + i * PAGE_SIZE;
      win.write(cpu, ptes + i * e, pteLo(pa, newLo & 0xfff), (pteHi(pa) | (oldHi & PG_NX)) >>> 0);
    }
  }
  // The PDE names the page table again: PG_M | PG_A | (oldpde & PG_U) | PG_RW | PG_V.
  const ptLo = pteLo(kept, PG_M | PG_A | (oldLo & PG_U) | PG_RW | PG_V);
  if (pm.isKernel) m.kernelPdeStore(cpu, pdeEa, base, ptLo, pteHi(kept));
  else win.write(cpu, pdeEa, ptLo, pteHi(kept));
  // Invalidate a stale window mapping of the page table page (it showed the superpage's data).
  win.ptpFreed(cpu, pm, base);
  m.invalidatePage(cpu, pm, win.ptw.tablePageVa(base, 0));
  if (managed) pvDemotePde(m, cpu, pm, base, frame);
  m.cDemotions.value++;
  m.kernel.trace.emit("pmap", "demote", { pmap: pm.id, va: base });
  return true;
}

/**
 * pmap_pv_demote_pde: the superpage's pv entry moves to the first 4 KiB page; the others get new
 * entries (reserved beforehand, so no reclamation happens here).
 */
function pvDemotePde(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, va: VAddr, pa: PAddr): void {
  const pv = m.pv.pvhRemove(m.pvh(pa), pm, va) ?? m.kernel.panic("pmap_pv_demote_pde: pv not found");
  PvChunks.insertTail(m.md(m.pageOf(pa, "pmap_pv_demote_pde: page is not managed")), pv, va);
  for (let i = 1; i < m.nptepg; i++) {
    const md = m.md(m.pageOf(pa + i * PAGE_SIZE, "pmap_pv_demote_pde: page is not managed"));
    const ent = getPvEntry(m, cpu, pm, false) as NonNullable<ReturnType<typeof getPvEntry>>;
    PvChunks.insertTail(md, ent, va + i * PAGE_SIZE);
  }
}

/**
 * pmap_remove_pde(pmap, pdq, sva): destroy a whole superpage mapping: counts, PG_A/PG_M to every
 * constituent page, its pv entry, the kept page table (wire_count must be NPTEPG), and on amd64
 * one entry fewer in the page directory. KASSERT "pmap_remove_pde: sva is not 4mpage aligned".
 */
export function removePde(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, pdeEa: VAddr, sva: VAddr): void {
  const win = m.win;
  if (sva % m.nbpdr !== 0) m.kernel.panic("pmap_remove_pde: sva is not 4mpage aligned");
  const lo = win.load(cpu, pdeEa);
  const hi = win.loadHi(cpu, pdeEa);
  win.zap(cpu, pdeEa);
  if ((lo & PG_W) !== 0) pm.wiredCount -= m.nptepg;
  if ((lo & PG_G) !== 0) m.invalidatePage(cpu, m.kernelPmap, sva);
  pm.residentCount -= m.nptepg;
  const frame = psFrame(m, lo, hi);
  if ((lo & PG_MANAGED) !== 0) {
    const pv = m.pv.pvhRemove(m.pvh(frame), pm, sva) ?? m.kernel.panic("pmap_pvh_free: pv not found");
    m.pv.free(pm, pv);
    const bits = lo & (PG_A | PG_M);
    for (let i = 0; i < m.nptepg; i++)
      m.md(m.pageOf(frame + i * PAGE_SIZE, "pmap_remove_pde: unmanaged")).attrs |= bits;
  }
  const pindex = Math.floor(sva / m.nbpdr);
  const kept = pm.ptRoot.get(pindex);
  if (kept !== undefined) {
    pm.ptRoot.delete(pindex);
    if (!pm.isKernel) {
      const ptp = m.pageOf(kept, "pmap_remove_pde: kept page table page is not managed");
      if (ptp.wireCount !== m.nptepg) m.kernel.panic("pmap_remove_pde: pte page wire count error");
      ptp.wireCount = 0;
      pm.residentCount--;
      m.freeq.push(ptp);
      m.cPtpFree.value++;
    }
  }
  // amd64: the page directory holds one valid entry fewer.
  if (win.dmap && !pm.isKernel) unwireLevel(m, cpu, pm, sva, m.entryVa(cpu, pm, sva, 2), 2);
}

/**
 * pmap_protect_pde: lower a whole superpage mapping — PG_RW|PG_M off (PG_M to every page) without
 * write, NX on without execute. Returns whether it changed a non-global mapping (the caller
 * invalidates everything once); a global one is invalidated here.
 */
export function protectPde(
  m: FreebsdModule,
  cpu: Cpu,
  pm: FreebsdPmap,
  pdeEa: VAddr,
  sva: VAddr,
  clearRw: boolean,
  setNx: boolean,
): boolean {
  const win = m.win;
  const lo = win.load(cpu, pdeEa);
  const hi = win.loadHi(cpu, pdeEa);
  let nlo = lo;
  let nhi = hi;
  if (clearRw) {
    if ((lo & (PG_MANAGED | PG_M | PG_RW)) === (PG_MANAGED | PG_M | PG_RW)) {
      const frame = psFrame(m, lo, hi);
      for (let i = 0; i < m.nptepg; i++)
        m.md(m.pageOf(frame + i * PAGE_SIZE, "pmap_protect_pde: unmanaged")).attrs |= PG_M;
    }
    nlo = (nlo & ~(PG_RW | PG_M)) >>> 0;
  }
  if (setNx) nhi = (nhi | PG_NX) >>> 0;
  if (nlo === lo && nhi === hi) return false;
  win.write(cpu, pdeEa, nlo, nhi);
  if ((lo & PG_G) !== 0) {
    m.invalidateRange(cpu, pm, sva, sva + m.nbpdr);
    return false;
  }
  return true;
}
