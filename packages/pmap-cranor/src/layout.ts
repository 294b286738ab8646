/**
 * vmparam.h and pmap.h of Cranor's pmap, per machine: the recursive slot (PDSLOT_PTE), the kernel
 * slots (PDSLOT_KERN...), the alternate slot (PDSLOT_APTE), and what follows from them.
 *
 * i386 is NetBSD's layout with KERNBASE = 0xC0000000 (NetBSD 1.5 and later; 1.4 linked the kernel
 * at 0xF0000000 with the same arithmetic): PDSLOT_PTE = KERNBASE/NBPD - 1 = 767 makes PTE_BASE
 * 0xBFC00000 and PDP_BASE 0xBFEFF000; the kernel slots start at PDSLOT_KERN = 768; PDSLOT_APTE =
 * 1023 makes APTE_BASE 0xFFC00000 = VM_MAX_KERNEL_ADDRESS. The two pages below PTE_BASE "used to
 * be reserved for the UAREA" — here they are the u-area — so VM_MAXUSER_ADDRESS = 0xBFBFE000.
 *
 * i386-pae is the same design over the 2048-entry combined directory (four page directories as
 * one, indexed by va >> 21): four consecutive recursive slots 1532..1535 just below KERNBASE, the
 * kernel from 1536, four alternate slots 2044..2047 at the top. amd64 is the same generalised to
 * four levels: recursive slot 255 (the top of the lower half, as NetBSD/amd64's L4_SLOT_PTE),
 * alternate slot 510, kernel slot 511 with KERNBASE 0xffffffff80000000 — kept as the unsigned
 * 48-bit value 0xFFFF80000000.
 *
 * Page-table pages are not in the user map (Cranor removed the 4.4BSD trap.c hack), so the UPT
 * region is empty: uptMin = uptMax = mapMax = PTE_BASE.
 */
import type { AddressLayout, VAddr } from "@vmlab/core";
import { PAGE_SIZE } from "@vmlab/core";
import { MAX_CPUS, type MachineName } from "@vmlab/machine";

const MiB = 1024 * 1024;

/** Per-CPU special pages carved after the kernel image (NetBSD: csrcp, cdstp, zerop, ptpp). */
export const SPECIAL_PAGES_PER_CPU = 4;
/** Special page indices within a CPU's group. */
export const SP_ZERO = 0;
export const SP_CSRC = 1;
export const SP_CDST = 2;
export const SP_PTP = 3;

export interface CranorLayout {
  readonly machine: MachineName;
  /** The AddressLayout the kernel and VM see (module.layout). */
  readonly layout: AddressLayout & { readonly ptmap: VAddr; readonly aptmap: VAddr };
  /** Bytes per entry (4 or 8). */
  readonly entryBytes: 4 | 8;
  /** Levels walked in memory (PAE's PDPTE registers are not a level). */
  readonly levels: number;
  /** Index bits per level (10 on i386, 9 otherwise). */
  readonly indexBits: number;
  /** Entries of the top level as the windows see it (PAE: 2048). */
  readonly topEntries: number;
  /** PDP_SIZE: top-level table pages per pmap (4 on PAE, else 1), and slots per window. */
  readonly pdpSize: number;
  /** PDSLOT_PTE (first of four on PAE). */
  readonly slotPte: number;
  /** PDSLOT_APTE (first of four on PAE). */
  readonly slotApte: number;
  /** PDSLOT_KERN and how many top-level slots the kernel owns (shared by every pmap). */
  readonly slotKern: number;
  readonly nslotKern: number;
  /** PDP_BASE: the current top-level table seen through the recursive slot. */
  readonly pdpBase: VAddr;
  /** NKPTP: kernel page tables made at bootstrap, from KERNBASE ("16MB to start"). */
  readonly nkptp: number;
  /** First special VA (per-CPU tmp mappings), right after the 4 MiB image at KERNBASE. */
  readonly specialVa: VAddr;
  /** sizeof(struct pv_entry) and sizeof(struct pv_page_info). */
  readonly pvEntryBytes: number;
  readonly pvPageInfoBytes: number;
  /** PVE_PER_PVPAGE = (NBPG - sizeof(pv_page_info)) / sizeof(pv_entry). */
  readonly pvePerPvpage: number;
}

interface Spec {
  machine: MachineName;
  entryBytes: 4 | 8;
  levels: number;
  indexBits: number;
  topEntries: number;
  pdpSize: number;
  slotPte: number;
  slotApte: number;
  slotKern: number;
  nslotKern: number;
  kernelBase: VAddr;
  kernelMax: VAddr;
  nkptp: number;
  pvEntryBytes: number;
  pvPageInfoBytes: number;
}

function finish(p: Spec): CranorLayout {
  const topShift = 12 + p.indexBits * (p.levels - 1);
  const slot = 2 ** topShift;
  const ptmap = p.slotPte * slot;
  const aptmap = p.slotApte * slot;
  // The top-level table appears in the window at the page whose index is the recursive slot,
  // once per level below the top (PDP_BASE = PTE_BASE + PDSLOT_PTE * NBPG on i386).
  let pdpBase = ptmap;
  for (let l = 1; l < p.levels; l++) pdpBase += p.slotPte * 2 ** (topShift - p.indexBits * l);
  const uareaPages = 2;
  const uareaVa = ptmap - uareaPages * PAGE_SIZE;
  const specialVa = p.kernelBase + 4 * MiB;
  const layout = {
    userMin: PAGE_SIZE,
    userMax: uareaVa,
    uareaVa,
    uareaPages,
    uptMin: ptmap,
    uptMax: ptmap,
    mapMax: ptmap,
    kernelBase: p.kernelBase,
    kernelMin: specialVa + MAX_CPUS * SPECIAL_PAGES_PER_CPU * PAGE_SIZE,
    kernelMax: p.kernelMax,
    ptmap,
    aptmap,
    // NBPDR: what one page-table page spans (4 MiB non-PAE, 2 MiB PAE and amd64).
    superpageSize: 2 ** (12 + p.indexBits),
  };
  return {
    machine: p.machine,
    layout,
    entryBytes: p.entryBytes,
    levels: p.levels,
    indexBits: p.indexBits,
    topEntries: p.topEntries,
    pdpSize: p.pdpSize,
    slotPte: p.slotPte,
    slotApte: p.slotApte,
    slotKern: p.slotKern,
    nslotKern: p.nslotKern,
    pdpBase,
    nkptp: p.nkptp,
    specialVa,
    pvEntryBytes: p.pvEntryBytes,
    pvPageInfoBytes: p.pvPageInfoBytes,
    pvePerPvpage: Math.floor((PAGE_SIZE - p.pvPageInfoBytes) / p.pvEntryBytes),
  };
}

/** NetBSD i386: PDSLOT_PTE 767, PDSLOT_KERN 768..1022, PDSLOT_APTE 1023, KERNBASE 0xC0000000. */
export const I386_LAYOUT: CranorLayout = finish({
  machine: "i386",
  entryBytes: 4,
  levels: 2,
  indexBits: 10,
  topEntries: 1024,
  pdpSize: 1,
  slotPte: 767,
  slotApte: 1023,
  slotKern: 768,
  nslotKern: 255,
  kernelBase: 0xc000_0000,
  kernelMax: 0xffc0_0000,
  nkptp: 4,
  // pv_entry { next, pmap, va, ptp } and pv_page_info { TAILQ links, pvfree, nfree }: 16 bytes each.
  pvEntryBytes: 16,
  pvPageInfoBytes: 16,
});

/** i386 PAE: PTE slots 1532..1535, kernel 1536..2043, APTE 2044..2047 of 2048. */
export const I386_PAE_LAYOUT: CranorLayout = finish({
  machine: "i386-pae",
  entryBytes: 8,
  levels: 2,
  indexBits: 9,
  topEntries: 2048,
  pdpSize: 4,
  slotPte: 1532,
  slotApte: 2044,
  slotKern: 1536,
  nslotKern: 508,
  kernelBase: 0xc000_0000,
  kernelMax: 0xff80_0000,
  nkptp: 8,
  pvEntryBytes: 16,
  pvPageInfoBytes: 16,
});

/** amd64: PTE slot 255, APTE slot 510, kernel slot 511 (KERNBASE 0xffffffff80000000). */
export const AMD64_LAYOUT: CranorLayout = finish({
  machine: "amd64",
  entryBytes: 8,
  levels: 4,
  indexBits: 9,
  topEntries: 512,
  pdpSize: 1,
  slotPte: 255,
  slotApte: 510,
  slotKern: 511,
  nslotKern: 1,
  kernelBase: 0xffff_8000_0000,
  kernelMax: 0xffff_8000_0000 + 1024 * MiB,
  nkptp: 8,
  // 64-bit pointers: 32-byte pv_entry and pv_page_info.
  pvEntryBytes: 32,
  pvPageInfoBytes: 32,
});

/** The layout of a machine by name. */
export function cranorLayout(machine: MachineName): CranorLayout {
  switch (machine) {
    case "i386":
      return I386_LAYOUT;
    case "i386-pae":
      return I386_PAE_LAYOUT;
    case "amd64":
      return AMD64_LAYOUT;
  }
}
