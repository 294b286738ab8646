/** The testkit harness bound to UVM, with the free-list check of its page array. */
import type { VmPage, VmSpace } from "@vmlab/core";
import { TestSystem as Harness, type TestSystemOptions } from "@vmlab/testkit";
import { uvm } from "../../src/index.js";
import type { UvmSpace } from "../../src/uvm_glue.js";
import type { VmMapEntry } from "../../src/uvm_map.js";
import { PQ_FREE, type UvmPage } from "../../src/uvm_page.js";
import type { UvmVm } from "../../src/vm.js";

export { AccessError, RW } from "@vmlab/testkit";

export class TestSystem extends Harness<UvmVm> {
  constructor(opts: TestSystemOptions = {}) {
    const self: { vm?: UvmVm } = {};
    const isFree = (pg: VmPage): boolean =>
      (opts.isFree?.(pg) ?? false) || ((self.vm?.pages.pages[pg.index]?.pqflags ?? 0) & PQ_FREE) !== 0;
    super(uvm(), { ...opts, isFree });
    self.vm = this.vm;
  }

  /** The user entries of a space (not the kernel's page-table region). */
  entries(s: VmSpace): VmMapEntry[] {
    return (s as UvmSpace).map.entries().filter((e) => !e.system);
  }

  /** The managed page a space maps at va. */
  pageAtVa(s: VmSpace, va: number): UvmPage | undefined {
    const pa = this.pmapOf(s).extract(va);
    return pa === undefined ? undefined : this.vm.pages.pageOf(pa);
  }
}
