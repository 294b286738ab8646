/**
 * Physical memory: little-endian accessors, bulk operations, the PC layout and machine checks.
 * (The >3 GiB layout with RAM above the PCI hole is exercised end to end, with a page table
 * mapping a frame above 4 GiB, in hw-i386 (PAE) and hw-amd64.)
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOLE_END, HOLE_START, MAX_RAM_BYTES, MachineCheck, PhysicalMemory } from "../src/index.js";

const MiB = 1024 * 1024;

describe("PhysicalMemory accessors", () => {
  it("stores 32-bit values little-endian and reads them back through every width", () => {
    const m = new PhysicalMemory(64 * 1024);
    m.write32(0x100, 0x11223344);
    expect(m.read8(0x100)).toBe(0x44);
    expect(m.read8(0x101)).toBe(0x33);
    expect(m.read8(0x102)).toBe(0x22);
    expect(m.read8(0x103)).toBe(0x11);
    expect(m.read16(0x100)).toBe(0x3344);
    expect(m.read16(0x102)).toBe(0x1122);
    expect(m.read32(0x100)).toBe(0x11223344);
    // Unaligned 32-bit access goes through the DataView path.
    m.write32(0x105, 0xa1b2c3d4);
    expect(m.read8(0x105)).toBe(0xd4);
    expect(m.read8(0x108)).toBe(0xa1);
    expect(m.read32(0x105)).toBe(0xa1b2c3d4);
    expect(m.read16(0x107)).toBe(0xa1b2);
  });

  it("returns unsigned values and truncates stored values to the access width", () => {
    const m = new PhysicalMemory(4096);
    m.write32(0, -1);
    expect(m.read32(0)).toBe(0xffff_ffff);
    m.write32(5, -2); // unaligned, negative
    expect(m.read32(5)).toBe(0xffff_fffe);
    m.write8(0x10, 0x1ff);
    expect(m.read8(0x10)).toBe(0xff);
    expect(m.read8(0x11)).toBe(0);
    m.write16(0x20, 0x12345);
    expect(m.read16(0x20)).toBe(0x2345);
    expect(m.read8(0x22)).toBe(0);
    m.write8(0x30, 0x80);
    expect(m.read8(0x30)).toBe(0x80); // not sign-extended
  });

  it("handles 64-bit entries as [lo, hi] halves", () => {
    const m = new PhysicalMemory(4096);
    m.write64(0x40, 0x8765_4321, 0x8000_000f);
    expect(m.read64(0x40)).toEqual([0x8765_4321, 0x8000_000f]);
    expect(m.read64lo(0x40)).toBe(0x8765_4321);
    expect(m.read64hi(0x40)).toBe(0x8000_000f);
    expect(m.read32(0x40)).toBe(0x8765_4321);
    expect(m.read32(0x44)).toBe(0x8000_000f);
    expect(m.read8(0x47)).toBe(0x80);
    expect(m.view.getBigUint64(0x40, true)).toBe(0x8000_000f_8765_4321n);
  });

  it("zeroRange, copyRange (overlapping = memmove), readBytes (a copy), writeBytes", () => {
    const m = new PhysicalMemory(3 * 4096);
    const data = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    m.writeBytes(0x1000, data);
    expect([...m.readBytes(0x1000, 32)]).toEqual([...data]);
    expect(m.read8(0x0fff)).toBe(0);
    expect(m.read8(0x1020)).toBe(0);

    // readBytes returns a copy: mutating it leaves memory alone.
    const copy = m.readBytes(0x1000, 4);
    copy[0] = 0xee;
    expect(m.read8(0x1000)).toBe(1);

    // Forward-overlapping copy behaves like memmove.
    m.copyRange(0x1004, 0x1000, 16);
    expect([...m.readBytes(0x1000, 24)]).toEqual([
      1,
      2,
      3,
      4,
      ...Array.from({ length: 16 }, (_, i) => i + 1),
      21,
      22,
      23,
      24,
    ]);
    // Copy across pages.
    m.copyRange(0x2000, 0x1000, 32);
    expect([...m.readBytes(0x2000, 32)]).toEqual([...m.readBytes(0x1000, 32)]);

    m.zeroRange(0x1008, 8);
    expect([...m.readBytes(0x1006, 12)]).toEqual([3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 13, 14]);
    m.zeroRange(0, 3 * 4096);
    expect(m.readBytes(0, 3 * 4096).every((b) => b === 0)).toBe(true);
  });

  it("agrees with a byte-array model under random 8/16/32/64-bit writes (property)", () => {
    const size = 8192;
    const op = fc.oneof(
      fc.record({ w: fc.constant(1 as const), pa: fc.nat(size - 1), v: fc.nat(0xff) }),
      fc.record({ w: fc.constant(2 as const), pa: fc.nat(size - 2), v: fc.nat(0xffff) }),
      fc.record({ w: fc.constant(4 as const), pa: fc.nat(size - 4), v: fc.nat(0xffff_ffff) }),
      fc.record({ w: fc.constant(8 as const), pa: fc.nat(size - 8), v: fc.nat(0xffff_ffff), h: fc.nat(0xffff_ffff) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const m = new PhysicalMemory(size);
        const model = new Uint8Array(size);
        const put = (pa: number, v: number, n: number) => {
          for (let i = 0; i < n; i++) model[pa + i] = Math.floor(v / 256 ** i) & 0xff;
        };
        for (const o of ops) {
          if (o.w === 1) m.write8(o.pa, o.v);
          else if (o.w === 2) m.write16(o.pa, o.v);
          else if (o.w === 4) m.write32(o.pa, o.v);
          else m.write64(o.pa, o.v, o.h);
          put(o.pa, o.v, Math.min(o.w, 4));
          if (o.w === 8) put(o.pa + 4, o.h, 4);
        }
        for (const o of ops) {
          const le32 = (pa: number) =>
            (model[pa] as number) +
            (model[pa + 1] as number) * 0x100 +
            (model[pa + 2] as number) * 0x1_0000 +
            (model[pa + 3] as number) * 0x100_0000;
          if (o.pa + 4 <= size) expect(m.read32(o.pa)).toBe(le32(o.pa));
          expect(m.read16(Math.min(o.pa, size - 2))).toBe(
            (model[Math.min(o.pa, size - 2)] as number) + (model[Math.min(o.pa, size - 2) + 1] as number) * 256,
          );
        }
        expect([...m.bytes]).toEqual([...model]);
      }),
      { numRuns: 150 },
    );
  });
});

describe("PhysicalMemory layout", () => {
  it("places RAM of up to 3 GiB in one range from 0", () => {
    const m = new PhysicalMemory(16 * MiB);
    expect(m.ranges).toEqual([{ base: 0, size: 16 * MiB }]);
    expect(m.topPa).toBe(16 * MiB);
    expect(m.frames).toBe(4096);
    expect(m.sizeBytes).toBe(16 * MiB);
    expect(m.offsetOf(0)).toBe(0);
    expect(m.offsetOf(16 * MiB - 1)).toBe(16 * MiB - 1);
    expect(m.offsetOf(16 * MiB)).toBe(-1);
    expect(m.offsetOf(-1)).toBe(-1);
    expect(m.offsetOf(Number.NaN)).toBe(-1);
    expect(m.offsetOf(HOLE_END)).toBe(-1); // nothing above the hole when RAM fits below it
    expect(m.isBacked(0, 16 * MiB)).toBe(true);
    expect(m.isBacked(16 * MiB - 4096, 4096)).toBe(true);
    expect(m.isBacked(16 * MiB - 4096, 4097)).toBe(false);
  });

  it("puts the PCI hole at 3-4 GiB and caps one machine at 4 GiB of RAM", () => {
    expect(HOLE_START).toBe(3 * 1024 * MiB);
    expect(HOLE_END).toBe(4 * 1024 * MiB);
    expect(MAX_RAM_BYTES).toBe(4 * 1024 * MiB);
  });

  it("rejects sizes that are not a positive multiple of the page size, or above 4 GiB", () => {
    expect(() => new PhysicalMemory(0)).toThrow(RangeError);
    expect(() => new PhysicalMemory(-4096)).toThrow(RangeError);
    expect(() => new PhysicalMemory(4097)).toThrow(/multiple of 4096/);
    expect(() => new PhysicalMemory(1.5 * 4096)).toThrow(RangeError);
    expect(() => new PhysicalMemory(MAX_RAM_BYTES + 4096)).toThrow(/at most 4294967296 bytes/);
  });
});

describe("MachineCheck", () => {
  const size = 2 * 4096;
  const mem = () => new PhysicalMemory(size);

  it("is raised by every accessor beyond the top of RAM, naming the address", () => {
    const m = mem();
    const e = (() => {
      try {
        m.read32(size);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(MachineCheck);
    expect((e as MachineCheck).pa).toBe(size);
    expect((e as MachineCheck).name).toBe("MachineCheck");
    expect((e as MachineCheck).message).toBe("machine check: no memory at physical address 0x2000");

    expect(() => m.read8(size)).toThrow(MachineCheck);
    expect(() => m.write8(size, 1)).toThrow(MachineCheck);
    expect(() => m.read16(size)).toThrow(MachineCheck);
    expect(() => m.write16(size, 1)).toThrow(MachineCheck);
    expect(() => m.write32(size, 1)).toThrow(MachineCheck);
    expect(() => m.read64(size)).toThrow(MachineCheck);
    expect(() => m.write64(size, 1, 1)).toThrow(MachineCheck);
    expect(() => m.zeroRange(size, 1)).toThrow(MachineCheck);
    expect(() => m.readBytes(size, 1)).toThrow(MachineCheck);
    expect(() => m.writeBytes(size, new Uint8Array(1))).toThrow(MachineCheck);
    expect(() => m.copyRange(size, 0, 1)).toThrow(MachineCheck);
    expect(() => m.copyRange(0, size, 1)).toThrow(MachineCheck);
    expect(() => m.read32(-4)).toThrow(MachineCheck);
    expect(() => m.read32(HOLE_START)).toThrow(MachineCheck); // the PCI hole
    expect(() => m.read32(HOLE_END)).toThrow(MachineCheck);
  });

  it("is raised by an access that straddles the top of RAM, before anything is written", () => {
    const m = mem();
    expect(() => m.read32(size - 2)).toThrow(MachineCheck);
    expect(() => m.read16(size - 1)).toThrow(MachineCheck);
    expect(() => m.write32(size - 2, 0xffff_ffff)).toThrow(MachineCheck);
    expect(m.read16(size - 2)).toBe(0);
    // write64 checks all 8 bytes before writing the low half.
    expect(() => m.write64(size - 4, 0xffff_ffff, 0xffff_ffff)).toThrow(MachineCheck);
    expect(m.read32(size - 4)).toBe(0);
    expect(() => m.zeroRange(size - 4096, 4097)).toThrow(MachineCheck);
    expect(() => m.writeBytes(size - 1, new Uint8Array([1, 2]))).toThrow(MachineCheck);
    expect(m.read8(size - 1)).toBe(0);
    expect(() => m.copyRange(0, size - 4, 8)).toThrow(MachineCheck);
    // The last bytes themselves are fine.
    m.write32(size - 4, 0xcafe_f00d);
    expect(m.read32(size - 4)).toBe(0xcafe_f00d);
  });
});
