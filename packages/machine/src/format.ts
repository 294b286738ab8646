/**
 * A paging format, described as data for the generic walk engine (walk.ts). The hw-i386 and
 * hw-amd64 packages define the three formats; the engine interprets them exactly as the Intel SDM
 * Vol. 3A chapter 4 describes the walk.
 */
import type { MachineName } from "./types.js";

/** When an entry at a level may map a large page (PS = bit 7). */
export const LARGE_NEVER = 0;
/** PS is honoured always (PAE and 4-level PDEs, 4-level PDPTEs with 1 GiB pages). */
export const LARGE_ALWAYS = 1;
/** PS is honoured only with CR4.PSE (32-bit paging PDEs); ignored otherwise. */
export const LARGE_IF_PSE = 2;

export interface LevelSpec {
  /** SDM name of the entry at this level: "PML4E", "PDPTE", "PDE", "PTE". */
  readonly name: string;
  /** Bit position of the index's least significant bit in the linear address. */
  readonly shift: number;
  /** Index width in bits (10 for 32-bit paging, 9 for PAE/4-level). */
  readonly indexBits: number;
  readonly large: typeof LARGE_NEVER | typeof LARGE_ALWAYS | typeof LARGE_IF_PSE;
  /** Reserved bits (low, high 32-bit halves) of an entry that references a table. */
  readonly rsvTable: readonly [number, number];
  /** Reserved bits of an entry that maps a page (4 KiB at the last level, large above). */
  readonly rsvLeaf: readonly [number, number];
}

export interface PagingFormat {
  readonly name: MachineName;
  /** 4 (32-bit entries) or 8 (64-bit entries). */
  readonly entryBytes: 4 | 8;
  /** Linear address width: 32, or 48 for 4-level paging (higher values are non-canonical → #GP). */
  readonly vaBits: 32 | 48;
  /** MAXPHYADDR. */
  readonly maxPhysBits: number;
  /** Whether bit 63 can be XD (with EFER.NXE). */
  readonly hasNx: boolean;
  /** PAE: CR3 names a 4-entry PDPT whose entries are loaded into registers on CR3 writes. */
  readonly pdpteRegisters: boolean;
  /** PAE PDPTE reserved bits (low, high halves), checked at CR3 load. */
  readonly rsvPdpte: readonly [number, number];
  /** Mask of CR3 bits that address the top-level table. */
  readonly cr3Mask: number;
  /** Levels walked in memory, top first (the PAE PDPTE registers are not a level here). */
  readonly levels: readonly LevelSpec[];
}

/** Page-table entry bits common to every x86 format. */
export const PG_V = 0x001; // present
export const PG_RW = 0x002;
export const PG_U = 0x004; // user/supervisor
export const PG_PWT = 0x008;
export const PG_PCD = 0x010;
export const PG_A = 0x020;
export const PG_M = 0x040; // dirty
export const PG_PS = 0x080;
export const PG_G = 0x100;
/** Bits 9-11, free for software (the BSD pmaps keep PG_W "wired" and PG_MANAGED there). */
export const PG_AVAIL1 = 0x200;
export const PG_AVAIL2 = 0x400;
export const PG_AVAIL3 = 0x800;
/** All three AVL bits. */
export const PG_AVL = PG_AVAIL1 | PG_AVAIL2 | PG_AVAIL3;
/** Bit 63 (XD/NX), as a bit of the high 32-bit half. */
export const PG_NX_HI = 0x8000_0000;
