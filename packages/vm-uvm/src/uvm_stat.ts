/**
 * The counters UVM bumps (NetBSD `struct uvmexp` fields and the uvm_stat event counters, under
 * vmlab's `layer.thing[.detail]` names; the ones every VM layer shares are those of decision 0007).
 * Handles are taken once; the hot paths bump a field.
 */
import type { Counter, Counters } from "@vmlab/core";

export class UvmCounters {
  /** uvmexp.faults */
  readonly fault: Counter;
  /** zero-filled pages: case 2B without an object, and aobj pages never written (uvmexp.flt_zero) */
  readonly faultZerofill: Counter;
  /** uvmexp.flt_acow + flt_prcopy: copy-on-write (case 1B, and 2B from an object page) */
  readonly faultCow: Counter;
  /** case 1A: the anon's page used in place (uvmexp.flt_anon) */
  readonly faultAnon: Counter;
  /** case 2A: the object's page mapped (uvmexp.flt_obj) */
  readonly faultObj: Counter;
  /** faults with UVM_FAULT_WIRE (uvm_fault_wire's per-page faults) */
  readonly faultWire: Counter;
  /** ReFault: the handler dropped everything to wait and started over */
  readonly faultRefault: Counter;
  /** uvmfault_amapcopy */
  readonly faultAmapCopy: Counter;
  /** pages mapped by fault-ahead (uvmexp.flt_nomap's complement: neighbours entered) */
  readonly faultAhead: Counter;
  readonly pageAlloc: Counter;
  readonly pageFreed: Counter;
  /** a thread slept on a busy page (PG_WANTED) */
  readonly pageBusyWait: Counter;
  /** file pages read (uvn_get) */
  readonly pagein: Counter;
  /** anon / aobj pages read from swap */
  readonly swapin: Counter;
  /** file pages written (uvn_put from the pagedaemon or msync) */
  readonly pageout: Counter;
  /** anon / aobj pages written to swap */
  readonly swapout: Counter;
  /** no swap slot free: the page stays dirty */
  readonly swapFull: Counter;
  readonly pdScan: Counter;
  readonly pdFreed: Counter;
  readonly pdDeactivated: Counter;
  readonly pdReactivated: Counter;
  readonly amapAlloc: Counter;
  readonly amapCopy: Counter;
  readonly amapFree: Counter;
  readonly anonAlloc: Counter;
  readonly anonFree: Counter;
  readonly mapClip: Counter;
  readonly mapMerge: Counter;
  readonly forkCowNow: Counter;
  readonly loan: Counter;
  readonly unloan: Counter;

  constructor(c: Counters) {
    this.fault = c.counter("vm.fault");
    this.faultZerofill = c.counter("vm.fault.zerofill");
    this.faultCow = c.counter("vm.fault.cow");
    this.faultAnon = c.counter("vm.fault.anon");
    this.faultObj = c.counter("vm.fault.obj");
    this.faultWire = c.counter("vm.fault.wire");
    this.faultRefault = c.counter("vm.fault.refault");
    this.faultAmapCopy = c.counter("vm.fault.amapcopy");
    this.faultAhead = c.counter("vm.fault.ahead");
    this.pageAlloc = c.counter("vm.page.alloc");
    this.pageFreed = c.counter("vm.page.freed");
    this.pageBusyWait = c.counter("vm.page.busy_wait");
    this.pagein = c.counter("vm.pagein");
    this.swapin = c.counter("vm.swapin");
    this.pageout = c.counter("vm.pageout");
    this.swapout = c.counter("vm.swapout");
    this.swapFull = c.counter("vm.swap.full");
    this.pdScan = c.counter("vm.pageout.scan");
    this.pdFreed = c.counter("vm.pageout.freed");
    this.pdDeactivated = c.counter("vm.pageout.deactivated");
    this.pdReactivated = c.counter("vm.pageout.reactivated");
    this.amapAlloc = c.counter("vm.amap.alloc");
    this.amapCopy = c.counter("vm.amap.copy");
    this.amapFree = c.counter("vm.amap.free");
    this.anonAlloc = c.counter("vm.anon.alloc");
    this.anonFree = c.counter("vm.anon.free");
    this.mapClip = c.counter("vm.map.clip");
    this.mapMerge = c.counter("vm.map.merge");
    this.forkCowNow = c.counter("vm.fork.cow_now");
    this.loan = c.counter("vm.loan");
    this.unloan = c.counter("vm.unloan");
  }
}
