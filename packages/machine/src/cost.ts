/**
 * The cycle cost model: what each hardware event costs the CPU that performs it. Simulated cycles
 * are the primary, noise-free figure of every benchmark. The default table is a named, documented
 * approximation of a late-1990s/2000s x86 (order of magnitude, not a datasheet): what matters is
 * that every design is charged by the same table.
 */
export interface CostModel {
  readonly name: string;
  /** A memory access that hits the TLB. */
  memAccess: number;
  /** Fixed part of a TLB miss (before the walk's memory reads). */
  tlbMiss: number;
  /** Each paging-structure entry read during a walk. */
  walkLevel: number;
  /** A locked A/D write-back into a paging-structure entry. */
  adUpdate: number;
  invlpg: number;
  /** MOV to CR3 (TLB flush of non-global entries) and the refill cost that follows is not included. */
  cr3Write: number;
  /** A full flush including global entries (CR4.PGE toggle). */
  tlbFlushAll: number;
  ipiSend: number;
  ipiReceive: number;
  interruptEntry: number;
  interruptExit: number;
  /** Trap entry+exit for a page fault or a system call. */
  trap: number;
  pageZero: number;
  pageCopy: number;
}

export const DEFAULT_COSTS: Readonly<CostModel> = Object.freeze({
  name: "x86-p6-era",
  memAccess: 1,
  tlbMiss: 10,
  walkLevel: 25,
  adUpdate: 15,
  invlpg: 60,
  cr3Write: 120,
  tlbFlushAll: 200,
  ipiSend: 1200,
  ipiReceive: 600,
  interruptEntry: 250,
  interruptExit: 150,
  trap: 300,
  pageZero: 1100,
  pageCopy: 2200,
});
