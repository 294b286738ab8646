/**
 * TLB-hit translated 32-bit loads against plain Uint32Array reads on amd64, at a user address and
 * at an upper-half (above 2^32) address, where page numbers no longer fit 32-bit integer math.
 */
import { mapLinear } from "@vmlab/machine";
import { bench, describe } from "vitest";
import { amd64 } from "../src/index.js";

const PA = 0x0040_0000;

for (const [name, va] of [
  ["user VA 0x08000000", 0x0800_0000],
  ["VA 0x7f0000000000", 0x7f00_0000_0000],
] as const) {
  const m = amd64({ memoryMiB: 16 }).boot();
  mapLinear(m, va, PA, 1, 0x0010_0000);
  const cpu = m.cpus[0]!;
  const words = m.memory.words;
  const base = PA >>> 2;
  let sink = 0;
  describe(`amd64 ${name}: 32-bit loads over one 4 KiB page`, () => {
    bench("plain Uint32Array read", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + (words[base + i] as number)) | 0;
      sink ^= s;
    });
    bench("translated load32 (TLB hit)", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + cpu.load32(va + i * 4, true)) | 0;
      sink ^= s;
    });
  });
  if (sink === 0.5) console.log(sink);
}
