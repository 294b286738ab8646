/**
 * Superpages end to end: the FreeBSD VM's reservations under the FreeBSD pmap on amd64. Touching
 * every page of a 2 MiB-aligned anonymous region fills its reservation; the pmap's promotion test
 * (vm_reserv_level_iffullpop == 0) then succeeds once and the TLB holds a 2 MiB entry.
 */
import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, SIZE_2M } from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { freebsdPmap } from "@vmlab/pmap-freebsd";
import { describe, expect, it } from "vitest";
import { boot } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

describe("superpage promotion: FreeBSD pmap × FreeBSD VM on amd64", () => {
  it("touching every page of a 2 MiB-aligned region promotes it once to a 2 MiB TLB entry", () => {
    const sys = boot(amd64, freebsdPmap({ pgPsEnabled: true }), { audit: false });
    const p = sys.spawn();
    const a = p.mmap(0, SIZE_2M, RW, ANON, -1, 0);
    expect(a % SIZE_2M).toBe(0);
    const before = sys.stats()["vm.pmap.pde.promotions"] ?? 0;
    for (let off = 0; off < SIZE_2M; off += PAGE_SIZE) p.store32(a + off, off);
    expect((sys.stats()["vm.pmap.pde.promotions"] ?? 0) - before).toBe(1);
    expect(p.load32(a + 0x123 * PAGE_SIZE)).toBe(0x123 * PAGE_SIZE);
    const big = sys.machine.cpus.flatMap((c) => c.tlb.entries()).filter((e) => e.size === SIZE_2M && e.va === a);
    expect(big.length).toBeGreaterThan(0);
    sys.audit();
    // Data survives a partial unmap (demotion) and the region still reads back.
    p.munmap(a + PAGE_SIZE, PAGE_SIZE);
    expect(p.load32(a + 2 * PAGE_SIZE)).toBe(2 * PAGE_SIZE);
    sys.audit();
  });

  /** TLB misses of one sequential read sweep over `bytes` of touched anonymous memory. */
  function sweepMisses(pgPsEnabled: boolean, bytes: number): { misses: number; promotions: number } {
    const sys = boot(amd64, freebsdPmap({ pgPsEnabled }), { audit: false, memoryMiB: 128 });
    const p = sys.spawn();
    const a = p.mmap(0, bytes, RW, ANON, -1, 0);
    for (let off = 0; off < bytes; off += PAGE_SIZE) p.store32(a + off, 1);
    const m0 = sys.stats()["tlb.miss"] ?? 0;
    let sum = 0;
    for (let off = 0; off < bytes; off += PAGE_SIZE) sum += p.load32(a + off);
    expect(sum).toBe(bytes / PAGE_SIZE);
    const misses = (sys.stats()["tlb.miss"] ?? 0) - m0;
    sys.audit();
    return { misses, promotions: sys.stats()["vm.pmap.pde.promotions"] ?? 0 };
  }

  it("a 64 MiB sequential sweep takes at least 10× fewer TLB misses with pg_ps_enabled", { timeout: 120_000 }, () => {
    const bytes = 64 * 1024 * 1024;
    const on = sweepMisses(true, bytes);
    const off = sweepMisses(false, bytes);
    console.log(
      `64 MiB sweep: ${off.misses} TLB misses with pg_ps_enabled=0, ${on.misses} with 1 (${on.promotions} promotions)`,
    );
    expect(on.promotions).toBe(bytes / SIZE_2M);
    expect(off.promotions).toBe(0);
    expect(on.misses * 10).toBeLessThanOrEqual(off.misses);
  });
});
