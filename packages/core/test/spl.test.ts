import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  IPL,
  IPL_NAMES,
  type SplCpu,
  spl0,
  splbio,
  splclock,
  splhigh,
  splimp,
  splraise,
  splsoftclock,
  splvm,
  splx,
} from "../src/index.js";

/** A CPU that records the level at which each delivery of pending interrupts ran. */
function cpu(ipl = 0): SplCpu & { delivered: number[] } {
  const c = {
    ipl,
    delivered: [] as number[],
    deliverPendingInterrupts(): void {
      c.delivered.push(c.ipl);
    },
  };
  return c;
}

describe("spl(9) levels", () => {
  it("order: spl0 < softclock < bio < vm == imp < clock < high", () => {
    expect(IPL.NONE).toBeLessThan(IPL.SOFTCLOCK);
    expect(IPL.SOFTCLOCK).toBeLessThan(IPL.BIO);
    expect(IPL.BIO).toBeLessThan(IPL.VM);
    expect(IPL.VM).toBe(IPL.IMP);
    expect(IPL.IMP).toBeLessThan(IPL.CLOCK);
    expect(IPL.CLOCK).toBeLessThan(IPL.HIGH);
    expect(IPL.NONE).toBe(0);
  });

  it("names each level", () => {
    expect(IPL_NAMES).toEqual({ 0: "spl0", 1: "splsoftclock", 2: "splbio", 3: "splvm", 4: "splclock", 5: "splhigh" });
  });

  it("each splX() raises an idle CPU to its level and returns spl0", () => {
    const cases: [(c: SplCpu) => number, number][] = [
      [splsoftclock, IPL.SOFTCLOCK],
      [splbio, IPL.BIO],
      [splvm, IPL.VM],
      [splimp, IPL.IMP],
      [splclock, IPL.CLOCK],
      [splhigh, IPL.HIGH],
    ];
    for (const [fn, level] of cases) {
      const c = cpu();
      expect(fn(c)).toBe(IPL.NONE);
      expect(c.ipl).toBe(level);
      expect(c.delivered).toEqual([]);
    }
  });
});

describe("splraise / splx", () => {
  it("raising never lowers: splbio at splhigh stays at splhigh and returns it", () => {
    const c = cpu(IPL.HIGH);
    expect(splbio(c)).toBe(IPL.HIGH);
    expect(c.ipl).toBe(IPL.HIGH);
    expect(splraise(c, IPL.NONE)).toBe(IPL.HIGH);
    expect(c.ipl).toBe(IPL.HIGH);
    expect(c.delivered).toEqual([]);
  });

  it("splx to a lower level delivers pending interrupts, at the restored level", () => {
    const c = cpu();
    const s = splbio(c);
    splx(c, s);
    expect(c.ipl).toBe(IPL.NONE);
    expect(c.delivered).toEqual([IPL.NONE]);
  });

  it("splx to the same or a higher level delivers nothing", () => {
    const c = cpu(IPL.BIO);
    splx(c, IPL.BIO);
    splx(c, IPL.HIGH);
    expect(c.ipl).toBe(IPL.HIGH);
    expect(c.delivered).toEqual([]);
  });

  it("nested sections: each splx back down delivers once", () => {
    const c = cpu();
    const s = splbio(c);
    const t = splhigh(c);
    expect(t).toBe(IPL.BIO);
    splx(c, t);
    expect(c.ipl).toBe(IPL.BIO);
    splx(c, s);
    expect(c.ipl).toBe(IPL.NONE);
    expect(c.delivered).toEqual([IPL.BIO, IPL.NONE]);
  });

  it("spl0 drops to 0, delivers, and returns the old level; at 0 it delivers nothing", () => {
    const c = cpu(IPL.VM);
    expect(spl0(c)).toBe(IPL.VM);
    expect(c.ipl).toBe(IPL.NONE);
    expect(c.delivered).toEqual([IPL.NONE]);
    expect(spl0(c)).toBe(IPL.NONE);
    expect(c.delivered).toEqual([IPL.NONE]);
  });

  it("property: splraise leaves max(old, level) and returns old; splx restores it", () => {
    const level = fc.integer({ min: IPL.NONE, max: IPL.HIGH });
    fc.assert(
      fc.property(level, level, (old, want) => {
        const c = cpu(old);
        const s = splraise(c, want);
        expect(s).toBe(old);
        expect(c.ipl).toBe(Math.max(old, want));
        splx(c, s);
        expect(c.ipl).toBe(old);
        expect(c.delivered).toEqual(want > old ? [old] : []);
      }),
    );
  });
});
