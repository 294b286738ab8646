import { InvariantViolation, KERN_SUCCESS, KernelPanic, PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function rule(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.rule;
    throw e;
  }
  return "(no violation)";
}

/** A process with a forked child, some written, shared and wired memory. */
function busy(): { t: TestSystem; p: MachSpace; c: MachSpace; a: number } {
  const t = new TestSystem();
  const p = t.spawn() as MachSpace;
  const a = t.mmap(p, 4 * P);
  t.fillPages(p, a, 4 * P, 1);
  const sh = t.mmap(p, P, { shared: true });
  t.store8(p, sh, 2);
  const c = t.fork(p) as MachSpace;
  t.store8(c, a, 3);
  expect(t.vm.wire(p, a + 2 * P, P, "mlock")).toBe(KERN_SUCCESS);
  t.audit();
  return { t, p, c, a };
}

describe("audit() catches broken invariants", () => {
  it("a wrong object reference count", () => {
    const { t, p } = busy();
    const e = p.map.entries().find((x) => x.object);
    if (e?.object) e.object.refCount++;
    expect(rule(() => t.vm.audit())).toBe("object ref_count");
  });

  it("overlapping entries", () => {
    const { t, p } = busy();
    const [e0] = p.map.entries();
    if (e0) e0.end += P;
    expect(rule(() => t.vm.audit())).toBe("entries ordered and disjoint");
  });

  it("a page on no queue", () => {
    const { t } = busy();
    const pg = t.vm.pages.active.head;
    if (pg) t.vm.pages.active.remove(pg);
    expect(rule(() => t.vm.audit())).toBe("page queue membership");
  });

  it("a wire count that disagrees with the wired entries", () => {
    const { t, p, a } = busy();
    const pg = t.vm.pageOf(t.pmapOf(p).extract(a + 2 * P) ?? 0);
    if (pg) pg.wireCount++;
    expect(rule(() => t.vm.audit())).toBe("page wire count");
  });

  it("a stale translation left behind by a copy-on-write", () => {
    const { t, p, c, a } = busy();
    // Map the child's private copy into the parent at the same address behind the VM's back.
    const pa = t.pmapOf(c).extract(a) ?? 0;
    const pg = t.vm.pageOf(pa);
    if (pg) t.pmapOf(p).enter(a, pg, Prot.Read, 0);
    expect(rule(() => t.vm.audit())).toBe("translation current");
  });

  it("a shadow chain loop", () => {
    const { t, c } = busy();
    const e = c.map.entries().find((x) => x.object?.shadow);
    const obj = e?.object;
    if (obj?.shadow) {
      obj.shadow.shadow = obj;
      obj.refCount++;
    }
    expect(rule(() => t.vm.audit())).toBe("shadow chain acyclic");
  });

  it("a wrong page back-pointer", () => {
    const { t } = busy();
    const pg = t.vm.pages.active.head;
    if (pg) pg.offset += P;
    expect(rule(() => t.vm.audit())).toMatch(/page back-pointer|page offset/);
  });

  it("a bad hint", () => {
    const { t, p } = busy();
    const e = p.map.entries()[0];
    if (e) p.map.hint = e.clone();
    expect(rule(() => t.vm.audit())).toBe("map hint");
  });
});

describe("panics where 4.4BSD had (or should have had) them", () => {
  it("vm_page_unwire: wire_count underflow", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 1);
    const pg = t.vm.pages.pageOf(t.pmapOf(s).extract(a) ?? 0);
    expect(() => pg && t.vm.pages.unwire(pg)).toThrow(/panic: vm_page_unwire: wire_count underflow/);
    expect(t.kernel.panicked).toMatch(/wire_count underflow/);
  });

  it("vm_object_deallocate underflow", () => {
    const t = new TestSystem();
    const obj = t.vm.objects.allocate(P);
    t.vm.objects.deallocate(obj);
    expect(() => t.vm.objects.deallocate(obj)).toThrow(KernelPanic);
  });
});
