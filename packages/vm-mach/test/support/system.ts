/** The testkit harness bound to the Mach VM, with the free-queue check of its page array. */
import type { VmPage } from "@vmlab/core";
import { TestSystem as Harness, type TestSystemOptions } from "@vmlab/testkit";
import { machVm } from "../../src/index.js";
import type { MachVm } from "../../src/vm.js";
import { Q_FREE } from "../../src/vm_page.js";

export { AccessError, RW } from "@vmlab/testkit";

export class TestSystem extends Harness<MachVm> {
  constructor(opts: TestSystemOptions = {}) {
    const self: { vm?: MachVm } = {};
    const isFree = (pg: VmPage): boolean =>
      (opts.isFree?.(pg) ?? false) || self.vm?.pages.pages[pg.index]?.queue === Q_FREE;
    super(machVm(), { ...opts, isFree });
    self.vm = this.vm;
  }
}
