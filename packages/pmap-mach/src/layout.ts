/**
 * vmparam.h and pmap.h of the Mach-style pmap, per machine: where the recursive window (PTmap),
 * the alternate window (APTmap), the kernel and the user page-table region sit in every address
 * space.
 *
 * i386 is 4.4BSD's layout (sys/i386/include/pmap.h, vmparam.h): PTDPTDI = 0x3f7 makes PTmap
 * 0xFDC00000 and PTD 0xFDFF7000; the kernel is linked at 0xFE000000 (KPTDI 0x3f8); the page
 * tables of user addresses are the pages [UPT_MIN_ADDRESS, UPT_MAX_ADDRESS) = [PTmap, PTD) of the
 * process's own map. 4.4BSD had no alternate slot of its own at 0x3fe (NetBSD and FreeBSD put
 * APTDPTDI at the top); we take 0x3fe so slot 0x3ff stays free.
 *
 * i386-pae and amd64 are the same design generalised (our own layout, nothing historic ran the
 * Mach pmap on them): PAE treats its four page directories as one 2048-entry directory and gives
 * every window four consecutive slots; amd64 puts the self slot at PML4 index 255, just above the
 * user half, so the user page tables (PDPT, PD and PT pages) are the low part of PTmap.
 *
 * Addresses are numbers; amd64's upper half is kept as the unsigned 48-bit value (KERNBASE
 * 0xffffffff80000000 is 0xFFFF80000000).
 */
import type { AddressLayout, VAddr } from "@vmlab/core";
import { PAGE_SIZE } from "@vmlab/core";
import type { MachineName } from "@vmlab/machine";

const MiB = 1024 * 1024;

/** Everything the Mach pmap needs to know about one machine's address-space layout. */
export interface MachLayout {
  readonly machine: MachineName;
  /** The AddressLayout the kernel and VM see (module.layout). */
  readonly layout: AddressLayout & { readonly ptmap: VAddr; readonly aptmap: VAddr };
  /** Bytes per page-table entry (4 or 8). */
  readonly entryBytes: 4 | 8;
  /** Paging levels walked in memory (PAE's PDPTE registers are not a level). */
  readonly levels: number;
  /** Index bits per level (10 on i386, 9 otherwise). */
  readonly indexBits: number;
  /** Entries of the top-level table as the windows see it (PAE: 4 PDs as one 2048-entry PD). */
  readonly topEntries: number;
  /** Slots one window takes in the top level (4 on PAE, else 1). */
  readonly windowSlots: number;
  /** PTDPTDI: the self slot (first of four on PAE). */
  readonly selfSlot: number;
  /** APTDPTDI: the alternate slot (first of four on PAE). */
  readonly altSlot: number;
  /** KPTDI: the first top-level slot shared by every pmap (kernel page tables), and how many. */
  readonly kernSlotFirst: number;
  readonly kernSlotCount: number;
  /** PTD: the top-level table as seen through PTmap. */
  readonly ptd: VAddr;
  /** APTD: the other pmap's top-level table as seen through APTmap. */
  readonly aptd: VAddr;
  /** NKPT: kernel page-table pages, all allocated at bootstrap for [KERNBASE, kernelMax). */
  readonly nkpt: number;
  /** sizeof(struct pv_entry) and the pv_page header (NetBSD pv_page: list links, freelist, nfree). */
  readonly pvEntryBytes: number;
  readonly pvPageHeaderBytes: number;
  /** NPVPPG: pv entries per pv page. */
  readonly npvppg: number;
}

function finish(
  p: Omit<MachLayout, "ptd" | "aptd" | "npvppg" | "layout"> & {
    kernelBase: VAddr;
    kernelMax: VAddr;
    uareaPages: number;
  },
): MachLayout {
  const topShift = 12 + p.indexBits * (p.levels - 1);
  const slotBytes = 2 ** topShift;
  const ptmap = p.selfSlot * slotBytes;
  const aptmap = p.altSlot * slotBytes;
  // The top-level table appears inside the window at the page whose index is the self slot
  // (recursively, once per level below the top).
  let ptd = ptmap;
  let aptd = aptmap;
  for (let l = 1; l < p.levels; l++) {
    const step = p.selfSlot * 2 ** (topShift - p.indexBits * l);
    ptd += step;
    aptd += step;
  }
  const uareaVa = ptmap - p.uareaPages * PAGE_SIZE;
  // User page tables: the table pages of every address below the self slot. They end where the
  // top-level table itself appears in the window (4.4BSD UPT_MAX_ADDRESS = PTD); on amd64 the
  // PTs, PDs and PDPTs of the user slots are the three runs below that point.
  const uptMax = ptd;
  const layout = {
    userMin: PAGE_SIZE,
    userMax: uareaVa,
    uareaVa,
    uareaPages: p.uareaPages,
    uptMin: ptmap,
    uptMax,
    mapMax: uptMax,
    kernelBase: p.kernelBase,
    kernelMin: p.kernelBase + 4 * MiB,
    kernelMax: p.kernelMax,
    ptmap,
    aptmap,
    // NBPDR: what one page-table page spans (4 MiB non-PAE, 2 MiB PAE and amd64).
    superpageSize: 2 ** (12 + p.indexBits),
  };
  const { kernelBase: _kb, kernelMax: _km, uareaPages: _up, ...rest } = p;
  return {
    ...rest,
    layout,
    ptd,
    aptd,
    npvppg: Math.floor((PAGE_SIZE - p.pvPageHeaderBytes) / p.pvEntryBytes),
  };
}

/** 4.4BSD i386: PTDPTDI 0x3f7, KPTDI 0x3f8..0x3fd, APTDPTDI 0x3fe, KERNBASE 0xFE000000, UPAGES 2. */
export const I386_LAYOUT: MachLayout = finish({
  machine: "i386",
  entryBytes: 4,
  levels: 2,
  indexBits: 10,
  topEntries: 1024,
  windowSlots: 1,
  selfSlot: 0x3f7,
  altSlot: 0x3fe,
  kernSlotFirst: 0x3f8,
  kernSlotCount: 6,
  nkpt: 6,
  kernelBase: 0xfe00_0000,
  kernelMax: 0xff80_0000,
  uareaPages: 2,
  pvEntryBytes: 16,
  pvPageHeaderBytes: 16,
});

/** i386 PAE: self slots 2028..2031, kernel 2032..2043, alternate 2044..2047 (of 2048 2 MiB slots). */
export const I386_PAE_LAYOUT: MachLayout = finish({
  machine: "i386-pae",
  entryBytes: 8,
  levels: 2,
  indexBits: 9,
  topEntries: 2048,
  windowSlots: 4,
  selfSlot: 2028,
  altSlot: 2044,
  kernSlotFirst: 2032,
  kernSlotCount: 12,
  nkpt: 12,
  kernelBase: 0xfe00_0000,
  kernelMax: 0xff80_0000,
  uareaPages: 2,
  pvEntryBytes: 16,
  pvPageHeaderBytes: 16,
});

/** amd64: self slot PML4 255, alternate 510, kernel 511 with KERNBASE 0xffffffff80000000. */
export const AMD64_LAYOUT: MachLayout = finish({
  machine: "amd64",
  entryBytes: 8,
  levels: 4,
  indexBits: 9,
  topEntries: 512,
  windowSlots: 1,
  selfSlot: 255,
  altSlot: 510,
  kernSlotFirst: 511,
  kernSlotCount: 1,
  nkpt: 32,
  kernelBase: 0xffff_8000_0000,
  kernelMax: 0xffff_8000_0000 + 64 * MiB,
  uareaPages: 2,
  pvEntryBytes: 32,
  pvPageHeaderBytes: 32,
});

/** The layout of a machine by name. */
export function machLayout(machine: MachineName): MachLayout {
  switch (machine) {
    case "i386":
      return I386_LAYOUT;
    case "i386-pae":
      return I386_PAE_LAYOUT;
    case "amd64":
      return AMD64_LAYOUT;
  }
}
