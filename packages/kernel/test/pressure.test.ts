import { MAP_ANON, MAP_PRIVATE, MAP_SHARED, O_RDWR, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { Kernel } from "../src/kernel.js";
import { pattern, signal } from "./helpers.js";
import { boot, MACHINES } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;

describe.each(MACHINES)("memory pressure on %s", (_name, machine) => {
  it("anonymous, shared and file data survive being paged out, and fork after it", () => {
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 16 });
    const k = sys as unknown as Kernel;
    const p = sys.spawn();
    const pages = 64;
    const anon = p.mmap(0, pages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    const shared = p.mmap(0, 16 * PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    sys.fs.writeFile("/f", pattern(16 * PAGE_SIZE, 9));
    const fd = p.open("/f", O_RDWR);
    const file = p.mmap(0, 16 * PAGE_SIZE, RW, MAP_SHARED, fd, 0);
    for (let i = 0; i < pages; i++) p.store32(anon + i * PAGE_SIZE, 0x1000 + i);
    for (let i = 0; i < 16; i++) p.store32(shared + i * PAGE_SIZE, 0x2000 + i);
    for (let i = 0; i < 16; i++) p.store32(file + i * PAGE_SIZE + 4, 0x3000 + i);

    // Take nearly all of RAM away: the pageout daemon must push everything it can out.
    sys.memoryPressure(sys.vm.freePages + 200);
    const st = sys.stats();
    expect(st["vm.swapout"]).toBeGreaterThan(40);
    expect(st["vm.pageout"]).toBeGreaterThan(0);
    expect(k.swap.slotsUsed).toBeGreaterThan(40);
    sys.audit();
    sys.memoryPressure(0);

    for (let i = 0; i < pages; i++) expect(p.load32(anon + i * PAGE_SIZE)).toBe(0x1000 + i);
    expect(sys.stats()["vm.swapin"]).toBeGreaterThan(0);
    const c = p.fork();
    for (let i = 0; i < 16; i++) expect(c.load32(shared + i * PAGE_SIZE)).toBe(0x2000 + i);
    for (let i = 0; i < 16; i++) expect(c.load32(file + i * PAGE_SIZE + 4)).toBe(0x3000 + i);
    c.store32(anon, 1);
    expect(p.load32(anon)).toBe(0x1000);
    const f = sys.fs.readFile("/f");
    expect(new DataView(f.buffer).getUint32(5 * PAGE_SIZE + 4, true)).toBe(0x3005);
    sys.audit();
  });

  it("out of swap: the largest process is killed with a reason, the others keep their data", () => {
    // Audits run at the end: after every one of ~2,500 faults they would make this quadratic.
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 1, auditEveryOp: false });
    const small = sys.spawn();
    const s = small.mmap(0, 8 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 8; i++) small.store32(s + i * PAGE_SIZE, 0xaa00 + i);
    const hog = sys.spawn();
    const free = sys.vm.freePages;
    const big = hog.mmap(0, (free + 512) * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    const e = signal(() => {
      for (let i = 0; i < free + 512; i++) hog.store32(big + i * PAGE_SIZE, i);
    });
    expect(e.signal).toBe("SIGKILL");
    expect(e.reason).toMatch(/out of swap space/);
    expect(hog.state).not.toBe("running");
    expect(hog.killedReason).toMatch(/out of swap space/);
    expect(sys.stats()["kern.oom_kill"]).toBe(1);
    for (let i = 0; i < 8; i++) expect(small.load32(s + i * PAGE_SIZE)).toBe(0xaa00 + i);
    sys.audit();
  });
});
