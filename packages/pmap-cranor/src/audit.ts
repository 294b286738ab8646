/**
 * The invariants of Cranor's pmap, one check per rule (NetBSD's DIAGNOSTIC checks and the
 * invariants its comments state). The audit reads page tables by a direct physical walk — the
 * only place besides bootstrap that may — so it does not depend on the windows it checks.
 *
 *  1. self-slot     every pmap's PDSLOT_PTE entry (four on PAE) names its own table, supervisor RW.
 *  2. pdpt          (PAE) the PDPT names the four page directories, with only PG_V.
 *  3. kernel-slots  every user pmap's kernel top-level entries equal the kernel pmap's.
 *  4. apte-slot     an alternate slot is invalid or names a live user pmap's table.
 *  5. ptp-obj       every user page-table page is in pm_obj at its level, at offset
 *                   index × PAGE_SIZE, and pm_obj holds nothing else; pm_ptphint is in pm_obj.
 *  6. ptp-wire      a PTP's wire_count = 1 + its valid entries.
 *  7. managed       user mappings are PG_PVLIST mappings of managed pages; PG_U iff below
 *                   VM_MAXUSER_ADDRESS; table entries user + writable, never NX or PS.
 *  8. pv-of-pte     every PG_PVLIST mapping has exactly one pv entry, and vice versa:
 *  9. pte-of-pv     every pv entry names a live pmap and a VA whose PTE maps that page.
 * 10. pv-ptp        a pv entry's pv_ptp is the page table holding its PTE (null for the kernel).
 * 11. counts        resident_count = PDP_SIZE + PTPs + mappings (user pmaps; the kernel pmap
 *                   counts its pmap_enter mappings), wired_count = PG_W mappings.
 * 12. kernel-ptps   the kernel's page tables cover [KERNBASE, nkpde end) and are all known.
 * 13. pv-pages      pv page accounting: free lists, queues, pv_nfpvents, each page mapped at its VA.
 */
import type { PAddr, VAddr, VmPage } from "@vmlab/core";
import { hex, InvariantViolation } from "@vmlab/core";
import { PG_A, PG_M, PG_PS, PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } from "@vmlab/machine";
import type { CranorModule } from "./module.js";
import type { CranorPmap } from "./pmap.js";
import { PG_NX, PG_PVLIST, PG_W } from "./pte.js";
import type { PvEntry, PvPage } from "./pv.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("pmap", rule, details);
}

interface Mapping {
  readonly pa: PAddr;
  /** The frame of the page table holding the PTE. */
  readonly ptPa: PAddr;
  pvs: number;
}

export function auditCranorPmap(m: CranorModule): void {
  const L = m.L;
  const mem = m.machine.memory;
  const e = L.entryBytes;
  const wide = e === 8;
  const span = m.win.span;
  const kp = m.kernelPmap;
  if (kp.pdirPa.length === 0) return; // before pmap_bootstrap
  const lo32 = (pa: PAddr): number => mem.read32(pa);
  const hi32 = (pa: PAddr): number => (wide ? mem.read32(pa + 4) : 0);
  const topEntryPa = (pm: CranorPmap, t: number): PAddr =>
    L.pdpSize === 4 ? (pm.pdirPa[t >> 9] as number) + (t & 511) * 8 : (pm.pdirPa[0] as number) + t * e;
  const host = m.initialized ? m.host : null;
  const nameOf = (pm: CranorPmap): string => (pm.isKernel ? "kernel pmap" : `pmap ${pm.id}`);
  const all = [kp, ...m.pmaps];
  const liveTops = new Set<PAddr>();
  for (const pm of m.pmaps) liveTops.add(pm.pdirPa[0] as number);

  /** pmap → va → mapping, for every PG_PVLIST mapping found in the tables. */
  const seen = new Map<CranorPmap, Map<VAddr, Mapping>>();
  const kptps = new Set<PAddr>(m.kptps);

  for (const pm of all) {
    const name = nameOf(pm);
    // 1. self slot(s)
    for (let k = 0; k < L.pdpSize; k++) {
      const ea = topEntryPa(pm, L.slotPte + k);
      const lo = lo32(ea);
      if ((lo & (PG_V | PG_RW | PG_U)) !== (PG_V | PG_RW) || pteFrame(lo, hi32(ea)) !== pm.pdirPa[k]) {
        fail("self-slot", `${name}: slot ${L.slotPte + k} is ${hex(lo)}, not its table ${hex(pm.pdirPa[k] as number)}`);
      }
    }
    // 2. PAE PDPT
    if (L.pdpSize === 4) {
      for (let k = 0; k < 4; k++) {
        const pa = pm.pdirPa[k] as number;
        if (lo32(pm.cr3 + k * 8) !== pteLo(pa, PG_V) || hi32(pm.cr3 + k * 8) !== pteHi(pa)) {
          fail("pdpt", `${name}: PDPTE ${k} at ${hex(pm.cr3 + k * 8)} does not name PD ${hex(pa)}`);
        }
      }
    }
    // 3. kernel slots (A/D may differ: the MMU sets them per copy)
    if (!pm.isKernel) {
      for (let t = L.slotKern; t < L.slotKern + L.nslotKern; t++) {
        const a = topEntryPa(pm, t);
        const b = topEntryPa(kp, t);
        if ((lo32(a) & ~(PG_A | PG_M)) !== (lo32(b) & ~(PG_A | PG_M)) || hi32(a) !== hi32(b)) {
          fail("kernel-slots", `${name}: kernel slot ${t} is ${hex(lo32(a))}, kernel pmap has ${hex(lo32(b))}`);
        }
      }
    }
    // 4. alternate slot(s)
    const aea = topEntryPa(pm, L.slotApte);
    if ((lo32(aea) & PG_V) !== 0) {
      const pa = pteFrame(lo32(aea), hi32(aea));
      if (!liveTops.has(pa)) fail("apte-slot", `${name}: alternate slot names ${hex(pa)}, no live pmap's table`);
    }

    const mine = new Map<VAddr, Mapping>();
    seen.set(pm, mine);
    let resident = 0;
    let wired = 0;
    let tables = 0;
    const leaf = (va: VAddr, lo: number, hi: number, ptPa: PAddr): void => {
      if ((lo & PG_PVLIST) === 0) {
        if (!pm.isKernel) fail("managed", `${name} va ${hex(va)}: mapping without PG_PVLIST (${hex(lo)})`);
        return;
      }
      if (!pm.isKernel && ((lo & PG_U) !== 0) !== va < m.userMax) {
        fail(
          "managed",
          `${name} va ${hex(va)}: PG_U is ${(lo & PG_U) !== 0} at a ${va < m.userMax ? "user" : "u-area"} address`,
        );
      }
      resident++;
      if ((lo & PG_W) !== 0) wired++;
      const pa = pteFrame(lo, hi);
      if (host !== null && host.pageOf(pa) === undefined) {
        fail("managed", `${name} va ${hex(va)}: PG_PVLIST mapping of unmanaged frame ${hex(pa)}`);
      }
      mine.set(va, { pa, ptPa, pvs: 0 });
    };
    /** Walk a table at table level t (0 = PT) mapping from va `base`; returns its valid entries. */
    const walk = (table: PAddr, t: number, base: VAddr): number => {
      let valid = 0;
      const n = 2 ** L.indexBits;
      for (let i = 0; i < n; i++) {
        const ea = table + i * e;
        const lo = lo32(ea);
        if ((lo & PG_V) === 0) continue;
        valid++;
        const hi = hi32(ea);
        const va = base + i * (span[t] as number);
        if (t === 0) leaf(va, lo, hi, table);
        else descend(va, lo, hi, t - 1);
      }
      return valid;
    };
    /** An entry naming the level-t table that maps from va. */
    const descend = (va: VAddr, lo: number, hi: number, t: number): void => {
      const pa = pteFrame(lo, hi);
      if (pm.isKernel) {
        if (!kptps.has(pa)) fail("kernel-ptps", `kernel table at ${hex(pa)} for ${hex(va)} is not a kernel PTP`);
        walk(pa, t, va);
        return;
      }
      if ((lo & (PG_U | PG_RW)) !== (PG_U | PG_RW) || (lo & PG_PS) !== 0 || (hi & PG_NX) !== 0) {
        fail("managed", `${name}: table entry for ${hex(va)} is ${hex(lo)}/${hex(hi)}, not user + writable`);
      }
      tables++;
      const idx = Math.floor(va / (span[t + 1] as number));
      const pg = pm.obj[t]?.get(idx);
      if (pg === undefined || pg.pa !== pa) {
        fail(
          "ptp-obj",
          `${name}: level-${t} table ${hex(pa)} for ${hex(va)} is not in pm_obj at offset ${hex(idx * 4096)}`,
        );
      }
      const valid = walk(pa, t, va);
      if (pg.wireCount !== 1 + valid) {
        fail(
          "ptp-wire",
          `${name}: PTP ${hex(pa)} for ${hex(va)} has wire_count ${pg.wireCount}, ${valid} valid entries`,
        );
      }
    };
    const top = L.levels - 1;
    const first = pm.isKernel ? L.slotKern : 0;
    const end = pm.isKernel ? L.slotKern + L.nslotKern : L.slotPte;
    for (let t = first; t < end; t++) {
      const ea = topEntryPa(pm, t);
      const lo = lo32(ea);
      if ((lo & PG_V) === 0) continue;
      descend(t * (span[top] as number), lo, hi32(ea), top - 1);
    }
    // 5. pm_obj holds exactly the tables found
    if (!pm.isKernel) {
      let inObj = 0;
      for (let t = 0; t < pm.obj.length; t++) {
        const obj = pm.obj[t] as Map<number, VmPage>;
        inObj += obj.size;
        const hint = pm.ptphint[t];
        if (hint !== null && hint !== undefined && ![...obj.values()].includes(hint)) {
          fail("ptp-obj", `${name}: pm_ptphint[${t}] ${hex(hint.pa)} is not in pm_obj`);
        }
      }
      if (inObj !== tables) fail("ptp-obj", `${name}: pm_obj holds ${inObj} pages, the tables use ${tables}`);
    }
    // 11. counts
    const wantResident = pm.isKernel ? resident : L.pdpSize + tables + resident;
    if (wantResident !== pm.residentCount || wired !== pm.wiredCount) {
      fail(
        "counts",
        `${name}: resident_count ${pm.residentCount} wired_count ${pm.wiredCount}, tables say ${wantResident} and ${wired}`,
      );
    }
  }

  // 12. kernel page tables cover [KERNBASE, nkpde end)
  for (let va = L.layout.kernelBase; va < m.kernelPtEnd; va += span[1] as number) {
    let ea = topEntryPa(kp, Math.floor(va / (span[L.levels - 1] as number)));
    for (let l = L.levels - 1; l >= 1; l--) {
      const lo = lo32(ea);
      if ((lo & PG_V) === 0) fail("kernel-ptps", `no kernel page table for ${hex(va)} below ${hex(m.kernelPtEnd)}`);
      if (l > 1) ea = pteFrame(lo, hi32(ea)) + (Math.floor(va / (span[l - 1] as number)) % 2 ** L.indexBits) * e;
    }
  }

  if (host === null) return;
  const pv = m.pv;
  // 9, 10. every pv entry names a live pmap and a PTE mapping its page, in its pv_ptp
  const inPage = new Map<PvPage, number>();
  let listed = 0;
  for (let i = 0; i < pv.heads.length; i++) {
    const h = pv.heads[i];
    if (h === undefined) continue;
    if (h.pg.md !== h) fail("pte-of-pv", `page ${hex(h.pg.pa)}: md is not its pv_head`);
    for (let ent: PvEntry | null = h.list; ent !== null; ent = ent.next) {
      listed++;
      const p = ent.page;
      if (!pv.pages.has(p)) fail("pv-pages", `page ${hex(h.pg.pa)}: pv entry in a pv page that was freed`);
      inPage.set(p, (inPage.get(p) ?? 0) + 1);
      const pm = ent.pmap as CranorPmap | null;
      if (pm === null) fail("pte-of-pv", `page ${hex(h.pg.pa)}: pv entry without a pmap`);
      const mapped = seen.get(pm);
      if (mapped === undefined) fail("pte-of-pv", `page ${hex(h.pg.pa)}: pv entry names released pmap ${pm.id}`);
      const mp = mapped.get(ent.va);
      if (mp === undefined || mp.pa !== h.pg.pa) {
        fail(
          "pte-of-pv",
          `page ${hex(h.pg.pa)}: pv entry (${nameOf(pm)}, ${hex(ent.va)}) but the PTE maps ${mp === undefined ? "nothing" : hex(mp.pa)}`,
        );
      }
      mp.pvs++;
      const want = pm.isKernel ? null : mp.ptPa;
      const got = ent.ptp === null ? null : ent.ptp.pa;
      if (got !== want) {
        fail(
          "pv-ptp",
          `${nameOf(pm)} va ${hex(ent.va)}: pv_ptp ${got === null ? "null" : hex(got)}, PTE is in ${want === null ? "a kernel PTP" : hex(want)}`,
        );
      }
    }
  }
  // 8. every PG_PVLIST mapping has exactly one pv entry
  for (const [pm, mapped] of seen) {
    for (const [va, mp] of mapped) {
      if (mp.pvs !== 1) fail("pv-of-pte", `${nameOf(pm)} va ${hex(va)} maps ${hex(mp.pa)} with ${mp.pvs} pv entries`);
    }
  }
  // 13. pv pages
  let free = 0;
  let used = 0;
  let onFree = 0;
  let onUnused = 0;
  for (const p of pv.pages) {
    let n = 0;
    for (let f = p.free; f !== null; f = f.next) {
      n++;
      if (f.page !== p || f.pmap !== null) fail("pv-pages", `pv page ${hex(p.va)}: bad entry on its free list`);
      if (n > pv.perPage) fail("pv-pages", `pv page ${hex(p.va)}: free list loops`);
    }
    if (n !== p.nfree) fail("pv-pages", `pv page ${hex(p.va)}: pvpi_nfree ${p.nfree}, free list has ${n}`);
    const inUse = inPage.get(p) ?? 0;
    if (inUse + p.nfree !== pv.perPage) {
      fail("pv-pages", `pv page ${hex(p.va)}: ${inUse} in use + ${p.nfree} free != PVE_PER_PVPAGE ${pv.perPage}`);
    }
    const wantQ = p.nfree === 0 ? 0 : p.nfree === pv.perPage ? 2 : 1;
    if (p.queue !== wantQ) fail("pv-pages", `pv page ${hex(p.va)}: nfree ${p.nfree} but on queue ${p.queue}`);
    if (p.queue === 1) onFree++;
    if (p.queue === 2) onUnused++;
    free += p.nfree;
    used += inUse;
    if (!kernelMaps(m, p.va, p.pg.pa))
      fail("pv-pages", `pv page ${hex(p.va)} is not mapped to its page ${hex(p.pg.pa)}`);
    const stored = mem.read32(p.pg.pa + pv.nfreeOffset);
    if (stored !== p.nfree)
      fail("pv-pages", `pv page ${hex(p.va)}: pvpi_nfree in memory is ${stored}, ${p.nfree} free`);
  }
  if (free !== pv.nfpvents) fail("pv-pages", `pv_nfpvents ${pv.nfpvents}, pages have ${free} free`);
  if (used !== listed) fail("pv-pages", `${listed} pv entries on lists, ${used} in pv pages`);
  if (onFree !== pv.freepages.length || onUnused !== pv.unusedpgs.length) {
    fail("pv-pages", `queue lengths ${pv.freepages.length}/${pv.unusedpgs.length}, pages say ${onFree}/${onUnused}`);
  }
}

/** Whether the kernel's tables map va to pa (a physical walk). */
function kernelMaps(m: CranorModule, va: VAddr, pa: PAddr): boolean {
  const L = m.L;
  const mem = m.machine.memory;
  const e = L.entryBytes;
  const span = m.win.span;
  const kp = m.kernelPmap;
  const t = Math.floor(va / (span[L.levels - 1] as number));
  let ea = L.pdpSize === 4 ? (kp.pdirPa[t >> 9] as number) + (t & 511) * 8 : (kp.pdirPa[0] as number) + t * e;
  for (let l = L.levels - 1; l >= 0; l--) {
    const lo = mem.read32(ea);
    if ((lo & PG_V) === 0) return false;
    const f = pteFrame(lo, e === 8 ? mem.read32(ea + 4) : 0);
    if (l === 0) return f === pa;
    ea = f + (Math.floor(va / (span[l - 1] as number)) % 2 ** L.indexBits) * e;
  }
  return false;
}
