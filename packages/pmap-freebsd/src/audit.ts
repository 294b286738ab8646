/**
 * The invariants of the FreeBSD pmap, one check per rule (FreeBSD's KASSERTs and the invariants
 * freebsd.md §7 lists). Page tables are read by a direct physical walk — the only place besides
 * bootstrap that may — so the audit does not depend on the windows it checks.
 *
 *  1. self-slot     every pmap's PTDPTDI (PML4PML4I) entry names its own directory, supervisor RW.
 *  2. pdpt          (PAE) the PDPT names the four page directories, with only PG_V.
 *  3. kernel-slots  every user pmap's kernel (and DMAP) top-level entries equal the kernel pmap's.
 *  4. aptd-slot     (i386) APTDpde is invalid or names a live pmap's directory.
 *  5. ptp-wire      a user page-table page's wire_count = its valid entries (PT, PD, PDP alike);
 *                   table entries are user + writable, never NX.
 *  6. managed       user mappings of managed pages are PG_MANAGED (unmanaged only for
 *                   PG_UNMANAGED pages); PG_U iff below VM_MAXUSER_ADDRESS.
 *  7. pv-of-pte     every managed 4 KiB mapping has exactly one pv entry on its page's list, every
 *                   managed superpage mapping exactly one on pa_to_pvh of its frame, and
 *  8. pte-of-pv     every pv entry on a list is such a mapping of a live pmap (found from the
 *                   entry's address: its chunk's pc_pmap).
 *  9. pt-root       a page table kept in pm_root belongs to a PG_PS mapping at its pindex, and a
 *                   user one has wire_count NPTEPG.
 * 10. counts        resident_count = mappings (NPTEPG per superpage) + user page-table pages
 *                   (installed and kept; the kernel pmap counts its managed and its wired
 *                   unmanaged mappings — pmap_enter's, not pmap_kenter's);
 *                   wired_count = PG_W mappings.
 * 11. kernel-ptps   kernel page tables cover [KERNBASE, kernel_vm_end).
 * 12. pv-chunks     each chunk: on its pmap's list once and on pv_chunks once, pc_map within
 *                   pc_freemask, nfree = its free bits, pc_pmap / pc_map in memory equal, mapped at
 *                   its address; in-use entries = listed entries; non-full chunks first;
 *                   pv_entry_count; pv_vafree + chunks = pv_maxchunks (i386).
 *
 * TLB coherence (every TLB entry agrees with the tables in its CPU's CR3) is the machine's own
 * audit (@vmlab/machine coherence.ts), which the kernel runs beside this one.
 */
import type { PAddr, VAddr } from "@vmlab/core";
import { hex, InvariantViolation, PAGE_SIZE } from "@vmlab/core";
import { PG_A, PG_M, PG_PS, PG_RW, PG_U, PG_V, pteFrame, pteLo } from "@vmlab/machine";
import type { FreebsdModule } from "./module.js";
import type { FreebsdPmap } from "./pmap.js";
import { PG_MANAGED, PG_NX, PG_W } from "./pte.js";
import type { PvChunk, PvEntry } from "./pv-chunk.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("pmap", rule, details);
}

interface Mapping {
  readonly pa: PAddr;
  readonly ps: boolean;
  pvs: number;
}

export function auditFreebsdPmap(m: FreebsdModule): void {
  const L = m.L;
  const mem = m.machine.memory;
  const e = L.entryBytes;
  const wide = e === 8;
  const kp = m.kernelPmap;
  if (kp.pdirPa.length === 0) return;
  const lo32 = (pa: PAddr): number => mem.read32(pa);
  const hi32 = (pa: PAddr): number => (wide ? mem.read32(pa + 4) : 0);
  const levels = L.levels;
  const shift = (l: number): number => 12 + (L.pdrShift - 12) * l;
  const topEntryPa = (pm: FreebsdPmap, t: number): PAddr =>
    L.npgptd === 4 ? (pm.pdirPa[t >> 9] as number) + (t & 511) * 8 : (pm.pdirPa[0] as number) + t * e;
  const host = m.initialized ? m.host : null;
  const nameOf = (pm: FreebsdPmap): string => (pm.isKernel ? "kernel pmap" : `pmap ${pm.id}`);
  const all = [kp, ...m.pmaps];
  const live = new Set<PAddr>(all.map((p) => p.pdirPa[0] as number));
  const seen = new Map<FreebsdPmap, Map<VAddr, Mapping>>();
  const shared = new Set(m.sharedTopSlots());

  for (const pm of all) {
    const name = nameOf(pm);
    // 1. self slot(s)
    for (let k = 0; k < L.npgptd; k++) {
      const ea = topEntryPa(pm, L.ptdptdi + k);
      const lo = lo32(ea);
      if ((lo & (PG_V | PG_RW | PG_U)) !== (PG_V | PG_RW) || pteFrame(lo, hi32(ea)) !== pm.pdirPa[k]) {
        fail(
          "self-slot",
          `${name}: slot ${L.ptdptdi + k} is ${hex(lo)}, not its directory ${hex(pm.pdirPa[k] as number)}`,
        );
      }
    }
    // 2. PAE PDPT
    if (L.npgptd === 4) {
      for (let k = 0; k < 4; k++) {
        const pa = pm.pdirPa[k] as number;
        if (lo32(pm.cr3 + k * 8) !== pteLo(pa, PG_V) || hi32(pm.cr3 + k * 8) !== 0) {
          fail("pdpt", `${name}: PDPTE ${k} at ${hex(pm.cr3 + k * 8)} does not name PD ${hex(pa)}`);
        }
      }
    }
    // 3. shared slots
    if (!pm.isKernel) {
      for (const t of shared) {
        const a = topEntryPa(pm, t);
        const b = topEntryPa(kp, t);
        if ((lo32(a) & ~(PG_A | PG_M)) !== (lo32(b) & ~(PG_A | PG_M)) || hi32(a) !== hi32(b)) {
          fail("kernel-slots", `${name}: kernel slot ${t} is ${hex(lo32(a))}, kernel pmap has ${hex(lo32(b))}`);
        }
      }
    }
    // 4. APTDpde
    if (L.aptdptdi >= 0) {
      const ea = topEntryPa(pm, L.aptdptdi);
      if ((lo32(ea) & PG_V) !== 0 && !live.has(pteFrame(lo32(ea), hi32(ea)))) {
        fail("aptd-slot", `${name}: APTDpde names ${hex(pteFrame(lo32(ea), hi32(ea)))}, no live pmap's directory`);
      }
    }

    const mine = new Map<VAddr, Mapping>();
    seen.set(pm, mine);
    let resident = 0;
    let wired = 0;
    let tables = 0;
    const psIndexes = new Set<number>();
    const leaf = (va: VAddr, lo: number, hi: number, ps: boolean): void => {
      const n = ps ? m.nptepg : 1;
      const managed = (lo & PG_MANAGED) !== 0;
      if (!pm.isKernel) {
        // Only a PG_UNMANAGED page (a kmem page: the u-area's kernel stack) is mapped unmanaged.
        if (!managed && host !== null && host.pageOf(pteFrame(lo, hi))?.unmanaged !== true)
          fail("managed", `${name} va ${hex(va)}: mapping of a managed page without PG_MANAGED (${hex(lo)})`);
        if (((lo & PG_U) !== 0) !== va < m.userMax)
          fail("managed", `${name} va ${hex(va)}: PG_U is wrong (${hex(lo)})`);
      }
      // The kernel pmap counts what pmap_enter made: managed mappings and wired unmanaged ones
      // (kmem_malloc of PG_UNMANAGED kmem_object pages); pmap_kenter's are neither.
      if (!managed && pm.isKernel && (lo & PG_W) === 0) return;
      resident += n;
      if ((lo & PG_W) !== 0) wired += n;
      if (!managed) return;
      const f = pteFrame(lo, hi);
      const pa = ps ? f - (f % m.nbpdr) : f;
      if (host !== null && host.pageOf(pa) === undefined) {
        fail("managed", `${name} va ${hex(va)}: PG_MANAGED mapping of unmanaged frame ${hex(pa)}`);
      }
      mine.set(va, { pa, ps, pvs: 0 });
    };
    /** Walk a table whose entries are at level l (0 = PTEs), covering from `base`. */
    const walk = (table: PAddr, l: number, base: VAddr): number => {
      let valid = 0;
      for (let i = 0; i < L.nptepg; i++) {
        const ea = table + i * e;
        const lo = lo32(ea);
        if ((lo & PG_V) === 0) continue;
        valid++;
        const va = base + i * 2 ** shift(l);
        const hi = hi32(ea);
        if (l === 0) leaf(va, lo, hi, false);
        else if (l === 1 && (lo & PG_PS) !== 0) {
          psIndexes.add(Math.floor(va / m.nbpdr));
          leaf(va, lo, hi, true);
        } else descend(va, lo, hi, l - 1);
      }
      return valid;
    };
    /** An entry naming a table whose entries are at level l. */
    const descend = (va: VAddr, lo: number, hi: number, l: number): void => {
      const pa = pteFrame(lo, hi);
      if (pm.isKernel) {
        walk(pa, l, va);
        return;
      }
      if ((lo & (PG_U | PG_RW)) !== (PG_U | PG_RW) || (hi & PG_NX) !== 0) {
        fail("ptp-wire", `${name}: table entry for ${hex(va)} is ${hex(lo)}/${hex(hi)}, not user + writable`);
      }
      tables++;
      const pg = host?.pageOf(pa);
      const valid = walk(pa, l, va);
      if (host !== null) {
        if (pg === undefined) fail("ptp-wire", `${name}: page table ${hex(pa)} for ${hex(va)} is not a managed page`);
        if (pg.wireCount !== valid) {
          fail(
            "ptp-wire",
            `${name}: page table ${hex(pa)} for ${hex(va)} has wire_count ${pg.wireCount}, ${valid} valid entries`,
          );
        }
      }
    };
    const topSpan = 2 ** shift(levels - 1);
    const slots: number[] = [];
    if (pm.isKernel) for (let t = L.kptdi; t < L.kptdi + L.nkpde; t++) slots.push(t);
    else for (let t = 0; t < L.ptdptdi; t++) slots.push(t);
    for (const t of slots) {
      const ea = topEntryPa(pm, t);
      const lo = lo32(ea);
      if ((lo & PG_V) === 0) continue;
      const va = t * topSpan;
      if (levels === 2 && (lo & PG_PS) !== 0) {
        psIndexes.add(Math.floor(va / m.nbpdr));
        leaf(va, lo, hi32(ea), true);
      } else descend(va, lo, hi32(ea), levels - 2);
    }
    // 9. pm_root
    for (const [pindex, pa] of pm.ptRoot) {
      if (!psIndexes.has(pindex))
        fail("pt-root", `${name}: kept page table ${hex(pa)} at pindex ${pindex} without a superpage`);
      if (!pm.isKernel) {
        tables++;
        const pg = host?.pageOf(pa);
        if (host !== null && (pg === undefined || pg.wireCount !== m.nptepg)) {
          fail("pt-root", `${name}: kept page table ${hex(pa)} has wire_count ${pg?.wireCount}, not ${m.nptepg}`);
        }
      }
    }
    for (const i of psIndexes) {
      if (!pm.ptRoot.has(i)) fail("pt-root", `${name}: superpage at ${hex(i * m.nbpdr)} has no kept page table`);
    }
    // 10. counts
    const want = pm.isKernel ? resident : resident + tables;
    if (want !== pm.residentCount || wired !== pm.wiredCount) {
      fail(
        "counts",
        `${name}: resident_count ${pm.residentCount} wired_count ${pm.wiredCount}, tables say ${want} and ${wired}`,
      );
    }
  }

  // 11. kernel page tables
  for (let va = L.layout.kernelBase; va < m.kernelPtEnd; va += m.nbpdr) {
    let ea = topEntryPa(kp, Math.floor(va / 2 ** shift(levels - 1)));
    for (let l = levels - 1; l >= 1; l--) {
      const lo = lo32(ea);
      if ((lo & PG_V) === 0) fail("kernel-ptps", `no kernel page table for ${hex(va)} below ${hex(m.kernelPtEnd)}`);
      if (l > 1) ea = pteFrame(lo, hi32(ea)) + (Math.floor(va / 2 ** shift(l - 1)) % L.nptepg) * e;
    }
  }

  if (host === null) return;
  // 7, 8. pv lists
  const listed = new Set<PvEntry>();
  const check = (pa: PAddr, pv: PvEntry, ps: boolean): void => {
    if (listed.has(pv)) fail("pte-of-pv", `pv ${hex(pv.addr)} is on two lists`);
    listed.add(pv);
    const pm = m.pv.pvPmap(pv) as FreebsdPmap;
    const mp = seen.get(pm)?.get(pv.va);
    if (mp === undefined || mp.pa !== pa || mp.ps !== ps) {
      fail(
        "pte-of-pv",
        `${ps ? "superpage " : ""}${hex(pa)}: pv (${nameOf(pm)}, ${hex(pv.va)}) but the tables map ${mp === undefined ? "nothing" : hex(mp.pa)}`,
      );
    }
    mp.pvs++;
  };
  const pages = new Set<PAddr>();
  for (const mp of seen.values()) for (const x of mp.values()) if (!x.ps) pages.add(x.pa);
  for (const pa of pages) {
    const md = (host.pageOf(pa) as { md: unknown }).md as { pvHead: PvEntry | null } | null;
    for (let pv = md?.pvHead ?? null; pv !== null; pv = pv.next) check(pa, pv, false);
  }
  for (const md of m.pvTable.values()) for (let pv = md.pvHead; pv !== null; pv = pv.next) check(md.pa, pv, true);
  for (const [pm, mapped] of seen) {
    for (const [va, mp] of mapped) {
      if (mp.pvs !== 1) fail("pv-of-pte", `${nameOf(pm)} va ${hex(va)} maps ${hex(mp.pa)} with ${mp.pvs} pv entries`);
    }
  }
  // 12. pv chunks
  auditChunks(m, all, listed);
}

function auditChunks(m: FreebsdModule, all: FreebsdPmap[], listed: Set<PvEntry>): void {
  const pv = m.pv;
  const L = m.L;
  const mem = m.machine.memory;
  const owned = new Set<PvChunk>();
  let inUse = 0;
  for (const pm of all) {
    let sawFull = false;
    let prev: PvChunk | null = null;
    for (let pc = pm.pvHead; pc !== null; prev = pc, pc = pc.next) {
      if (pc.prev !== prev) fail("pv-chunks", `pmap ${pm.id}: pm_pvchunk links broken at ${hex(pc.kva)}`);
      if (owned.has(pc)) fail("pv-chunks", `chunk ${hex(pc.kva)} on two pmaps' lists`);
      owned.add(pc);
      if (pc.pmap !== pm) fail("pv-chunks", `chunk ${hex(pc.kva)} on pmap ${pm.id}'s list, pc_pmap says otherwise`);
      if (pc.nfree === 0) sawFull = true;
      else if (sawFull) fail("pv-chunks", `pmap ${pm.id}: non-full chunk ${hex(pc.kva)} after a full one`);
    }
    if (pm.pvTail !== prev) fail("pv-chunks", `pmap ${pm.id}: pm_pvchunk tail is wrong`);
  }
  let onLru = 0;
  for (let pc = pv.lruHead; pc !== null; pc = pc.lruNext) {
    onLru++;
    if (!owned.has(pc)) fail("pv-chunks", `chunk ${hex(pc.kva)} on pv_chunks but on no pmap's list`);
  }
  if (onLru !== owned.size) fail("pv-chunks", `${onLru} chunks on pv_chunks, ${owned.size} owned`);
  if (pv.byVa.size !== owned.size) fail("pv-chunks", `${pv.byVa.size} chunks by address, ${owned.size} owned`);
  for (const pc of owned) {
    if (pv.byVa.get(pc.kva) !== pc) fail("pv-chunks", `chunk ${hex(pc.kva)}: pv_to_chunk does not find it`);
    let free = 0;
    for (let f = 0; f < pc.map.length; f++) {
      const w = pc.map[f] as number;
      if ((w & ~(pv.freeMask[f] as number)) !== 0)
        fail("pv-chunks", `chunk ${hex(pc.kva)}: pc_map[${f}] beyond pc_freemask`);
      if (mem.read32(pc.pg.pa + L.pcMapOffset + f * 4) !== w) {
        fail("pv-chunks", `chunk ${hex(pc.kva)}: pc_map[${f}] in memory differs`);
      }
      for (let b = 0; b < 32; b++) {
        if (f * 32 + b >= L.npcpv) break;
        const isFree = ((w >>> b) & 1) === 1;
        if (isFree) free++;
        else {
          inUse++;
          if (!listed.has(pc.ents[f * 32 + b] as PvEntry)) {
            fail("pv-chunks", `chunk ${hex(pc.kva)}: entry ${f * 32 + b} in use but on no pv list`);
          }
        }
      }
    }
    if (free !== pc.nfree) fail("pv-chunks", `chunk ${hex(pc.kva)}: nfree ${pc.nfree}, map says ${free}`);
    if (mem.read32(pc.pg.pa) !== (pc.pmap as FreebsdPmap).id)
      fail("pv-chunks", `chunk ${hex(pc.kva)}: pc_pmap in memory`);
    const mapped = pv.useDmap ? m.win.dmapVa(pc.pg.pa) === pc.kva : kernelMaps(m, pc.kva, pc.pg.pa);
    if (!mapped) fail("pv-chunks", `chunk ${hex(pc.kva)} is not mapped to its page ${hex(pc.pg.pa)}`);
  }
  for (const ent of listed) {
    const f = ent.idx >>> 5;
    if ((((ent.chunk.map[f] as number) >>> (ent.idx & 31)) & 1) === 1 || !owned.has(ent.chunk)) {
      fail("pv-chunks", `pv ${hex(ent.addr)} is listed but free in its chunk`);
    }
  }
  if (inUse !== pv.pvEntryCount) fail("pv-chunks", `pv_entry_count ${pv.pvEntryCount}, chunks have ${inUse} in use`);
  if (!pv.useDmap && !pv.dynamicKva && pv.vafreeCount() + owned.size !== pv.maxChunks) {
    fail(
      "pv-chunks",
      `pv_vafree has ${pv.vafreeCount()} VAs and ${owned.size} chunks exist, pv_maxchunks ${pv.maxChunks}`,
    );
  }
}

/** A physical walk of a kernel address in the kernel pmap: the 4 KiB frame, or -1. */
function kernelMaps(m: FreebsdModule, va: VAddr, pa: PAddr): boolean {
  const w = physWalk(m, m.kernelPmap, va);
  return w !== null && w.pa === pa;
}

interface Walked {
  pa: PAddr;
  rw: boolean;
  user: boolean;
  nx: boolean;
}

/** The hardware walk of va in pm's tables, physically: the 4 KiB frame it reaches and the rights. */
function physWalk(m: FreebsdModule, pm: FreebsdPmap, va: VAddr): Walked | null {
  const L = m.L;
  const mem = m.machine.memory;
  const e = L.entryBytes;
  const wide = e === 8;
  const shift = (l: number): number => 12 + (L.pdrShift - 12) * l;
  let table: PAddr;
  let idx: number;
  const t = Math.floor(va / 2 ** shift(L.levels - 1));
  if (L.npgptd === 4) {
    table = pm.pdirPa[t >> 9] as number;
    idx = t & 511;
  } else {
    table = pm.pdirPa[0] as number;
    idx = t % L.nptepg;
  }
  let rw = true;
  let user = true;
  let nx = false;
  for (let l = L.levels - 1; l >= 0; l--) {
    const ea = table + idx * e;
    const lo = mem.read32(ea);
    const hi = wide ? mem.read32(ea + 4) : 0;
    if ((lo & PG_V) === 0) return null;
    rw &&= (lo & PG_RW) !== 0;
    user &&= (lo & PG_U) !== 0;
    nx ||= (hi & PG_NX) !== 0;
    const f = pteFrame(lo, hi);
    if (l === 0 || (l === 1 && (lo & PG_PS) !== 0)) {
      const size = 2 ** shift(l);
      const base = f - (f % size);
      return { pa: base + ((Math.floor(va / PAGE_SIZE) * PAGE_SIZE) % size), rw, user, nx };
    }
    table = f;
    idx = Math.floor(va / 2 ** shift(l - 1)) % L.nptepg;
  }
  return null;
}
