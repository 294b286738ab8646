/**
 * The Mach pmap's invariants, one check per rule. The audit reads page tables by a direct
 * physical walk (the only place besides bootstrap that may), so it is independent of the
 * windows it is checking.
 *
 *  1. self-slot      every pmap's self slot(s) point at its own top-level table(s), supervisor RW.
 *  2. pdpt           (PAE) the PDPT names the four page directories, with only PG_V set.
 *  3. kernel-slots   every user pmap's kernel top-level entries equal the kernel pmap's.
 *  4. managed        every mapping in a user pmap was made by pmap_enter (PG_PVLIST) and maps a
 *                    managed page; page-table pages are user + writable and never NX; user pages
 *                    are user iff below VM_MAXUSER_ADDRESS (the u-area is supervisor-only).
 *  5. pv-of-pte      every managed mapping has exactly one pv entry on its page's list.
 *  6. pte-of-pv      every pv entry names a live pmap and an address whose PTE maps that page.
 *  7. counts         resident_count / wired_count equal the valid / PG_W managed entries.
 *  8. pv-pages       pv page accounting: entries in use + free = pages × NPVPPG, per page too.
 */
import { hex, InvariantViolation, PAGE_SIZE } from "@vmlab/core";
import { PG_A, PG_M, PG_PS, PG_RW, PG_U, PG_V } from "@vmlab/machine";
import type { MachPmapModule } from "./module.js";
import type { MachPmap } from "./pmap.js";
import { frameOf, hiOf, loOf, PG_NX, PG_PVLIST, PG_W } from "./pte.js";
import type { PvEntry, PvPage } from "./pv.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("pmap", rule, details);
}

export function auditMachPmap(m: MachPmapModule): void {
  const L = m.L;
  const mem = m.machine.memory;
  const e = L.entryBytes;
  const wide = e === 8;
  const span = m.win.span;
  const ptw = m.win.ptw;
  const kp = m.kernelPmap;
  if (kp.topPa.length === 0) return; // before pmap_bootstrap
  const lo32 = (pa: number): number => mem.read32(pa);
  const hi32 = (pa: number): number => (wide ? mem.read32(pa + 4) : 0);
  const topEntryPa = (pm: MachPmap, t: number): number =>
    L.windowSlots === 4 ? (pm.topPa[t >> 9] as number) + (t & 511) * 8 : (pm.topPa[0] as number) + t * e;
  const host = m.initialized ? m.host : null;

  /** Managed mappings seen in the tables: pmap → va → frame. */
  const seen = new Map<MachPmap, Map<number, number>>();

  for (const pm of m.pmaps) {
    const name = pm.isKernel ? "kernel pmap" : `pmap ${pm.id}`;
    // 1. self slot(s)
    for (let k = 0; k < L.windowSlots; k++) {
      const ea = topEntryPa(pm, L.selfSlot + k);
      const lo = lo32(ea);
      const hi = hi32(ea);
      if ((lo & (PG_V | PG_RW)) !== (PG_V | PG_RW) || (lo & PG_U) !== 0 || frameOf(lo, hi) !== pm.topPa[k]) {
        fail(
          "self-slot",
          `${name}: slot ${L.selfSlot + k} is ${hex(lo)}/${hex(hi)}, not its table ${hex(pm.topPa[k] as number)}`,
        );
      }
    }
    // 2. PAE PDPT
    if (L.windowSlots === 4) {
      for (let k = 0; k < 4; k++) {
        const pa = pm.topPa[k] as number;
        if (lo32(pm.cr3 + k * 8) !== loOf(pa, PG_V) || hi32(pm.cr3 + k * 8) !== hiOf(pa)) {
          fail("pdpt", `${name}: PDPTE ${k} at ${hex(pm.cr3 + k * 8)} does not name PD ${hex(pa)}`);
        }
      }
    }
    // 3. kernel slots (A/D may differ: the MMU sets them per copy)
    if (!pm.isKernel) {
      for (let t = L.kernSlotFirst; t < L.kernSlotFirst + L.kernSlotCount; t++) {
        const a = topEntryPa(pm, t);
        const b = topEntryPa(kp, t);
        if ((lo32(a) & ~(PG_A | PG_M)) !== (lo32(b) & ~(PG_A | PG_M)) || hi32(a) !== hi32(b)) {
          fail("kernel-slots", `${name}: kernel slot ${t} is ${hex(lo32(a))}, kernel pmap has ${hex(lo32(b))}`);
        }
      }
    }
    // 4, 7. walk the tables this pmap owns
    const mine = new Map<number, number>();
    seen.set(pm, mine);
    let resident = 0;
    let wired = 0;
    const count = (va: number, lo: number, hi: number): void => {
      resident++;
      if ((lo & PG_W) !== 0) wired++;
      const pa = frameOf(lo, hi);
      if (host !== null && host.pageOf(pa) === undefined) {
        fail("managed", `${name} va ${hex(va)}: managed mapping of unmanaged frame ${hex(pa)}`);
      }
      mine.set(va, pa);
    };
    const visit = (va: number, lo: number, hi: number, leaf: boolean): void => {
      if (pm.isKernel) {
        if (leaf && (lo & PG_PVLIST) !== 0 && va >= L.layout.kernelBase && va < L.layout.kernelMax) {
          count(va, lo, hi);
        }
        return;
      }
      if ((lo & PG_PVLIST) === 0) fail("managed", `${name} va ${hex(va)}: mapping without a pv entry (${hex(lo)})`);
      if (leaf) {
        const user = va < m.userMax;
        if (((lo & PG_U) !== 0) !== user) {
          fail(
            "managed",
            `${name} va ${hex(va)}: PG_U ${(lo & PG_U) !== 0} but the address is ${user ? "user" : "u-area"}`,
          );
        }
      } else if ((lo & (PG_U | PG_RW)) !== (PG_U | PG_RW) || (hi & PG_NX) !== 0 || (lo & PG_PS) !== 0) {
        fail(
          "managed",
          `${name} page table at ${hex(va)}: entry ${hex(lo)}/${hex(hi)} not user, writable and executable`,
        );
      }
      count(va, lo, hi);
    };
    const descend = (table: number, level: number, base: number): void => {
      const n = 2 ** L.indexBits;
      for (let i = 0; i < n; i++) {
        const ea = table + i * e;
        const lo = lo32(ea);
        if ((lo & PG_V) === 0) continue;
        const hi = hi32(ea);
        const va = base + i * (span[level] as number);
        if (level === 0) visit(va, lo, hi, true);
        else {
          visit(ptw.tablePageVa(va, level - 1), lo, hi, false);
          descend(frameOf(lo, hi), level - 1, va);
        }
      }
    };
    const top = L.levels - 1;
    const first = pm.isKernel ? L.kernSlotFirst : 0;
    const end = pm.isKernel ? L.kernSlotFirst + L.kernSlotCount : L.selfSlot;
    for (let t = first; t < end; t++) {
      const ea = topEntryPa(pm, t);
      const lo = lo32(ea);
      if ((lo & PG_V) === 0) continue;
      const hi = hi32(ea);
      const va = t * (span[top] as number);
      if (!pm.isKernel) visit(ptw.tablePageVa(va, top - 1), lo, hi, false);
      descend(frameOf(lo, hi), top - 1, va);
    }
    if (resident !== pm.residentCount || wired !== pm.wiredCount) {
      fail(
        "counts",
        `${name}: resident_count ${pm.residentCount} wired_count ${pm.wiredCount}, tables have ${resident} and ${wired}`,
      );
    }
  }

  if (host === null) return;
  const pv = m.pv;
  // 6. every pv entry names a live pmap and a PTE mapping its page; collect entries per page.
  const listed = new Map<MachPmap, Map<number, number>>();
  const inPage = new Map<PvPage, number>();
  let chained = 0;
  for (let i = 0; i < pv.heads.length; i++) {
    const h = pv.heads[i];
    if (h === undefined || h.pmap === null) {
      if (h !== undefined && h.next !== null) fail("pte-of-pv", `page index ${i}: empty head with chained entries`);
      continue;
    }
    for (let ent: PvEntry | null = h; ent !== null; ent = ent.next) {
      const pm = ent.pmap as MachPmap | null;
      if (pm === null) fail("pte-of-pv", `page index ${i}: chained pv entry without a pmap`);
      if (ent !== h) {
        chained++;
        const p = ent.page as PvPage;
        if (!pv.pages.has(p)) fail("pv-pages", `page index ${i}: pv entry in a pv page that was freed`);
        inPage.set(p, (inPage.get(p) ?? 0) + 1);
      }
      const mapped = seen.get(pm);
      if (mapped === undefined)
        fail("pte-of-pv", `page index ${i}: pv entry names released pmap ${pm.id} at ${hex(ent.va)}`);
      const pa = mapped.get(ent.va);
      const pg = pa === undefined ? undefined : host.pageOf(pa);
      if (pg === undefined || pg.index !== i) {
        fail(
          "pte-of-pv",
          `page index ${i}: pv entry (pmap ${pm.id}, ${hex(ent.va)}) but the PTE maps ${pa === undefined ? "nothing" : hex(pa)}`,
        );
      }
      let byVa = listed.get(pm);
      if (byVa === undefined) {
        byVa = new Map();
        listed.set(pm, byVa);
      }
      byVa.set(ent.va, (byVa.get(ent.va) ?? 0) + 1);
    }
  }
  // 5. every managed mapping has exactly one pv entry
  for (const [pm, mapped] of seen) {
    for (const [va, pa] of mapped) {
      const n = listed.get(pm)?.get(va) ?? 0;
      if (n !== 1) {
        fail(
          "pv-of-pte",
          `${pm.isKernel ? "kernel pmap" : `pmap ${pm.id}`} va ${hex(va)} maps ${hex(pa)} with ${n} pv entries`,
        );
      }
    }
  }
  // 8. pv pages
  let free = 0;
  for (const p of pv.pages) {
    free += p.free.length;
    const used = inPage.get(p) ?? 0;
    if (used + p.free.length !== pv.npvppg) {
      fail("pv-pages", `pv page at ${hex(p.va)}: ${used} in use + ${p.free.length} free != NPVPPG ${pv.npvppg}`);
    }
  }
  if (chained + free !== pv.pages.size * pv.npvppg || free !== pv.nfree) {
    fail(
      "pv-pages",
      `${pv.pages.size} pv pages × ${pv.npvppg}: ${chained} in use + ${free} free (nfree ${pv.nfree}) at ${PAGE_SIZE}-byte pages`,
    );
  }
}
