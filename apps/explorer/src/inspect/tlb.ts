/**
 * Each CPU's TLB, with every entry checked against the page tables it came from: an entry whose
 * translation or rights the tables no longer give is stale — an invalidation (INVLPG, a CR3 write
 * or a shootdown) is owed, and the CPU will keep using the old translation until it happens.
 * Stale entries of the alternate window are told apart: the pmaps flush those when they next
 * switch the window, by design.
 */
import type { TlbEntryView } from "@vmlab/machine";
import type { System } from "vmlab";
import { PageTableReader } from "./pagetable.js";
import { pmaps, runningPids } from "./parts.js";

export interface TlbEntryCheck extends TlbEntryView {
  /** Why the entry disagrees with the tables (undefined: it agrees). */
  readonly stale: string | undefined;
  /**
   * A stale entry of the alternate window (APTmap): the BSD pmaps flush those lazily, when they
   * next point the window at a pmap (pmap_pte's APTD check), not when the old target goes away.
   */
  readonly deferred: boolean;
}

export interface CpuTlb {
  readonly cpu: number;
  readonly cr3: number;
  /** The pmap loaded in CR3 and its process, when known. */
  readonly pmapId: number | undefined;
  readonly pid: number | undefined;
  readonly entries: readonly TlbEntryCheck[];
}

const hex = (n: number) => `0x${n.toString(16)}`;

export function tlbs(sys: System): CpuTlb[] {
  const reader = new PageTableReader(sys.machine, sys.layout);
  const byCr3 = new Map(pmaps(sys).map((p) => [p.cr3, p]));
  const pids = runningPids(sys);
  return sys.machine.cpus.map((c, i) => {
    const entries = c
      .tlbEntries()
      .sort((a, b) => a.va - b.va)
      .map((e) => {
        const stale = staleness(reader, c.cr3, e);
        return { ...e, stale, deferred: stale !== undefined && reader.windowAt(e.va) === "alternate" };
      });
    const pm = byCr3.get(c.cr3);
    return { cpu: i, cr3: c.cr3, pmapId: pm?.id, pid: pids[i] ?? pm?.pid, entries };
  });
}

function staleness(reader: PageTableReader, cr3: number, e: TlbEntryView): string | undefined {
  const t = reader.lookup(cr3, e.va);
  if (!t) return "not mapped in the tables";
  const pa = t.pa - (t.pa % e.size);
  if (pa !== e.pa) return `tables map ${hex(pa)}`;
  if (e.writable && !t.writable) return "tables are read-only";
  if (e.user && !t.user) return "tables are supervisor-only";
  if (!e.noExec && t.noExec && e.size === t.size) return "tables are no-execute";
  return undefined;
}
