import { describe, expect, it } from "vitest";
import { errata } from "../src/errata/index.js";
import { STALE_PV, STALE_PV_PANIC } from "../src/errata/netbsd-1997-stale-pv.js";
import { combinations, createSystem } from "../src/index.js";

const applicable = combinations().filter((c) => errata.erratum(STALE_PV).applies(c).applies);

describe(STALE_PV, () => {
  it("applies to the mach pmap only, on every machine and VM layer", () => {
    for (const c of combinations()) {
      const a = errata.erratum(STALE_PV).applies(c);
      expect(a.applies, `${c.machine}/${c.pmap}/${c.vm}`).toBe(c.pmap === "mach");
      expect(a.why.length).toBeGreaterThan(20);
    }
    expect(applicable.length).toBeGreaterThan(0);
  });

  for (const c of applicable) {
    const name = `${c.machine}/${c.pmap}/${c.vm}`;
    it(`${name}: on — pmap_changebit meets a pv entry without a page table, panic: trap`, () => {
      const r = errata.reproduce(STALE_PV, c, { enabled: true });
      console.log(name, r.detail, r.trace.map((t) => `${t.layer}.${t.name}`).join(" "));
      expect(r.reproduced).toBe(true);
      expect(r.panic?.startsWith(STALE_PV_PANIC)).toBe(true);
    });
    it(`${name}: off — every step completes, audit clean`, () => {
      const r = errata.reproduce(STALE_PV, c, { enabled: false });
      expect(r.detail).toMatch(/steps completed cleanly/);
      expect(r.reproduced).toBe(false);
    });
  }

  it("createSystem rejects the erratum on an immune combination", () => {
    expect(() => createSystem({ machine: "i386", pmap: "freebsd", vm: "mach", errata: [STALE_PV] })).toThrow(
      /freebsd pmap/,
    );
  });
});
