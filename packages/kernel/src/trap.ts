/**
 * trap(): what the i386/amd64 trap handler does with a user page fault (4.4BSD
 * sys/i386/i386/trap.c, FreeBSD trap_pfault, NetBSD trap.c): check the segment limit, fault in
 * missing page-table pages that live in the user map (the 4.4BSD "hack"), call the VM layer's
 * vm_fault, and turn a failure into a signal.
 */
import {
  hex,
  KERN_INVALID_ADDRESS,
  KERN_MEMORY_ERROR,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
  SignalError,
  truncPage,
} from "@vmlab/core";
import { ACC_EXEC, ACC_WRITE, type Cpu, VEC_GP } from "@vmlab/machine";
import type { Kernel } from "./kernel.js";
import type { Proc } from "./proc.js";

/** Faults at one address that vm_fault "resolves" without the access ever succeeding. */
const FAULT_LOOP_LIMIT = 16;

export function accessProt(acc: number): number {
  return acc === ACC_WRITE ? Prot.Write : acc === ACC_EXEC ? Prot.Exec : Prot.Read;
}

/**
 * Handle the fault the CPU just took on a user access to `va` (error code and CR2 in the CPU).
 * Returns to let the access be retried; throws SignalError when the process must get a signal.
 * `attempt` counts retries of the same access (a loop means the pmap or VM never really mapped it).
 */
export function userFault(k: Kernel, p: Proc, cpu: Cpu, va: number, acc: number, attempt: number): void {
  const space = p.space;
  k.faults.value++;
  cpu.cycles += k.machine.costs.trap;
  if (cpu.faultVector === VEC_GP) throw new SignalError("SIGSEGV", "SEGV_MAPERR", va);
  if (attempt >= FAULT_LOOP_LIMIT) {
    k.services.panic(`trap: fault loop at ${hex(va)} (vm_fault keeps succeeding, the MMU keeps faulting)`);
  }
  const page = truncPage(va);
  k.services.trace.emit("trap", "pagefault", { va: page, code: cpu.faultErrorCode, cpu: cpu.id });
  // 4.4BSD trap.c: page-table pages live in the process's own map; fault them in first and wire them.
  const ptvas = k.pmap.missingPageTables(space.pmap, page);
  for (const ptva of ptvas) {
    let prv = k.pageTableFault(space, ptva);
    // No memory for the page-table page, ever: as for the page itself below (4.4BSD's vm_fault
    // would sleep in VM_WAIT for ever; the simulator kills the largest process and retries).
    for (let kills = 0; prv === KERN_RESOURCE_SHORTAGE && kills < 8 && k.sched.oomKill(p); kills++) {
      prv = k.pageTableFault(space, ptva);
    }
    if (prv === KERN_RESOURCE_SHORTAGE) throw new SignalError("SIGKILL", "SI_NOINFO", va);
    if (prv !== KERN_SUCCESS) throw new SignalError("SIGSEGV", "SEGV_MAPERR", va);
  }
  let rv = k.vm.fault(space, page, accessProt(acc));
  // Erratum netbsd-1997-stale-pv (docs/errata.md): the pre-fault wiring is dropped as soon as the
  // fault is done (vm_map_pageable(map, v, round_page(v+1), TRUE)), so the page-table page is
  // pageable while it still maps the page just entered. The fix is to keep it wired.
  if (rv === KERN_SUCCESS && ptvas.length > 0 && k.services.erratum("netbsd-1997-stale-pv")) {
    for (const ptva of ptvas) k.vm.unwire(space, ptva, PAGE_SIZE, "system");
  }
  // Out of memory with nothing left to page out: kill the largest process and retry; if that is
  // this one, oomKill throws its SIGKILL.
  for (let kills = 0; rv === KERN_RESOURCE_SHORTAGE && kills < 8 && k.sched.oomKill(p); kills++) {
    rv = k.vm.fault(space, page, accessProt(acc));
  }
  k.afterOp();
  switch (rv) {
    case KERN_SUCCESS:
      return;
    case KERN_INVALID_ADDRESS:
      throw new SignalError("SIGSEGV", "SEGV_MAPERR", va);
    case KERN_PROTECTION_FAILURE:
      throw new SignalError("SIGSEGV", "SEGV_ACCERR", va);
    case KERN_MEMORY_ERROR:
      throw new SignalError("SIGBUS", "BUS_ADRERR", va);
    case KERN_RESOURCE_SHORTAGE:
      // Out of memory with nothing to page out: the BSDs kill the process ("out of swap space").
      throw new SignalError("SIGKILL", "SI_NOINFO", va);
    default:
      throw new SignalError("SIGSEGV", "SEGV_MAPERR", va);
  }
}
