import { describe, expect, it } from "vitest";
import { errata } from "../src/errata/index.js";
import { WIRE_UNDERFLOW, WIRE_UNDERFLOW_PANIC } from "../src/errata/netbsd-2019-wire-underflow.js";
import { combinations, createSystem } from "../src/index.js";

const applicable = combinations().filter((c) => errata.erratum(WIRE_UNDERFLOW).applies(c).applies);

describe(WIRE_UNDERFLOW, () => {
  it("applies to the uvm VM only, on every pmap and machine", () => {
    for (const c of combinations()) {
      const a = errata.erratum(WIRE_UNDERFLOW).applies(c);
      expect(a.applies, `${c.machine}/${c.pmap}/${c.vm}`).toBe(c.vm === "uvm");
      expect(a.why.length).toBeGreaterThan(20);
    }
    for (const vm of ["mach", "uvm", "freebsd"] as const) {
      const a = errata.erratum(WIRE_UNDERFLOW).applies({ machine: "i386", pmap: "cranor", vm });
      expect(a.applies).toBe(vm === "uvm");
    }
    expect(applicable.length).toBeGreaterThan(0);
  });

  for (const c of applicable) {
    const name = `${c.machine}/${c.pmap}/${c.vm}`;
    it(`${name}: on — the peer's munlock unwires a page at wire_count 0`, () => {
      const r = errata.reproduce(WIRE_UNDERFLOW, c, { enabled: true });
      expect(r.reproduced, r.detail).toBe(true);
      expect(r.panic?.startsWith(WIRE_UNDERFLOW_PANIC), r.detail).toBe(true);
      expect(r.detail).toMatch(/\(peer: munlock/);
    });
    it(`${name}: off — every step completes, audit clean`, () => {
      const r = errata.reproduce(WIRE_UNDERFLOW, c, { enabled: false });
      expect(r.detail).toMatch(/steps completed cleanly/);
      expect(r.reproduced).toBe(false);
    });
  }

  it("createSystem rejects the erratum on an immune combination", () => {
    expect(() => createSystem({ machine: "i386", pmap: "mach", vm: "mach", errata: [WIRE_UNDERFLOW] })).toThrow(
      /vm_map_pageable|FreeBSD|Mach/,
    );
  });
});
