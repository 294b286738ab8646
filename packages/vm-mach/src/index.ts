/**
 * @vmlab/vm-mach — the 4.4BSD-Lite / Mach VM layer: vm_map entries with sharing maps, vm_objects
 * with shadow chains and collapse, vm_fault, the page queues and the pageout daemon, wiring and
 * kernel memory.
 */
import type { VmContext, VmFactory, VmLayer } from "@vmlab/core";
import { MachVm } from "./vm.js";

export type { MachVm } from "./vm.js";

/** The Mach VM factory: `createSystem({ machine, pmap, vm: machVm() })`. */
export function machVm(): VmFactory {
  return {
    name: "mach",
    create(ctx: VmContext): VmLayer {
      return new MachVm(ctx);
    },
  };
}
