/**
 * vmparam.h and pmap.h of the FreeBSD pmap, per machine.
 *
 * i386 (FreeBSD 5–8, KERNBASE 0xC0000000): KPTDI = KERNBASE >> PDRSHIFT = 768, PTDPTDI = KPTDI -
 * NPGPTD = 767 (PTmap 0xBFC00000 = VM_MAXUSER_ADDRESS / UPT_MIN_ADDRESS), APTDPTDI = NPDEPTD -
 * NPGPTD = 1023 (APTmap 0xFFC00000 = VM_MAX_KERNEL_ADDRESS).
 * i386 PAE: NPGPTD = 4 page directories acting as one 2048-entry directory; PTDPTDI 1532..1535,
 * KPTDI 1536, APTDPTDI 2044..2047.
 * amd64 (FreeBSD 8): PML4PML4I = NPML4EPG/2 = 256 (the recursive slot, 0xffff800000000000, kept as
 * the 48-bit value 0x800000000000), KPML4I = 511 (KERNBASE 0xffffffff80000000 → 0xFFFF80000000),
 * the direct map at DMPML4I of @vmlab/hw-amd64 (FreeBSD 9+'s 0xfffff80000000000; 8.x had it at
 * 0xfffffe0000000000 — the address differs, the mechanism is the same).
 *
 * The u-area takes the two pages below VM_MAXUSER_ADDRESS of the page-table window (where 4.4BSD's
 * and FreeBSD 2.x's UPAGES lived); page tables are never in the user map (uptMin = uptMax).
 */
import type { AddressLayout, VAddr } from "@vmlab/core";
import { PAGE_SIZE } from "@vmlab/core";
import { DMAP_MAX_ADDRESS, DMAP_MIN_ADDRESS, DMPML4I, NDMPML4E } from "@vmlab/hw-amd64";
import { MAX_CPUS, type MachineName } from "@vmlab/machine";

const MiB = 1024 * 1024;

export interface FreebsdLayout {
  readonly machine: MachineName;
  readonly layout: AddressLayout & { readonly ptmap: VAddr };
  /** sizeof(pt_entry_t): 4 or 8. */
  readonly entryBytes: 4 | 8;
  /** Levels walked in memory (2 on i386 and PAE, 4 on amd64). */
  readonly levels: number;
  /** NPTEPG: PTEs per page-table page (1024 or 512). */
  readonly nptepg: number;
  /** PDRSHIFT / NBPDR: what one PDE maps (4 MiB or 2 MiB) — the superpage size. */
  readonly pdrShift: number;
  readonly nbpdr: number;
  /** NPGPTD: page-directory pages per pmap (4 on PAE, else 1; amd64: the PML4). */
  readonly npgptd: number;
  /** PTDPTDI (amd64: PML4PML4I): the recursive slot (first of four on PAE). */
  readonly ptdptdi: number;
  /** APTDPTDI: the alternate slot (i386 only; -1 on amd64). */
  readonly aptdptdi: number;
  /** KPTDI (amd64: KPML4I) and how many top-level slots the kernel owns. */
  readonly kptdi: number;
  readonly nkpde: number;
  /** amd64: the direct map's PML4 slots (copied into every pmap like the kernel's). */
  readonly dmpml4i: number;
  readonly ndmpml4e: number;
  /** NKPT: kernel page tables made at bootstrap (16 MiB from KERNBASE). */
  readonly nkpt: number;
  /** PADDR1 (pmap_pte_quick's page) and the per-CPU sysmaps CADDR1/CADDR2 (i386 only). */
  readonly paddr1: VAddr;
  readonly sysmapsVa: VAddr;
  /** pv_chunk geometry: _NPCPV entries, pc_map as 32-bit words, sizeof(pv_entry), offsets. */
  readonly npcpv: number;
  readonly npcmWords: number;
  readonly pvEntryBytes: number;
  /** Offset of pc_map in the chunk page (after pc_pmap and pc_list). */
  readonly pcMapOffset: number;
  /** Offset of pc_pventry[0] (the 64-byte header). */
  readonly pcEntryOffset: number;
  /** Superpage name in panic texts ("2MB" / "4MB"). */
  readonly psName: string;
}

interface Spec {
  machine: MachineName;
  entryBytes: 4 | 8;
  levels: number;
  indexBits: number;
  topEntries: number;
  npgptd: number;
  ptdptdi: number;
  aptdptdi: number;
  kptdi: number;
  nkpde: number;
  kernelBase: VAddr;
  kernelMax: VAddr;
  nkpt: number;
  npcpv: number;
  pvEntryBytes: number;
  pcMapOffset: number;
}

/** Pages of the per-CPU sysmaps (CADDR1, CADDR2). */
export const SYSMAPS_PER_CPU = 2;

function finish(p: Spec): FreebsdLayout {
  const topShift = 12 + p.indexBits * (p.levels - 1);
  const ptmap = p.ptdptdi * 2 ** topShift;
  const aptmap = p.aptdptdi >= 0 ? p.aptdptdi * 2 ** topShift : undefined;
  const uareaPages = 2;
  const uareaVa = ptmap - uareaPages * PAGE_SIZE;
  const amd64 = p.machine === "amd64";
  // SYSMAPS after the 4 MiB kernel image: PADDR1, then CADDR1/CADDR2 per CPU (i386 only).
  const paddr1 = p.kernelBase + 4 * MiB;
  const sysmapsVa = paddr1 + PAGE_SIZE;
  const kernelMin = amd64 ? p.kernelBase + 4 * MiB : sysmapsVa + MAX_CPUS * SYSMAPS_PER_CPU * PAGE_SIZE;
  const layout: AddressLayout & { ptmap: VAddr } = {
    userMin: PAGE_SIZE,
    userMax: uareaVa,
    uareaVa,
    uareaPages,
    uptMin: ptmap,
    uptMax: ptmap,
    mapMax: ptmap,
    kernelBase: p.kernelBase,
    kernelMin,
    kernelMax: p.kernelMax,
    ptmap,
    ...(aptmap !== undefined ? { aptmap } : {}),
    ...(amd64 ? { dmapMin: DMAP_MIN_ADDRESS, dmapMax: DMAP_MAX_ADDRESS } : {}),
    // NBPDR: what one PDE maps, the superpage size the VM's reservations must match.
    superpageSize: 2 ** (12 + p.indexBits),
  };
  const nptepg = 2 ** p.indexBits;
  const pdrShift = 12 + p.indexBits;
  const npcmWords = Math.ceil(p.npcpv / 32);
  return {
    machine: p.machine,
    layout,
    entryBytes: p.entryBytes,
    levels: p.levels,
    nptepg,
    pdrShift,
    nbpdr: 2 ** pdrShift,
    npgptd: p.npgptd,
    ptdptdi: p.ptdptdi,
    aptdptdi: p.aptdptdi,
    kptdi: p.kptdi,
    nkpde: p.nkpde,
    dmpml4i: amd64 ? DMPML4I : -1,
    ndmpml4e: amd64 ? NDMPML4E : 0,
    nkpt: p.nkpt,
    paddr1,
    sysmapsVa,
    npcpv: p.npcpv,
    npcmWords,
    pvEntryBytes: p.pvEntryBytes,
    pcMapOffset: p.pcMapOffset,
    pcEntryOffset: 64,
    psName: pdrShift === 22 ? "4MB" : "2MB",
  };
}

/** FreeBSD/i386: PTDPTDI 767, KPTDI 768, APTDPTDI 1023; pv_chunk of 336 12-byte entries, _NPCM 11. */
export const I386_LAYOUT: FreebsdLayout = finish({
  machine: "i386",
  entryBytes: 4,
  levels: 2,
  indexBits: 10,
  topEntries: 1024,
  npgptd: 1,
  ptdptdi: 767,
  aptdptdi: 1023,
  kptdi: 768,
  nkpde: 255,
  kernelBase: 0xc000_0000,
  kernelMax: 0xffc0_0000,
  nkpt: 4,
  npcpv: 336,
  pvEntryBytes: 12,
  // pc_pmap (4) + pc_list (8)
  pcMapOffset: 12,
});

/** FreeBSD/i386 PAE: PTDPTDI 1532..1535, KPTDI 1536, APTDPTDI 2044..2047 of 2048. */
export const I386_PAE_LAYOUT: FreebsdLayout = finish({
  machine: "i386-pae",
  entryBytes: 8,
  levels: 2,
  indexBits: 9,
  topEntries: 2048,
  npgptd: 4,
  ptdptdi: 1532,
  aptdptdi: 2044,
  kptdi: 1536,
  nkpde: 508,
  kernelBase: 0xc000_0000,
  kernelMax: 0xff80_0000,
  nkpt: 8,
  npcpv: 336,
  pvEntryBytes: 12,
  pcMapOffset: 12,
});

/** FreeBSD/amd64 8: PML4PML4I 256, KPML4I 511, the DMAP; pv_chunk of 168 24-byte entries, _NPCM 3. */
export const AMD64_LAYOUT: FreebsdLayout = finish({
  machine: "amd64",
  entryBytes: 8,
  levels: 4,
  indexBits: 9,
  topEntries: 512,
  npgptd: 1,
  ptdptdi: 256,
  aptdptdi: -1,
  kptdi: 511,
  nkpde: 1,
  kernelBase: 0xffff_8000_0000,
  kernelMax: 0xffff_c000_0000,
  nkpt: 8,
  npcpv: 168,
  pvEntryBytes: 24,
  // pc_pmap (8) + pc_list (16)
  pcMapOffset: 24,
});

/** The layout of a machine by name. */
export function freebsdLayout(machine: MachineName): FreebsdLayout {
  switch (machine) {
    case "i386":
      return I386_LAYOUT;
    case "i386-pae":
      return I386_PAE_LAYOUT;
    case "amd64":
      return AMD64_LAYOUT;
  }
}
