/**
 * VmLayer.entries (uvm_inspect.ts): the map as the process sees it, with UVM's two homes of
 * wiring (an entry's wired_count and uvm_vslock's per-page transient wirings), MAP_SHARED vs
 * copy-on-write, and the vm.map.entries gauge.
 */
import { KERN_SUCCESS, PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { UvmSpace } from "../src/uvm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("entries(): the process's view of its map", () => {
  it("reports private, shared, mlocked and vslocked entries; the gauge counts every space's", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    const s = t.mmap(p, 2 * P, { shared: true });
    const user = () => t.vm.entries(p).filter((e) => e.backing !== "kernel");
    expect(user()).toEqual(
      [
        {
          start: a,
          end: a + 4 * P,
          prot: RW,
          maxProt: expect.any(Number),
          inheritance: expect.any(Number),
          wired: false,
          shared: false,
          backing: "anon",
        },
        {
          start: s,
          end: s + 2 * P,
          prot: RW,
          maxProt: expect.any(Number),
          inheritance: expect.any(Number),
          wired: false,
          shared: true,
          backing: "anon",
        },
      ].sort((x, y) => x.start - y.start),
    );
    // uvm_vslock wires pages without touching the entry: still reported wired.
    expect(t.vm.wire(p, a + P, P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    expect(user().find((e) => e.start <= a + P && a + P < e.end)?.wired).toBe(true);
    expect(t.vm.unwire(p, a + P, P, "transient")).toBe(KERN_SUCCESS);
    expect(user().some((e) => e.wired)).toBe(false);
    expect(t.vm.wire(p, s, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(user().find((e) => e.start === s)?.wired).toBe(true);
    const c = t.fork(p);
    expect(t.stat("vm.map.entries")).toBe((p as UvmSpace).map.nentries + (c as UvmSpace).map.nentries);
    t.audit();
  });
});
