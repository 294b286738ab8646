/** The shared entry helpers this package takes from @vmlab/machine (pte.ts). */
import { PG_FRAME_HI, PG_FRAME_LO, PG_NX_HI, PG_RW, PG_V, pteFrame, pteHi, pteLo } from "@vmlab/machine";
import { describe, expect, it } from "vitest";

describe("pteFrame / pteLo / pteHi", () => {
  it("round-trip frames below and above 4 GiB, ignoring flag and NX bits", () => {
    for (const pa of [0, 0x1000, 0xffff_f000, 0x1_0000_0000, 0x3_2345_6000, 0xf_ffff_ffff_f000]) {
      const lo = pteLo(pa, PG_V | PG_RW);
      const hi = pteHi(pa);
      expect(lo & 0xfff).toBe(PG_V | PG_RW);
      expect(pteFrame(lo, hi)).toBe(pa);
      expect(pteFrame(lo, (hi | PG_NX_HI) >>> 0)).toBe(pa);
    }
    expect(PG_FRAME_LO).toBe(0xffff_f000);
    expect(PG_FRAME_HI).toBe(0xf_ffff);
    expect(pteLo(0xffff_f000, 0)).toBe(0xffff_f000); // unsigned
  });
});
