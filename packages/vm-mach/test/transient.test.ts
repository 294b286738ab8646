import {
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function entry(s: VmSpace, va: number) {
  const map = (s as MachSpace).map;
  return map.lookupEntry(va);
}

describe("transient wiring (vslock)", () => {
  it("with Write access resolves copy-on-write first: the wired page is the process's own copy", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.store8(p, a, 1);
    const c = t.fork(p);
    const w0 = t.vm.wiredPages;
    const before = t.pmapOf(p).extract(a);
    expect(t.vm.wire(p, a, 2 * P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    const after = t.pmapOf(p).extract(a);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    // The "kernel" copies into the wired frame (read() into the buffer).
    t.pmap.write8(after as number, 0x5a);
    expect(t.load8(p, a)).toBe(0x5a);
    expect(t.load8(c, a)).toBe(1);
    t.audit();
    expect(t.vm.unwire(p, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0);
    t.audit();
  });

  it("is independent of mlock: munlock keeps the transient wiring and vsunlock keeps mlock's", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a, P, "transient", Prot.Read)).toBe(KERN_SUCCESS);
    expect(t.vm.wire(s, a, P, "transient", Prot.Write)).toBe(KERN_SUCCESS); // nests
    expect(entry(s, a).transientCount).toBe(2);
    expect(t.vm.userWiredPages(s)).toBe(2);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.userWiredPages(s)).toBe(0);
    expect(t.vm.wiredPages).toBe(w0 + 1);
    // A transient unwire where there is none is refused, as is unwiring mlock twice.
    expect(t.vm.unwire(s, a + P, P, "transient")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.unwire(s, a, P, "mlock")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.userWiredPages(s)).toBe(2);
    expect(t.vm.wiredPages).toBe(w0 + 2);
    t.audit();
    // System wirings are counted apart from transient ones.
    expect(t.vm.wire(s, a, P, "system")).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_INVALID_ARGUMENT);
    expect(t.vm.unwire(s, a, P, "system")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("refuses an access the range does not allow, before anything changes", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    expect(t.vm.protect(s, a + P, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 2 * P, "transient", Prot.Write)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.wiredPages).toBe(w0);
    expect(t.vm.wire(s, a, 2 * P, "transient", Prot.Read)).toBe(KERN_SUCCESS);
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("pages swapped out are read back in to be wired", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 4);
    t.vm.pagedaemon();
    const held = [];
    while (t.vm.freePages >= t.vm.freeMin) held.push(t.vm.allocPage({}));
    t.vm.pagedaemon();
    t.io.complete();
    t.vm.pagedaemon();
    for (const pg of held) if (pg) t.vm.freePage(pg);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.vm.wire(s, a, P, "transient", Prot.Write)).toBe(KERN_SUCCESS);
    expect(t.stat("vm.swapin")).toBe(1);
    expect(t.pmap.read8(t.pmapOf(s).extract(a) as number)).toBe(4);
    expect(t.vm.unwire(s, a, P, "transient")).toBe(KERN_SUCCESS);
    t.audit();
  });
});
