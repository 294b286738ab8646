/**
 * Cross-layer invariants: what a process's page tables (the pmap's tree, read from physical
 * memory) may hold given its VM map (the VM layer's entries). Neither layer can check these alone
 * — the pmap does not know the map, the VM does not read PTEs — so the kernel, which holds both,
 * does. One check per invariant, each naming pid, va and pa:
 *
 *   - user PTE in an entry: every valid user PTE below VM_MAXUSER_ADDRESS lies in map entries (a
 *     translation outside the map survives an munmap or a failed mmap: use after unmap);
 *   - writable PTE in a writable entry: R/W only where the entry's protection has Write (a
 *     write-protect that missed a PTE, a copy-on-write page left writable);
 *   - executable PTE in an executable entry: on machines whose pmap uses NX, a PTE without XD only
 *     where the entry has Exec. Non-PAE i386 has no NX bit: every readable page executes there,
 *     and decision 0006 widens PROT_READ to PROT_EXEC in the entry itself, so nothing to check;
 *   - PTE frame managed: the frame is a page the VM layer manages (PHYS_TO_VM_PAGE defined),
 *     unless the entry is a device mapping (no VM layer makes one today);
 *   - wired PTE in a wired entry: a PTE with the pmap's PG_W only where the VM holds a wiring for
 *     the range (mlock, MAP_WIRED, SHM_LOCK'ed or system entries; transient vslock wirings end
 *     with their call, before the audit runs) — a wiring the VM released but the pmap kept is
 *     a page that can never be paged out, and one the VM thinks wired but the pmap does not is
 *     caught by each VM's own audit ("wired entry resident").
 *
 * Read protection is not checked: a present page is readable on x86, and decision 0006 widens
 * PROT_WRITE and PROT_EXEC to include PROT_READ, so no valid user PTE can exceed it.
 */
import { hex, InvariantViolation, type MapEntryView, PAGE_SIZE, Prot } from "@vmlab/core";
import { type LeafMapping, leafMappings } from "@vmlab/machine";
import type { Kernel } from "./kernel.js";
import type { Proc } from "./proc.js";

function fail(rule: string, details: string): never {
  throw new InvariantViolation("kernel", rule, details);
}

/** Where a leaf is, for messages. */
function at(p: Proc, l: LeafMapping): string {
  const size = l.size === PAGE_SIZE ? "" : ` (${l.size / 1024} KiB page)`;
  return `pid ${p.pid} va ${hex(l.va)} pa ${hex(l.pa)}${size}`;
}

/** The entries overlapping [va, end), in order (entries sorted and disjoint). */
function overlapping(entries: readonly MapEntryView[], va: number, end: number): MapEntryView[] {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((entries[mid] as MapEntryView).end <= va) lo = mid + 1;
    else hi = mid;
  }
  const out: MapEntryView[] = [];
  for (let i = lo; i < entries.length; i++) {
    const e = entries[i] as MapEntryView;
    if (e.start >= end) break;
    out.push(e);
  }
  return out;
}

/** The first address of [va, end) no entry covers, or -1 when the entries cover it all. */
function firstHole(covering: readonly MapEntryView[], va: number, end: number): number {
  let next = va;
  for (const e of covering) {
    if (e.start > next) return next;
    next = Math.max(next, e.end);
    if (next >= end) return -1;
  }
  return next < end ? next : -1;
}

/** Every valid user PTE lies in the map. */
function checkInEntry(p: Proc, l: LeafMapping, covering: readonly MapEntryView[]): void {
  const hole = firstHole(covering, l.va, l.va + l.size);
  if (hole >= 0) fail("user PTE in map entry", `${at(p, l)}: valid user PTE, no map entry at ${hex(hole)}`);
}

/** A writable PTE only where the entry has Write. */
function checkWritable(p: Proc, l: LeafMapping, covering: readonly MapEntryView[]): void {
  if (!l.writable) return;
  for (const e of covering) {
    if ((e.prot & Prot.Write) === 0) {
      fail(
        "writable PTE in writable entry",
        `${at(p, l)}: writable PTE in entry [${hex(e.start)}, ${hex(e.end)}) with protection ${e.prot}`,
      );
    }
  }
}

/** An executable PTE only where the entry has Exec (machines with NX in use). */
function checkExecutable(p: Proc, l: LeafMapping, covering: readonly MapEntryView[]): void {
  if (l.noExec) return;
  for (const e of covering) {
    if ((e.prot & Prot.Exec) === 0) {
      fail(
        "executable PTE in executable entry",
        `${at(p, l)}: PTE without NX in entry [${hex(e.start)}, ${hex(e.end)}) with protection ${e.prot}`,
      );
    }
  }
}

/** The frame is a page the VM manages (device mappings excepted: none exist today). */
function checkManaged(k: Kernel, p: Proc, l: LeafMapping): void {
  for (let off = 0; off < l.size; off += PAGE_SIZE) {
    if (k.vm.pageOf(l.pa + off) === undefined) {
      fail("PTE frame managed", `${at(p, l)}: frame ${hex(l.pa + off)} is not a page the VM manages`);
    }
  }
}

/** A PTE with PG_W only where every entry over it holds a wiring. */
function checkWired(p: Proc, l: LeafMapping, covering: readonly MapEntryView[], pgW: number): void {
  if ((l.avl & pgW) === 0) return;
  for (const e of covering) {
    if (!e.wired) {
      fail("wired PTE in wired entry", `${at(p, l)}: PTE has PG_W in unwired entry [${hex(e.start)}, ${hex(e.end)})`);
    }
  }
}

/** The cross-layer checks for every running process: its user-range leaf PTEs against its map. */
export function auditUserMappings(k: Kernel): void {
  const cpu = k.machine.cpus[0];
  if (cpu === undefined) return;
  const format = k.machine.format;
  const opts = { pse: cpu.pse, nxe: cpu.nxe, start: 0, end: k.layout.userMax };
  const nx = format.hasNx && cpu.nxe;
  const pgW = k.pmap.pteWiredBit;
  for (const p of k.procs.values()) {
    if (p.state !== "running") continue;
    const entries = k.vm.entries(p.space);
    for (const l of leafMappings(k.machine.memory, format, p.space.pmap.cr3, opts)) {
      if (!l.user) continue;
      const covering = overlapping(entries, l.va, l.va + l.size);
      checkInEntry(p, l, covering);
      checkWritable(p, l, covering);
      if (nx) checkExecutable(p, l, covering);
      checkManaged(k, p, l);
      if (pgW !== undefined) checkWired(p, l, covering, pgW);
    }
  }
}
