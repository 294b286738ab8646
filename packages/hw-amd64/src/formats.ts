/**
 * 4-level (IA-32e) paging (Intel SDM Vol. 3A 4.5): CR3 → PML4 → PDPT → PD → PT, 512 8-byte
 * entries per table, 9-bit indices at VA bits 47:39, 38:30, 29:21, 20:12. A PDPTE with PS=1 maps
 * 1 GiB (bits 29:13 reserved), a PDE with PS=1 maps 2 MiB (bits 20:13 reserved); PS in a PML4E is
 * reserved. MAXPHYADDR 40, so bits 51:40 are reserved; 62:52 are ignored; bit 63 is XD with
 * EFER.NXE and reserved without. Linear addresses are 48-bit: the upper canonical half is passed
 * as its unsigned 48-bit value, and anything at or above 2^48 is non-canonical (#GP, no walk).
 */
import { LARGE_ALWAYS, LARGE_NEVER, type PagingFormat } from "@vmlab/machine";

const RSV_HI = 0x000f_ff00; // bits 51:40

export const AMD64_FORMAT: PagingFormat = {
  name: "amd64",
  entryBytes: 8,
  vaBits: 48,
  maxPhysBits: 40,
  hasNx: true,
  pdpteRegisters: false,
  rsvPdpte: [0, 0],
  cr3Mask: 0xffff_f000,
  levels: [
    { name: "PML4E", shift: 39, indexBits: 9, large: LARGE_NEVER, rsvTable: [0x80, RSV_HI], rsvLeaf: [0x80, RSV_HI] },
    {
      name: "PDPTE",
      shift: 30,
      indexBits: 9,
      large: LARGE_ALWAYS,
      rsvTable: [0, RSV_HI],
      rsvLeaf: [0x3fff_e000, RSV_HI],
    },
    {
      name: "PDE",
      shift: 21,
      indexBits: 9,
      large: LARGE_ALWAYS,
      rsvTable: [0, RSV_HI],
      rsvLeaf: [0x001f_e000, RSV_HI],
    },
    { name: "PTE", shift: 12, indexBits: 9, large: LARGE_NEVER, rsvTable: [0, RSV_HI], rsvLeaf: [0, RSV_HI] },
  ],
};
