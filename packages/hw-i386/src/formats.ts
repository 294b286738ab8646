/**
 * The two i386 paging formats (Intel SDM Vol. 3A 4.3 and 4.4).
 *
 * 32-bit paging: CR3 → page directory (1024 × 4-byte PDEs, index = VA 31:22) → page table
 * (1024 PTEs, index = VA 21:12). With CR4.PSE a PDE with PS=1 maps a 4 MiB page. We model a CPU
 * without PSE-36 (MAXPHYADDR 32), so bits 21:13 of a 4 MiB PDE are reserved. No NX.
 *
 * PAE paging: CR3 → 4 PDPTEs (loaded into registers at CR3 writes, index = VA 31:30) → page
 * directory (512 × 8-byte PDEs, index = VA 29:21; PS=1 maps 2 MiB) → page table (512 PTEs, index
 * = VA 20:12). MAXPHYADDR 36 (a P6-class CPU), so bits 62:36 are reserved; bit 63 is XD with
 * EFER.NXE and reserved without it. A PDPTE has only P, PWT, PCD and the address: no R/W, U/S or A.
 */
import { LARGE_ALWAYS, LARGE_IF_PSE, LARGE_NEVER, type PagingFormat } from "@vmlab/machine";

export const I386_FORMAT: PagingFormat = {
  name: "i386",
  entryBytes: 4,
  vaBits: 32,
  maxPhysBits: 32,
  hasNx: false,
  pdpteRegisters: false,
  rsvPdpte: [0, 0],
  cr3Mask: 0xffff_f000,
  levels: [
    // A 4 MiB PDE without PSE-36: bits 21:13 reserved.
    { name: "PDE", shift: 22, indexBits: 10, large: LARGE_IF_PSE, rsvTable: [0, 0], rsvLeaf: [0x003f_e000, 0] },
    { name: "PTE", shift: 12, indexBits: 10, large: LARGE_NEVER, rsvTable: [0, 0], rsvLeaf: [0, 0] },
  ],
};

/** Bits 62:36 as a mask of the high half (bit 63 is XD, handled with EFER.NXE). */
const PAE_RSV_HI = 0x7fff_fff0;

export const I386_PAE_FORMAT: PagingFormat = {
  name: "i386-pae",
  entryBytes: 8,
  vaBits: 32,
  maxPhysBits: 36,
  hasNx: true,
  pdpteRegisters: true,
  // PDPTE: bits 2:1 and 8:5 reserved, and 63:36.
  rsvPdpte: [0x0000_01e6, 0xffff_fff0],
  cr3Mask: 0xffff_ffe0,
  levels: [
    // A 2 MiB PDE: bits 20:13 reserved.
    {
      name: "PDE",
      shift: 21,
      indexBits: 9,
      large: LARGE_ALWAYS,
      rsvTable: [0, PAE_RSV_HI],
      rsvLeaf: [0x001f_e000, PAE_RSV_HI],
    },
    { name: "PTE", shift: 12, indexBits: 9, large: LARGE_NEVER, rsvTable: [0, PAE_RSV_HI], rsvLeaf: [0, PAE_RSV_HI] },
  ],
};
