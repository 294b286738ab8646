/**
 * @vmlab/vm-uvm — NetBSD's UVM: map entries with amap/anon overlays over uvm_objects (aobj,
 * vnode), the four-case fault handler, wiring by map-entry edges and transient vslock wiring,
 * page loanout, the pagedaemon with swap, SysV shared memory, uvm_km.
 */
import type { VmContext, VmFactory, VmLayer } from "@vmlab/core";
import { type UvmOptions, UvmVm } from "./vm.js";

export type { UvmOptions, UvmVm } from "./vm.js";

/** The UVM factory: `createSystem({ machine, pmap, vm: uvm() })`. */
export function uvm(opts: UvmOptions = {}): VmFactory {
  return {
    name: "uvm",
    create(ctx: VmContext): VmLayer {
      return new UvmVm(ctx, opts);
    },
  };
}
