/**
 * Page-table pages of a user pmap (pmap.c: pmap_get_ptp, pmap_alloc_ptp, pmap_free_ptp, and
 * NetBSD/amd64's generalisation to every level).
 *
 * A PTP is a page from the VM (host.allocPage — never from the user's map: the 4.4BSD trap.c hack
 * is gone) owned by the pmap's own object `pm_obj` at offset index × PAGE_SIZE, where index is the
 * number of the entry one level up that names it, counted over the whole address space: `pdei(va)`
 * on i386 (ptp_i2o). On amd64 there is one object per level (pm_obj[0] the PTs, [1] the PDs, [2] the PDPTs), as NetBSD
 * has. `pm_ptphint[level]` caches the last PTP used so the common case needs no lookup.
 *
 * wire_count = 1 + valid entries in the PTP: the page starts at 1 "to prevent any chance this PTP
 * will ever leak onto the active/inactive queues", and is freed when it drops back to 1 — zap the
 * entry above it, invalidate its address in the recursive window, resident_count--, free it, and
 * drop the count of the table above it (which may free that one too).
 *
 * Levels here: table level t = 0 is a page table (holds PTEs), 1 a page directory, 2 a PDPT; the
 * entry naming a level-t table is at entry level t + 1 of RecursiveWindow.entryVa.
 */

import type { VAddr, VmPage } from "@vmlab/core";
import type { Cpu, RecursiveWindow } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { CranorModule } from "./module.js";
import type { CranorPmap } from "./pmap.js";

const { PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } = hw;

/** ptp_va2o / ptp_i2o: the pm_obj index of the level-t table that maps va. */
export function ptpIndex(m: CranorModule, va: VAddr, t: number): number {
  return Math.floor(va / (m.win.span[t + 1] as number));
}

/**
 * The PTP at table level t named by an entry whose frame is `pa`: pm_ptphint when it matches,
 * else a lookup in pm_obj (uvm_pagelookup). Not found: "pmap_get_ptp: unmanaged user PTP".
 */
export function findPtp(m: CranorModule, pm: CranorPmap, t: number, va: VAddr, pa: number): VmPage {
  const hint = pm.ptphint[t];
  if (hint !== null && hint !== undefined && hint.pa === pa) return hint;
  const pg = (pm.obj[t] as Map<number, VmPage>).get(ptpIndex(m, va, t));
  if (pg === undefined || pg.pa !== pa) return m.kernel.panic("pmap_get_ptp: unmanaged user PTP");
  pm.ptphint[t] = pg;
  return pg;
}

/** The PTP holding va's PTE, from the valid PDE at window w (the PDE must be valid). */
export function ptpOf(m: CranorModule, pm: CranorPmap, cpu: Cpu, w: RecursiveWindow, va: VAddr): VmPage {
  const win = m.win;
  const ea = w.entryVa(va, 1);
  const lo = win.load(cpu, ea);
  const hi = win.wide ? win.load(cpu, ea + 4) : 0;
  return findPtp(m, pm, 0, va, pteFrame(lo, hi));
}

/**
 * pmap_get_ptp(pmap, va): the page table for va, allocating every missing table on the way down
 * (top level first), each one counted in the table above it. Null when no page could be had;
 * tables made by this call are then freed again.
 */
export function getPtp(m: CranorModule, pm: CranorPmap, cpu: Cpu, w: RecursiveWindow, va: VAddr): VmPage | null {
  const win = m.win;
  let parent: VmPage | null = null;
  for (let l = win.levels - 1; l >= 1; l--) {
    const t = l - 1;
    const ea = w.entryVa(va, l);
    const lo = win.load(cpu, ea);
    let ptp: VmPage | null;
    if ((lo & PG_V) !== 0) {
      ptp = findPtp(m, pm, t, va, pteFrame(lo, win.wide ? win.load(cpu, ea + 4) : 0));
    } else {
      ptp = allocPtp(m, pm, cpu, ea, va, t);
      if (ptp === null) {
        if (parent !== null && parent.wireCount <= 1) freePtp(m, pm, cpu, w, parent, va, t + 1);
        return null;
      }
      if (parent !== null) parent.wireCount++;
    }
    parent = ptp;
  }
  return parent;
}

/**
 * pmap_alloc_ptp: a zeroed page for the level-t table of va, wire_count 1, entered in pm_obj and
 * pm_ptphint, its entry (at ea) written user + writable (PG_u|PG_RW|PG_V: the PTE decides).
 */
function allocPtp(m: CranorModule, pm: CranorPmap, cpu: Cpu, ea: VAddr, va: VAddr, t: number): VmPage | null {
  const pg = m.host.allocPage({ interrupt: cpu.depth > 0 });
  if (pg === null) return null;
  m.zeroPage(pg);
  pg.wireCount = 1;
  (pm.obj[t] as Map<number, VmPage>).set(ptpIndex(m, va, t), pg);
  pm.ptphint[t] = pg;
  pm.residentCount++;
  m.win.write(cpu, ea, pteLo(pg.pa, PG_V | PG_RW | PG_U), pteHi(pg.pa));
  m.cPtpAlloc.value++;
  return pg;
}

/**
 * pmap_free_ptp: the level-t table `ptp` of va has no valid entries left (wire_count <= 1).
 * Zap the entry naming it, invalidate its window address here at once and on the pmap's other
 * CPUs with the call's shootdown, free it, and drop the count of the table above.
 */
export function freePtp(
  m: CranorModule,
  pm: CranorPmap,
  cpu: Cpu,
  w: RecursiveWindow,
  ptp: VmPage,
  va: VAddr,
  t: number,
): void {
  const win = m.win;
  const l = t + 1;
  win.zap(cpu, w.entryVa(va, l));
  pm.ptpGen++;
  cpu.invlpg(w.tablePageVa(va, t));
  if (w !== win.ptw) win.noteLocalInvalidate(cpu, pm);
  // CPUs running pm see the table at its PTE_BASE address.
  m.batchOf(cpu).add(win.ptw.tablePageVa(va, t));
  const obj = pm.obj[t] as Map<number, VmPage>;
  obj.delete(ptpIndex(m, va, t));
  if (pm.ptphint[t] === ptp) pm.ptphint[t] = null;
  pm.residentCount--;
  ptp.wireCount = 0;
  m.host.freePage(ptp);
  m.cPtpFree.value++;
  if (l < win.levels - 1) {
    // The table above is a PTP too (amd64): one entry fewer.
    const ea = w.entryVa(va, l + 1);
    const lo = win.load(cpu, ea);
    const parent = findPtp(m, pm, l, va, pteFrame(lo, win.wide ? win.load(cpu, ea + 4) : 0));
    parent.wireCount--;
    if (parent.wireCount <= 1) freePtp(m, pm, cpu, w, parent, va, l);
  }
}
