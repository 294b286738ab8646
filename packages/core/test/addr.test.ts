import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  atop,
  hex,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  Prot,
  protString,
  ptoa,
  roundPage,
  SIZE_1G,
  SIZE_2M,
  SIZE_4M,
  truncPage,
} from "../src/index.js";

describe("page geometry", () => {
  it("4 KiB pages and the large page sizes", () => {
    expect(PAGE_SIZE).toBe(2 ** PAGE_SHIFT);
    expect(PAGE_SHIFT).toBe(12);
    expect(PAGE_MASK).toBe(0xfff);
    expect([SIZE_2M, SIZE_4M, SIZE_1G]).toEqual([2 ** 21, 2 ** 22, 2 ** 30]);
  });
});

describe("address helpers above 2^32 (amd64)", () => {
  it("truncPage / roundPage on a user address near the top of the lower half", () => {
    expect(truncPage(0x7fff_ffff_f123)).toBe(0x7fff_ffff_f000);
    expect(roundPage(0x7fff_ffff_f123)).toBe(0x8000_0000_0000);
    expect(roundPage(0x7fff_ffff_f000)).toBe(0x7fff_ffff_f000);
    expect(truncPage(0x1_0000_0fff)).toBe(0x1_0000_0000);
    expect(roundPage(0x1_0000_0001)).toBe(0x1_0000_1000);
  });

  it("the upper half kept as its 48-bit value (0xffff800000000000 -> 0x800000000000)", () => {
    const kva = 0x8000_0020_0abc;
    expect(truncPage(kva)).toBe(0x8000_0020_0000);
    expect(roundPage(kva)).toBe(0x8000_0020_1000);
    expect(atop(kva)).toBe(0x8_0000_0200);
  });

  it("atop / ptoa on a physical address near 2^52", () => {
    const pa = 0xf_ffff_ffff_f000;
    expect(atop(pa)).toBe(0xff_ffff_ffff);
    expect(ptoa(0xff_ffff_ffff)).toBe(pa);
    expect(atop(pa + 0xfff)).toBe(0xff_ffff_ffff);
    expect(atop(0x1_0000_0000)).toBe(0x10_0000);
    expect(ptoa(0x10_0000)).toBe(0x1_0000_0000);
  });

  it("does not wrap where 32-bit bit operators would", () => {
    const va = 0x1_2345_6789;
    expect(truncPage(va)).toBe(0x1_2345_6000);
    expect(va & ~PAGE_MASK).not.toBe(truncPage(va)); // the pitfall the helpers avoid
  });

  it("property: agree with BigInt page arithmetic for every address below 2^52", () => {
    const addr = fc.bigInt({ min: 0n, max: 2n ** 52n - 1n });
    fc.assert(
      fc.property(addr, (big) => {
        const x = Number(big);
        const t = big & ~0xfffn;
        expect(truncPage(x)).toBe(Number(t));
        expect(roundPage(x)).toBe(Number((big + 0xfffn) & ~0xfffn));
        expect(atop(x)).toBe(Number(big >> 12n));
        expect(ptoa(atop(x))).toBe(Number(t));
      }),
    );
  });
});

describe("formatting", () => {
  it("hex", () => {
    expect(hex(0)).toBe("0x0");
    expect(hex(0xfee0_0000)).toBe("0xfee00000");
    expect(hex(0x8000_0000_0000)).toBe("0x800000000000");
  });

  it("protString renders vm_prot_t as rwx", () => {
    expect(protString(Prot.None)).toBe("---");
    expect(protString(Prot.Read)).toBe("r--");
    expect(protString(Prot.Read | Prot.Write)).toBe("rw-");
    expect(protString(Prot.Read | Prot.Exec)).toBe("r-x");
    expect(protString(Prot.All)).toBe("rwx");
  });
});
