import { KERN_SUCCESS, PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { UvmSpace } from "../src/uvm_glue.js";
import { uvmLoan, uvmUnloanPages } from "../src/uvm_loan.js";
import type { UvmPage } from "../src/uvm_page.js";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("uvm_loan: page loanout to the kernel", () => {
  it("a loan wires the page and write-protects every mapping; a write breaks the loan", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    t.fillPages(s, a, 2 * P, 1);
    const pages: UvmPage[] = [];
    expect(uvmLoan(t.vm, (s as UvmSpace).map, a, 2 * P, pages)).toBe(KERN_SUCCESS);
    expect(pages.map((p) => [p.loanCount, p.wireCount])).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(t.pmapOf(s).protOf(a)).toBe(Prot.Read);
    t.audit();
    // The owner writes: it gets a copy; the kernel keeps the loaned frame and its data.
    t.store8(s, a, 2);
    const loaned = pages[0] as UvmPage;
    expect(t.pageAtVa(s, a)).not.toBe(loaned);
    expect(t.pmap.read8(loaned.pa)).toBe(1);
    expect(loaned.uanon).toBeNull();
    t.audit();
    const free0 = t.vm.freePages;
    uvmUnloanPages(t.vm, pages);
    expect(t.vm.freePages).toBe(free0 + 1);
    expect(pages[1]?.wireCount).toBe(0);
    t.audit();
  });

  it("an owner that frees a loaned page disowns it; the last unloan frees the orphan", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 9);
    const pages: UvmPage[] = [];
    expect(uvmLoan(t.vm, (s as UvmSpace).map, a, P, pages)).toBe(KERN_SUCCESS);
    t.vm.unmap(s, a, P);
    const pg = pages[0] as UvmPage;
    expect(pg.uanon).toBeNull();
    expect(t.pmap.read8(pg.pa)).toBe(9);
    t.audit();
    uvmUnloanPages(t.vm, pages);
    t.audit();
  });
});
