/**
 * The counters the FreeBSD VM bumps: `struct vmmeter` fields (v_vm_faults, v_zfod, v_cow_faults,
 * v_cow_optim, v_reactivated, ...), the vm.reserv.* sysctls of vm_reserv.c and vm.phys.* of
 * vm_phys.c, under vmlab's names; the names shared by every VM layer are decision 0007's.
 * Handles are taken once; hot paths bump a field.
 */
import type { Counter, Counters } from "@vmlab/core";

export class VmCounters {
  readonly fault: Counter;
  readonly faultZerofill: Counter;
  readonly faultCow: Counter;
  /** v_cow_optim: a copy-on-write fault that moved the page up instead of copying it. */
  readonly faultCowOptim: Counter;
  readonly faultWire: Counter;
  readonly faultReactivated: Counter;
  readonly pagein: Counter;
  readonly swapin: Counter;
  readonly pageout: Counter;
  readonly swapout: Counter;
  readonly busyWait: Counter;
  /** Page rundowns (pmap_page_protect) done by biodone at interrupt time (erratum of seed 000). */
  readonly intrRundown: Counter;
  readonly pageAlloc: Counter;
  readonly pageFreed: Counter;
  readonly objectCollapse: Counter;
  readonly objectBypass: Counter;
  readonly objectShadow: Counter;
  readonly objectAlloc: Counter;
  readonly objectTerminate: Counter;
  readonly pageoutScan: Counter;
  readonly pageoutFreed: Counter;
  readonly pageoutReactivated: Counter;
  readonly pageoutDeactivated: Counter;
  readonly pageoutLaundered: Counter;
  /** Dirty anonymous pages the laundry could not clean: the swap device was full. */
  readonly pageoutNoSwap: Counter;
  readonly mapClip: Counter;
  readonly mapSimplify: Counter;
  readonly mapCoalesce: Counter;
  readonly forkCopyWired: Counter;
  /** vm.reserv.* (vm_reserv.c sysctls). */
  readonly reservAlloc: Counter;
  readonly reservFreed: Counter;
  readonly reservBroken: Counter;
  readonly reservReclaimed: Counter;
  readonly reservPageAlloc: Counter;
  /** vm.phys.*: buddy splits and merges, contiguous allocations. */
  readonly physSplit: Counter;
  readonly physMerge: Counter;
  readonly physContig: Counter;

  constructor(c: Counters) {
    this.fault = c.counter("vm.fault");
    this.faultZerofill = c.counter("vm.fault.zerofill");
    this.faultCow = c.counter("vm.fault.cow");
    this.faultCowOptim = c.counter("vm.fault.cow_optim");
    this.faultWire = c.counter("vm.fault.wire");
    this.faultReactivated = c.counter("vm.fault.reactivated");
    this.pagein = c.counter("vm.pagein");
    this.swapin = c.counter("vm.swapin");
    this.pageout = c.counter("vm.pageout");
    this.swapout = c.counter("vm.swapout");
    this.busyWait = c.counter("vm.page.busy_wait");
    this.intrRundown = c.counter("vm.biodone.page_protect");
    this.pageAlloc = c.counter("vm.page.alloc");
    this.pageFreed = c.counter("vm.page.freed");
    this.objectCollapse = c.counter("vm.object.collapse");
    this.objectBypass = c.counter("vm.object.bypass");
    this.objectShadow = c.counter("vm.object.shadow");
    this.objectAlloc = c.counter("vm.object.alloc");
    this.objectTerminate = c.counter("vm.object.terminate");
    this.pageoutScan = c.counter("vm.pageout.scan");
    this.pageoutFreed = c.counter("vm.pageout.freed");
    this.pageoutReactivated = c.counter("vm.pageout.reactivated");
    this.pageoutDeactivated = c.counter("vm.pageout.deactivated");
    this.pageoutLaundered = c.counter("vm.pageout.laundered");
    this.pageoutNoSwap = c.counter("vm.pageout.noswap");
    this.mapClip = c.counter("vm.map.clip");
    this.mapSimplify = c.counter("vm.map.simplify");
    this.mapCoalesce = c.counter("vm.map.coalesce");
    this.forkCopyWired = c.counter("vm.fork.copy_wired");
    this.reservAlloc = c.counter("vm.reserv.alloc");
    this.reservFreed = c.counter("vm.reserv.freed");
    this.reservBroken = c.counter("vm.reserv.broken");
    this.reservReclaimed = c.counter("vm.reserv.reclaimed");
    this.reservPageAlloc = c.counter("vm.reserv.page_alloc");
    this.physSplit = c.counter("vm.phys.split");
    this.physMerge = c.counter("vm.phys.merge");
    this.physContig = c.counter("vm.phys.contig");
  }
}
