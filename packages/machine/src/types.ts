/**
 * Public shapes of the simulated hardware (API.md "Hardware, standalone").
 */

/** The three x86 paging formats vmlab models. */
export type MachineName = "i386" | "i386-pae" | "amd64";

export type AccessKind = "read" | "write" | "exec";

/** Numeric access codes used on hot paths (no strings per access). */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;
export type Acc = 0 | 1 | 2;

export function accOf(kind: AccessKind): Acc {
  return kind === "read" ? ACC_READ : kind === "write" ? ACC_WRITE : ACC_EXEC;
}

/** x86 exception vectors the MMU raises. */
export const VEC_GP = 13;
export const VEC_PF = 14;

/** Page-fault error code bits (Intel SDM Vol. 3A 4.7). */
export const PFERR_P = 1 << 0;
export const PFERR_W = 1 << 1;
export const PFERR_U = 1 << 2;
export const PFERR_RSVD = 1 << 3;
export const PFERR_ID = 1 << 4;

export interface Fault {
  /** 14 (#PF) or 13 (#GP, e.g. a non-canonical amd64 address). */
  readonly vector: number;
  /** The page-fault error code (0 for #GP). */
  readonly errorCode: number;
  /** The faulting linear address (what CR2 receives for #PF). */
  readonly va: number;
}

export type TranslateResult = { readonly pa: number } | { readonly fault: Fault };

export interface TranslateOptions {
  access: AccessKind;
  user: boolean;
}

/** Control-register bits settable through Cpu.setControl. PAE and long mode are fixed by the machine. */
export interface ControlSettings {
  /** CR3: physical address of the top-level table (PD, PDPT or PML4). */
  cr3?: number;
  /** CR0.WP: supervisor writes honour R/W. */
  wp?: boolean;
  /** CR4.PSE: 4 MiB pages in non-PAE paging (PAE and amd64 always allow large pages). */
  pse?: boolean;
  /** CR4.PGE: global pages survive CR3 writes. */
  pge?: boolean;
  /** EFER.NXE: bit 63 is XD (PAE, amd64); reserved otherwise. */
  nxe?: boolean;
  /** CR4.SMEP: supervisor instruction fetches from user pages fault. */
  smep?: boolean;
}

export interface TlbGeometry {
  /** Sets × ways for 4 KiB entries. */
  smallSets: number;
  smallWays: number;
  /** Fully associative entries for large pages (2 MiB / 4 MiB / 1 GiB). */
  largeEntries: number;
}

/** A TLB entry as shown to inspectors. */
export interface TlbEntryView {
  /** Linear address of the page the entry maps. */
  readonly va: number;
  /** Physical address of the page frame. */
  readonly pa: number;
  /** Page size in bytes: 4096, 2 MiB, 4 MiB or 1 GiB. */
  readonly size: number;
  /** Combined rights cached from the walk. */
  readonly writable: boolean;
  readonly user: boolean;
  readonly noExec: boolean;
  /** Whether the leaf's Dirty bit was set when cached (a write through a clean entry re-walks). */
  readonly dirty: boolean;
  readonly global: boolean;
}
