import { createSystem as compose } from "@vmlab/kernel";
import { describe, expect, it } from "vitest";
import { createSystem } from "../src/create.js";
import { erratum, reproduce } from "../src/errata/index.js";
import { combinations } from "../src/registry.js";
import { newContext, runSteps } from "../src/scenario.js";

const ID = "freebsd-2006-pvchunk-kva-recursion";
const e = erratum(ID);
const applicable = combinations().filter((c) => e.applies(c).applies);
const immune = combinations().filter((c) => !e.applies(c).applies);

describe(ID, () => {
  it("applies to i386 and i386-pae with the FreeBSD pmap only", () => {
    expect(applicable.length).toBeGreaterThan(0);
    for (const c of applicable) {
      expect(c.pmap).toBe("freebsd");
      expect(c.machine).not.toBe("amd64");
    }
    for (const c of immune) expect(e.applies(c).why.length).toBeGreaterThan(20);
  });

  for (const c of applicable) {
    const name = `${c.machine}/${c.pmap}/${c.vm}`;
    it(`${name}: on → WITNESS reversal pmap/kernel_map and the recursion panic`, () => {
      const r = reproduce(ID, c, { enabled: true });
      expect(r.reproduced).toBe(true);
      expect(r.panic).toMatch(/recurs(ed on non-recursive mutex|ing but non-recursive rw)/);
    });

    it(`${name}: off → every step completes, audit clean`, () => {
      const sys = createSystem({ ...e.reproducer.options, ...c, seed: 1 });
      const out = runSteps(e.reproducer, newContext(sys));
      expect(out.panic).toBeUndefined();
      expect(out.error).toBeUndefined();
      expect(out.completed).toBe(e.reproducer.steps.length);
      expect(out.evidence).toEqual([]);
      sys.audit();
      expect(reproduce(ID, c, { enabled: false }).reproduced).toBe(false);
    });
  }

  it("the evidence names both locks", () => {
    const c = applicable[0];
    if (!c) return;
    const sys = createSystem({ ...e.reproducer.options, ...c, seed: 1, errata: [ID] });
    const out = runSteps(e.reproducer, newContext(sys));
    expect(out.evidence.join("\n")).toMatch(/kernel_map/);
    expect(out.evidence.join("\n")).toMatch(/pmap|pvh/);
    expect(compose).toBeTypeOf("function");
  });

  it("createSystem refuses it on amd64", () => {
    const c = immune.find((x) => x.machine === "amd64" && x.pmap === "freebsd");
    if (!c) return;
    expect(() => createSystem({ ...c, errata: [ID] })).toThrow(/amd64|direct map/);
  });
});
