import {
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MCL_CURRENT,
  MCL_FUTURE,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { Kernel } from "../src/kernel.js";
import type { Proc } from "../src/proc.js";
import { errno, pattern, signal } from "./helpers.js";
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

  it("fork under held pressure waits for the copies of wired memory: they go to swap, the child reads them after", () => {
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 8, auditEveryOp: false });
    const p = sys.spawn();
    p.mlockall(MCL_CURRENT | MCL_FUTURE);
    const a = p.mmap(0, 64 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 64; i++) p.store32(a + i * PAGE_SIZE, 0x5100 + i);
    sys.memoryPressure(sys.vm.freePages);
    const out = sys.stats()["vm.swapout"] ?? 0;
    const c = p.fork();
    expect(sys.stats()["vm.swapout"] ?? 0).toBeGreaterThan(out);
    sys.audit();
    for (let i = 0; i < 64; i++) expect(p.load32(a + i * PAGE_SIZE)).toBe(0x5100 + i);
    sys.memoryPressure(0);
    for (let i = 0; i < 64; i++) expect(c.load32(a + i * PAGE_SIZE)).toBe(0x5100 + i);
    c.store32(a, 1);
    expect(p.load32(a)).toBe(0x5100);
    sys.audit();
  });

  it("fork that can never get its memory (no swap, all wired, pressure held) is ENOMEM and leaves nothing", () => {
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 0, auditEveryOp: false });
    const k = sys as unknown as Kernel;
    const p = sys.spawn();
    p.mlockall(MCL_CURRENT | MCL_FUTURE);
    const a = p.mmap(0, 256 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 256; i++) p.store32(a + i * PAGE_SIZE, i);
    sys.memoryPressure(sys.vm.freePages);
    const free = sys.vm.freePages;
    const wired = sys.vm.wiredPages;
    expect(errno(() => p.fork())).toBe("ENOMEM");
    expect(k.procs.size).toBe(1);
    expect(sys.vm.freePages).toBe(free);
    expect(sys.vm.wiredPages).toBe(wired);
    sys.audit();
    sys.memoryPressure(0);
    const c = p.fork();
    for (let i = 0; i < 256; i += 17) expect(c.load32(a + i * PAGE_SIZE)).toBe(i);
    sys.audit();
  });

  it("read(2)/write(2) whose buffer cannot be wired are ENOMEM with nothing moved: file, offset and disk as they were", () => {
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 0, auditEveryOp: false });
    const k = sys as unknown as Kernel;
    const data = pattern(64 * PAGE_SIZE, 3);
    sys.fs.writeFile("/f", data);
    const p = sys.spawn();
    const fd = p.open("/f", O_RDWR);
    p.lseek(fd, 5, SEEK_CUR);
    // An untouched buffer: wiring it (vslock) zero-fills 64 pages, more than the free reserve.
    const buf = p.mmap(0, 64 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    sys.memoryPressure(sys.vm.freePages);
    const used = k.fs.usage.used;
    // A write past EOF would allocate blocks first; it must not when the buffer cannot be wired.
    p.lseek(fd, 64 * PAGE_SIZE, 0);
    expect(errno(() => p.write(fd, buf, 64 * PAGE_SIZE))).toBe("ENOMEM");
    expect(k.fs.usage.used).toBe(used);
    expect(p.lseek(fd, 0, SEEK_CUR)).toBe(64 * PAGE_SIZE);
    p.lseek(fd, 0, 0);
    expect(errno(() => p.read(fd, buf, 64 * PAGE_SIZE))).toBe("ENOMEM");
    expect(p.lseek(fd, 0, SEEK_CUR)).toBe(0);
    // The transient wiring was unwound (page-table pages it faulted in may stay wired).
    expect(sys.vm.entries((p as unknown as Proc).space).some((e) => e.start <= buf && buf < e.end && e.wired)).toBe(
      false,
    );
    sys.audit();
    sys.memoryPressure(0);
    expect(sys.fs.readFile("/f")).toEqual(data);
    expect(p.load32(buf + 63 * PAGE_SIZE)).toBe(0);
    expect(p.read(fd, buf, 64 * PAGE_SIZE)).toBe(64 * PAGE_SIZE);
    expect(p.readBytes(buf, 64 * PAGE_SIZE)).toEqual(data);
    sys.audit();
  });

  it("a page-table page that can never get memory kills the process (out of swap), not SIGSEGV", () => {
    const sys = boot(machine, { memoryMiB: 8, swapMiB: 0, auditEveryOp: false });
    const p = sys.spawn();
    // Far from anything else: touching it needs a page-table page (the Mach pmap keeps them in
    // the process's own map, faulted in by trap()).
    const far = p.mmap(0x4000_0000, PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0);
    const r = p.mmap(0, 64 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    sys.memoryPressure(sys.vm.freePages);
    // Lock page by page until the free pages are down to the kernel's reserve.
    let refused = 0;
    for (let i = 0; i < 64 && refused === 0; i++) {
      try {
        p.mlock(r + i * PAGE_SIZE, PAGE_SIZE);
      } catch {
        refused++;
      }
    }
    expect(refused).toBe(1);
    const e = signal(() => p.store8(far, 1));
    expect(e.signal).toBe("SIGKILL");
    expect(p.killedReason).toMatch(/out of swap space/);
    sys.audit();
  });
});
