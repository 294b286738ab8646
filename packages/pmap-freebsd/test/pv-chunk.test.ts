/**
 * pv chunks (Peter Wemm, 2006): one page per chunk owned by one pmap, 336 entries on i386 and 168
 * on amd64, pc_map with 1 = free, the owner found from an entry's address; chunks freed when
 * empty; the i386 chunk KVA block with its free list threaded through the empty PTEs; and
 * pmap_pv_reclaim taking non-wired mappings from other pmaps under shortage.
 */
import { PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, panicText, RW } from "./support/host.js";

describe.each(MACHINES)("pv chunks on %s", (name) => {
  it("has FreeBSD's geometry and finds an entry's pmap from its address", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const L = sys.pmap.L;
    expect(L.npcpv).toBe(name === "amd64" ? 168 : 336);
    expect(L.pcEntryOffset + L.npcpv * L.pvEntryBytes).toBe(PAGE_SIZE);
    const pm = sys.create();
    const pg = sys.host.page();
    sys.on(0, () => pm.enter(0x40_0000, pg, RW, 0));
    const md = pg.md as { pvHead: { addr: number; chunk: { kva: number } } };
    const pv = md.pvHead;
    expect(pv.addr - (pv.addr % PAGE_SIZE)).toBe(pv.chunk.kva);
    expect(sys.pmap.pv.pvPmap(pv as never)).toBe(pm);
    // pc_pmap and pc_map are in the chunk page itself.
    const pc = pm.pvHead as NonNullable<typeof pm.pvHead>;
    expect(sys.machine.memory.read32(pc.pg.pa)).toBe(pm.id);
    expect(sys.machine.memory.read32(pc.pg.pa + L.pcMapOffset)).toBe(0xffff_fffe);
    sys.check();
  });

  it("fills chunks in order, moves full ones to the tail, frees a chunk when it empties", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const L = sys.pmap.L;
    const pm = sys.create();
    const n = L.npcpv + 5;
    const pages = [];
    sys.on(0, () => {
      for (let i = 0; i < n; i++) {
        const pg = sys.host.page();
        pages.push(pg);
        pm.enter(0x40_0000 + i * PAGE_SIZE, pg, RW, 0);
      }
    });
    expect(pm.pvHead?.nfree).toBe(L.npcpv - 5);
    expect(pm.pvTail?.nfree).toBe(0);
    expect(sys.counter("vm.pmap.pc_chunk_allocs")).toBeGreaterThanOrEqual(2);
    sys.check();
    const frees = sys.counter("vm.pmap.pc_chunk_frees");
    sys.on(0, () => pm.remove(0x40_0000, 0x40_0000 + n * PAGE_SIZE));
    expect(pm.pvHead).toBe(null);
    expect(sys.counter("vm.pmap.pc_chunk_frees") - frees).toBe(2);
    if (name !== "amd64") expect(sys.pmap.pv.vafreeCount()).toBe(sys.pmap.pv.maxChunks - sys.pmap.pv.byVa.size);
    sys.check();
  });

  it("under shortage, pmap_pv_reclaim takes non-wired mappings of other pmaps, never wired ones", () => {
    // i386: the chunk KVA block is the limit (pv_entry_max); amd64: pages run out.
    const npcpv = name === "amd64" ? 168 : 336;
    const sys = bootSystem(name, { cpus: 1, pmap: { pvEntryMax: 3 * npcpv } });
    const a = sys.create();
    const b = sys.create();
    const kernelChunks = sys.pmap.pv.byVa.size;
    const wiredVa = 0x40_0000;
    const nA = (3 - kernelChunks) * npcpv - 8;
    sys.on(0, () => {
      for (let i = 0; i < nA; i++) a.enter(wiredVa + i * PAGE_SIZE, sys.host.page(), RW, i < 16 ? PMAP_WIRED : 0);
    });
    // amd64: b fills its own chunk while memory lasts, then pages run out.
    const nB0 = name === "amd64" ? npcpv : 0;
    sys.on(0, () => {
      for (let i = 0; i < nB0; i++) b.enter(0x80_0000 + i * PAGE_SIZE, sys.host.page(), RW, 0);
    });
    const spare = sys.host.pages.filter((p) => !p.allocated).slice(0, 40);
    if (name === "amd64") sys.host.starve = true;
    sys.check();
    // b needs more entries than are left: reclamation from a.
    sys.on(0, () => {
      for (let i = nB0; i < nB0 + 40; i++) b.enter(0x80_0000 + i * PAGE_SIZE, spare[i - nB0] as never, RW, 0);
    });
    expect(sys.counter("pmap.pv.reclaimed")).toBeGreaterThan(0);
    for (let i = 0; i < 16; i++) expect(sys.on(0, () => a.extract(wiredVa + i * PAGE_SIZE))).toBeDefined();
    for (let i = nB0; i < nB0 + 40; i++) expect(sys.on(0, () => b.extract(0x80_0000 + i * PAGE_SIZE))).toBeDefined();
    expect(a.residentCount).toBeLessThan(nA);
    sys.host.starve = false;
    sys.check();
  });

  it("with nothing left to reclaim: false under PMAP_CANFAIL, else FreeBSD's panic", () => {
    const npcpv = name === "amd64" ? 168 : 336;
    const sys = bootSystem(name, { cpus: 1, pmap: { pvEntryMax: 2 * npcpv } });
    const a = sys.create();
    let i = 0;
    const va = () => 0x40_0000 + i++ * PAGE_SIZE;
    if (name === "amd64") {
      sys.on(0, () => a.enter(va(), sys.host.page(), RW, PMAP_WIRED));
      sys.host.starve = true;
      const free = sys.host.pages.filter((p) => !p.allocated);
      sys.on(0, () => {
        while ((a.pvHead?.nfree ?? 0) > 0) a.enter(va(), free.pop() as never, RW, PMAP_WIRED);
      });
      const pg = free.pop() as never;
      expect(sys.on(0, () => a.enter(va(), pg, RW, PMAP_WIRED | PMAP_CANFAIL))).toBe(false);
      expect(panicText(() => sys.on(0, () => a.enter(va(), pg, RW, PMAP_WIRED)))).toBe(
        "get_pv_entry: increase vm.pmap.shpgperproc",
      );
      return;
    }
    sys.on(0, () => {
      while (sys.pmap.pv.vafree !== 0 || (a.pvHead?.nfree ?? 0) > 0) a.enter(va(), sys.host.page(), RW, PMAP_WIRED);
    });
    const pg = sys.host.page();
    expect(sys.on(0, () => a.enter(va(), pg, RW, PMAP_WIRED | PMAP_CANFAIL))).toBe(false);
    expect(sys.counter("vm.pmap.pc_chunk_tryfail")).toBe(1);
    sys.check();
    expect(panicText(() => sys.on(0, () => a.enter(va(), pg, RW, Prot.Write | PMAP_WIRED)))).toBe(
      "get_pv_entry: increase vm.pmap.shpgperproc",
    );
  });
});
