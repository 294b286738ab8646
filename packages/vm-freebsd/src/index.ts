/**
 * @vmlab/vm-freebsd — the FreeBSD VM layer (7.x-8.x, with the later laundry queue): vm_map
 * entries in a splay tree, Mach-derived objects with shadow chains and collapse, vm_fault, the
 * vm_phys buddy allocator, vm_reserv superpage reservations, kmem_malloc, swap and vnode pagers
 * over the merged VM/buffer cache, and the page daemon with active/inactive/laundry queues.
 */
import type { VmContext, VmFactory, VmLayer } from "@vmlab/core";
import { FreebsdVm, type FreebsdVmOptions } from "./vm.js";

export type { FreebsdVm, FreebsdVmOptions } from "./vm.js";

/** The FreeBSD VM factory: `createSystem({ machine, pmap, vm: freebsdVm() })`. */
export function freebsdVm(opts: FreebsdVmOptions = {}): VmFactory {
  return {
    name: "freebsd",
    create(ctx: VmContext): VmLayer {
      return new FreebsdVm(ctx, opts);
    },
  };
}
