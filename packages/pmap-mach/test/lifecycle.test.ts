/**
 * pmap_create (pmap_pinit), pmap_reference, pmap_destroy (pmap_release), pmap_activate and
 * pmap_deactivate.
 */
import { PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/toy.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: pmap lifetime", (name) => {
  it("pinit allocates the top-level table(s) from kmem and destroy gives them back", () => {
    const sys = bootSystem(name);
    const free0 = sys.vm.freeCount;
    const pm = sys.create();
    const tables = name === "i386-pae" ? 5 : 1;
    expect(free0 - sys.vm.freeCount).toBe(tables);
    expect(pm.cr3).not.toBe(sys.pmap.kernelPmap.cr3);
    sys.pmap.audit();
    pm.reference();
    pm.destroy();
    expect(sys.pmap.pmaps.has(pm)).toBe(true);
    pm.destroy();
    expect(sys.pmap.pmaps.has(pm)).toBe(false);
    expect(sys.vm.freeCount).toBe(free0);
    expect(() => pm.destroy()).toThrow(/already released/);
  });

  it("activate loads CR3 (the PDPT on PAE); destroy moves CPUs still on it to the kernel pmap", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    pm.activate(1);
    expect(sys.cpu(1).cr3).toBe(pm.cr3);
    expect(pm.active).toBe(2);
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
    sys.vm.releasePageTables(pm);
    pm.deactivate(1);
    expect(pm.active).toBe(0);
    pm.destroy();
    expect(sys.cpu(1).cr3).toBe(sys.pmap.kernelPmap.cr3);
    expect(userPa(sys, 1, VA)).toBe("fault");
    sys.pmap.audit();
  });

  it("release removes whatever the VM left mapped, so no pv entry outlives the pmap", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    pm.enter(VA + PAGE_SIZE, pg, RW, 0);
    pm.destroy();
    expect(sys.pmap.pv.head(pg).pmap).toBeNull();
    sys.pmap.audit();
  });

  it("activating another pmap on a CPU clears the previous one's active bit", () => {
    const sys = bootSystem(name);
    const a = sys.create();
    const b = sys.create();
    a.activate(0);
    b.activate(0);
    expect(a.active).toBe(0);
    expect(b.active).toBe(1);
    expect(sys.cpu(0).cr3).toBe(b.cr3);
  });
});
