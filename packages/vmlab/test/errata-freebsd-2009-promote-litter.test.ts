import { describe, expect, it } from "vitest";
import { createSystem } from "../src/create.js";
import { erratum, reproduce } from "../src/errata/index.js";
import { combinations } from "../src/registry.js";
import { newContext, runSteps } from "../src/scenario.js";

const ID = "freebsd-2009-promote-litter";
const e = erratum(ID);
const applicable = combinations().filter((c) => e.applies(c).applies);
const immune = combinations().filter((c) => !e.applies(c).applies);

describe(ID, () => {
  it("applies to pmap freebsd × vm freebsd on every machine, and says why the others are immune", () => {
    expect(applicable.map((c) => c.machine).sort()).toEqual(["amd64", "i386", "i386-pae"]);
    for (const c of applicable) {
      expect(c.pmap).toBe("freebsd");
      expect(c.vm).toBe("freebsd");
    }
    for (const c of immune) expect(e.applies(c).why.length).toBeGreaterThan(20);
  });

  for (const c of applicable) {
    const name = `${c.machine}/${c.pmap}/${c.vm}`;
    const ps = c.machine === "i386" ? "4MB" : "2MB";
    it(`${name}: on → litter, promotion at the first page, panic at the second`, () => {
      const r = reproduce(ID, c, { enabled: true });
      expect(r.reproduced).toBe(true);
      expect(r.panic).toBe(`panic: pmap_enter: attempted pmap_enter on ${ps} page`);
      const sys = createSystem({ ...e.reproducer.options, ...c, seed: 1, errata: [ID] });
      const out = runSteps(e.reproducer, newContext(sys));
      expect(out.failedStep?.title).toMatch(/^kmem_malloc 2 pages/);
      expect(out.evidence.join("\n")).toMatch(/litter: kernel PTE/);
      expect(out.evidence.join("\n")).toMatch(/pmap_promote_pde: kernel/);
    });

    it(`${name}: off → every step completes (the promotion comes at the last page), audit clean`, () => {
      const sys = createSystem({ ...e.reproducer.options, ...c, seed: 1 });
      const out = runSteps(e.reproducer, newContext(sys));
      expect(out.panic).toBeUndefined();
      expect(out.error).toBeUndefined();
      expect(out.completed).toBe(e.reproducer.steps.length);
      expect(out.evidence.join("\n")).not.toMatch(/litter/);
      sys.audit();
      expect(reproduce(ID, c, { enabled: false }).reproduced).toBe(false);
    });
  }

  it("createSystem refuses it where it cannot apply", () => {
    const c = immune.find((x) => x.pmap === "freebsd" && x.vm !== "freebsd") ?? immune[0];
    if (!c) return;
    expect(() => createSystem({ ...c, errata: [ID] })).toThrow();
  });
});
