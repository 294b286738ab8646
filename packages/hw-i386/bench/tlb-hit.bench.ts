/**
 * TLB-hit translated 32-bit loads against plain Uint32Array reads of the same memory (issue goal:
 * within 3x). `pnpm bench` in this package; results in docs/benchmarks.md.
 */
import { mapLinear } from "@vmlab/machine";
import { bench, describe } from "vitest";
import { i386, i386Pae } from "../src/index.js";

const VA = 0x0800_0000;
const PA = 0x0040_0000;

for (const [name, spec] of [
  ["i386", i386({ memoryMiB: 16 })],
  ["i386-pae", i386Pae({ memoryMiB: 16 })],
] as const) {
  const m = spec.boot();
  mapLinear(m, VA, PA, 16, 0x0010_0000);
  const cpu = m.cpus[0]!;
  const words = m.memory.words;
  const base = PA >>> 2;
  let sink = 0;
  for (let i = 0; i < 16 * 1024; i++) cpu.store32(VA + i * 4, i, true);

  describe(`${name}: 32-bit loads over one 4 KiB page`, () => {
    bench("plain Uint32Array read", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + (words[base + i] as number)) | 0;
      sink ^= s;
    });
    bench("translated load32 (TLB hit)", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + cpu.load32(VA + i * 4, true)) | 0;
      sink ^= s;
    });
  });

  describe(`${name}: 32-bit loads striding over 16 pages (set-associative TLB hits)`, () => {
    bench("plain Uint32Array read", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + (words[base + ((i & 15) << 10) + (i >>> 4)] as number)) | 0;
      sink ^= s;
    });
    bench("translated load32 (TLB hit)", () => {
      let s = 0;
      for (let i = 0; i < 1024; i++) s = (s + cpu.load32(VA + ((i & 15) << 12) + ((i >>> 4) << 2), true)) | 0;
      sink ^= s;
    });
  });
  if (sink === 0.5) console.log(sink);
}
