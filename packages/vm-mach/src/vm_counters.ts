/**
 * The counters the Mach VM bumps (4.4BSD's `struct vmmeter cnt` fields and the object statistics
 * of vm_object.c, under vmlab's `layer.thing[.detail]` names). Handles are taken once; the hot
 * paths bump a field.
 */
import type { Counter, Counters } from "@vmlab/core";

export class VmCounters {
  /** cnt.v_vm_faults */
  readonly fault: Counter;
  /** cnt.v_zfod */
  readonly faultZerofill: Counter;
  /** cnt.v_cow_faults */
  readonly faultCow: Counter;
  /** vm_fault with change_wiring (vm_fault_wire's per-page faults). */
  readonly faultWire: Counter;
  /** cnt.v_reactivated from the fault path (a page taken back from the inactive queue). */
  readonly faultReactivated: Counter;
  readonly pageAlloc: Counter;
  readonly pageFreed: Counter;
  /** object_collapses */
  readonly objectCollapse: Counter;
  /** object_bypasses */
  readonly objectBypass: Counter;
  /** vm_object_shadow calls. */
  readonly objectShadow: Counter;
  readonly objectAlloc: Counter;
  readonly objectTerminate: Counter;
  readonly pageoutScan: Counter;
  readonly pageoutFreed: Counter;
  readonly pageoutReactivated: Counter;
  readonly pageoutDeactivated: Counter;
  /** Dirty pages the scan could not clean: no swap space (VM_PAGER_FAIL), reactivated. */
  readonly pageoutNoPager: Counter;
  /** File pages read (vnode pager gets; decision 0007's shared name). */
  readonly pagein: Counter;
  /** Anonymous pages read back from swap. */
  readonly swapin: Counter;
  /** File pages written (by the daemon or vm_object_page_clean). */
  readonly pageout: Counter;
  /** Anonymous pages written to swap. */
  readonly swapout: Counter;
  /** A thread slept on a busy page (PG_WANTED). */
  readonly pageBusyWait: Counter;
  /** VM_WAIT: a thread slept for free pages. */
  readonly pageWait: Counter;
  /** Pager transfers that completed with an error. */
  readonly pagerError: Counter;
  /** Vnode objects put in / taken back from / trimmed out of the object cache. */
  readonly objectCached: Counter;
  readonly objectCacheHit: Counter;
  readonly mapClip: Counter;
  readonly mapSimplify: Counter;
  readonly mapCoalesce: Counter;
  readonly shareMapCreate: Counter;
  readonly forkCopyWired: Counter;

  constructor(c: Counters) {
    this.fault = c.counter("vm.fault");
    this.faultZerofill = c.counter("vm.fault.zerofill");
    this.faultCow = c.counter("vm.fault.cow");
    this.faultWire = c.counter("vm.fault.wire");
    this.faultReactivated = c.counter("vm.fault.reactivated");
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
    this.pageoutNoPager = c.counter("vm.pageout.nopager");
    this.pagein = c.counter("vm.pagein");
    this.swapin = c.counter("vm.swapin");
    this.pageout = c.counter("vm.pageout");
    this.swapout = c.counter("vm.swapout");
    this.pageBusyWait = c.counter("vm.page.busy_wait");
    this.pageWait = c.counter("vm.page.wait");
    this.pagerError = c.counter("vm.pager.error");
    this.objectCached = c.counter("vm.object.cached");
    this.objectCacheHit = c.counter("vm.object.cache_hit");
    this.mapClip = c.counter("vm.map.clip");
    this.mapSimplify = c.counter("vm.map.simplify");
    this.mapCoalesce = c.counter("vm.map.coalesce");
    this.shareMapCreate = c.counter("vm.map.sharemap");
    this.forkCopyWired = c.counter("vm.fork.copy_wired");
  }
}
