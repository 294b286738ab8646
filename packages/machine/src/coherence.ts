/**
 * The machine's audit: every TLB entry agrees with the page tables it came from (Intel SDM Vol. 3A
 * 4.10.4: software must invalidate after changing a paging-structure entry). Checked at points
 * where every operation has completed — so an invalidation still owed there is a pmap bug: an
 * entry for a page no longer mapped, mapped to another frame, or with rights the tables no longer
 * grant. A dirty entry over a clean PTE is not checked here: it is legal when the pmap recorded the
 * modification elsewhere before rewriting the PTE (Cranor's pmap_enter moves PG_M into the pv
 * head's attributes and skips the flush when only PG_U/PG_M differ); the pmaps' own audits and the
 * data-survives properties judge whether a modification was lost.
 */
import { hex, InvariantViolation } from "@vmlab/core";
import type { Cpu } from "./cpu.js";
import type { PagingFormat } from "./format.js";
import { ACC_READ } from "./types.js";
import { PageWalker } from "./walk.js";

/**
 * `exempt`: virtual ranges [start, end) whose entries may be stale by design — an alternate
 * page-table window, which its pmap flushes whenever it points the window somewhere new, before
 * any use (4.4BSD pmap_pte's APTDpde check, NetBSD pmap_map_ptes).
 */
export function auditTlbCoherence(cpus: readonly Cpu[], exempt: readonly (readonly [number, number])[] = []): void {
  for (const cpu of cpus) {
    const walker = new PageWalker(cpu.format, cpu.memory, cpu, false);
    walker.rights = cpu.walker.rights;
    for (const e of cpu.tlbEntries()) {
      if (exempt.some(([a, b]) => e.va >= a && e.va < b)) continue;
      const where = `CPU ${cpu.id} TLB entry ${hex(e.va)} → ${hex(e.pa)} (${e.size >= 1 << 21 ? "large" : "4K"})`;
      // Walk as a supervisor read: the tables' rights come back in walker.flags whatever the entry's.
      if (!walker.walk(e.va, ACC_READ, false)) {
        throw new InvariantViolation(
          "machine",
          "TLB coherence",
          `${where}: the page tables no longer map ${hex(e.va)}`,
        );
      }
      // A 4 KiB entry inside a large page, or a large entry over tables since demoted to
      // identical 4 KiB mappings, are both coherent if they agree at the entry's base.
      const tablePa = walker.frame + (e.va - walker.base);
      if (tablePa !== e.pa) {
        throw new InvariantViolation("machine", "TLB coherence", `${where}: the page tables map it to ${hex(tablePa)}`);
      }
      const f = walker.flags;
      const tw = (f & 1) !== 0;
      const tu = (f & 2) !== 0;
      const txd = (f & 4) !== 0;
      if (e.writable && !tw)
        throw new InvariantViolation(
          "machine",
          "TLB coherence",
          `${where}: writable in the TLB, read-only in the tables`,
        );
      if (e.user && !tu)
        throw new InvariantViolation("machine", "TLB coherence", `${where}: user in the TLB, supervisor in the tables`);
      if (!e.noExec && txd)
        throw new InvariantViolation(
          "machine",
          "TLB coherence",
          `${where}: executable in the TLB, no-execute in the tables`,
        );
    }
  }
}

/**
 * The range an alternate page-table window at `base` covers: every page table of one address
 * space (2^vaBits / PAGE_SIZE entries of entryBytes) — what the coherence audit leaves alone.
 */
export function alternateWindow(format: PagingFormat, base: number): readonly [number, number] {
  return [base, base + (2 ** format.vaBits / 4096) * format.entryBytes];
}
