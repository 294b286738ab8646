/** The testkit harness bound to the FreeBSD VM, with the free-page check of its page array. */
import { type AddressLayout, SIZE_2M, SIZE_4M, type VmPage } from "@vmlab/core";
import { FLAT_LAYOUT, TestSystem as Harness, type TestSystemOptions } from "@vmlab/testkit";
import { type FreebsdVmOptions, freebsdVm } from "../../src/index.js";
import type { FreebsdVm } from "../../src/vm.js";
import { PG_FREE } from "../../src/vm_page.js";

export { AccessError, RW } from "@vmlab/testkit";

/** The fake pmap's flat layout with a superpage size (2 MiB by default, like PAE and amd64). */
export function layoutWith(superpageSize: number = SIZE_2M): AddressLayout {
  return { ...FLAT_LAYOUT, superpageSize };
}

export const LAYOUT_4M = layoutWith(SIZE_4M);

export class TestSystem extends Harness<FreebsdVm> {
  constructor(opts: TestSystemOptions & { vm?: FreebsdVmOptions } = {}) {
    const self: { vm?: FreebsdVm } = {};
    const isFree = (pg: VmPage): boolean =>
      (opts.isFree?.(pg) ?? false) || ((self.vm?.pages.pages[pg.index]?.flags ?? 0) & PG_FREE) !== 0;
    super(freebsdVm(opts.vm), { layout: layoutWith(), ...opts, isFree });
    self.vm = this.vm;
  }
}
