/**
 * What every module of the Mach VM shares: the kernel services, the pmap module, the counters,
 * the page array and the object table. One per system, built by machVm().create().
 */
import type { KernelServices, PmapModule } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import type { ObjectTable } from "./vm_object.js";
import type { PageArray } from "./vm_page.js";

export interface VmCore {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly counters: VmCounters;
  readonly pages: PageArray;
  readonly objects: ObjectTable;
  /** VM_WAIT: where 4.4BSD slept for free pages, run the pageout daemon once. */
  vmWait(): void;
}
