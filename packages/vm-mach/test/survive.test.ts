/**
 * Data survives: random writes into anonymous (private and shared) and file (shared and private)
 * mappings, write() through the merged cache, fork and exit, under memory pressure hard enough
 * that most pages go to swap or their file and come back — read back against a model, with every
 * audit after every step.
 */
import { MS_SYNC, PAGE_SIZE, type VmPage, type VmSpace } from "@vmlab/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;
const N = 6;
const REGIONS = ["anon", "anonShared", "file", "filePrivate"] as const;
type Region = (typeof REGIONS)[number];

interface MProc {
  space: VmSpace;
  anon: number[];
  anonShared: number[];
  /** Private file pages: undefined until the first write copies the page. */
  filePrivate: (number | undefined)[];
}

type Cmd =
  | { k: "write"; p: number; r: number; page: number; v: number }
  | { k: "read"; p: number; r: number; page: number }
  | { k: "fwrite"; page: number; v: number }
  | { k: "fork"; p: number }
  | { k: "exit"; p: number }
  | { k: "msync"; p: number }
  | { k: "pressure"; rounds: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("write" as const),
      p: fc.nat(),
      r: fc.nat(3),
      page: fc.nat(N - 1),
      v: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant("read" as const), p: fc.nat(), r: fc.nat(3), page: fc.nat(N - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("fwrite" as const),
      page: fc.nat(N - 1),
      v: fc.integer({ min: 1, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("fork" as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("exit" as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("msync" as const), p: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("pressure" as const), rounds: fc.integer({ min: 1, max: 3 }) }) },
);

/** Memory pressure: hold every page but a few, let the daemon work and the disk finish, let go. */
function pressure(t: TestSystem, rounds: number): void {
  const held: VmPage[] = [];
  for (let r = 0; r < rounds; r++) {
    while (t.vm.freePages > t.vm.freeReserved + 1) held.push(t.vm.allocPage({}) as VmPage);
    t.vm.pagedaemon();
    t.io.complete();
    t.audit();
  }
  for (const pg of held) t.vm.freePage(pg);
}

function run(cmds: Cmd[]): TestSystem {
  const t = new TestSystem({ pages: 112, swapSlots: 1024 });
  const free0 = t.vm.freePages;
  const vp = t.io.createFile(new Uint8Array(N * P));
  const file: number[] = new Array(N).fill(0);
  const base = { anon: 0x1000_0000, anonShared: 0x1100_0000, file: 0x1200_0000, filePrivate: 0x1300_0000 };
  const procs: MProc[] = [];
  const first = t.spawn();
  t.mmap(first, N * P, { addr: base.anon, fixed: true });
  t.mmap(first, N * P, { addr: base.anonShared, fixed: true, shared: true });
  t.mmap(first, N * P, {
    addr: base.file,
    fixed: true,
    shared: true,
    backing: { kind: "vnode", vnode: vp, offset: 0 },
  });
  t.mmap(first, N * P, { addr: base.filePrivate, fixed: true, backing: { kind: "vnode", vnode: vp, offset: 0 } });
  procs.push({ space: first, anon: new Array(N).fill(0), anonShared: new Array(N).fill(0), filePrivate: new Array(N) });
  const expected = (m: MProc, r: Region, i: number): number =>
    r === "anon"
      ? (m.anon[i] as number)
      : r === "anonShared"
        ? (m.anonShared[i] as number)
        : r === "file"
          ? (file[i] as number)
          : (m.filePrivate[i] ?? (file[i] as number));

  for (const c of cmds) {
    if (procs.length === 0) break;
    const m = "p" in c ? (procs[c.p % procs.length] as MProc) : (procs[0] as MProc);
    switch (c.k) {
      case "write": {
        const r = REGIONS[c.r] as Region;
        t.store8(m.space, base[r] + c.page * P, c.v);
        if (r === "anon") m.anon[c.page] = c.v;
        else if (r === "anonShared") m.anonShared[c.page] = c.v;
        else if (r === "file") file[c.page] = c.v;
        else m.filePrivate[c.page] = c.v;
        break;
      }
      case "read": {
        const r = REGIONS[c.r] as Region;
        expect(t.load8(m.space, base[r] + c.page * P)).toBe(expected(m, r, c.page));
        break;
      }
      case "fwrite": {
        const rv = t.vm.vnodeRdwr(vp, c.page * P, 1, true, (pa, off) => t.pmap.write8(pa + off, c.v));
        expect(rv).toBe(0);
        file[c.page] = c.v;
        break;
      }
      case "fork": {
        const child = t.fork(m.space);
        procs.push({ space: child, anon: [...m.anon], anonShared: m.anonShared, filePrivate: [...m.filePrivate] });
        break;
      }
      case "exit":
        t.exit(m.space);
        procs.splice(procs.indexOf(m), 1);
        break;
      case "msync":
        expect(t.vm.sync(m.space, base.file, N * P, MS_SYNC)).toBe(0);
        for (let i = 0; i < N; i++) expect(t.io.fileBytes(vp)[i * P]).toBe(file[i]);
        break;
      case "pressure":
        pressure(t, c.rounds);
        break;
    }
    t.audit();
  }
  // Everything once more, then after a final squeeze.
  pressure(t, 2);
  for (const m of procs)
    for (const r of REGIONS)
      for (let i = 0; i < N; i++) expect(t.load8(m.space, base[r] + i * P)).toBe(expected(m, r, i));
  for (const m of procs) t.exit(m.space);
  t.audit();
  // The file object stays cached with its pages; what was written is in it or on disk.
  const got = new Uint8Array(N);
  t.vm.vnodeRdwr(vp, 0, N * P, false, (pa, off, done, n) => {
    for (let i = 0; i < n; i++) if ((done + i) % P === 0) got[(done + i) / P] = t.pmap.read8(pa + off + i);
  });
  expect([...got]).toEqual(file);
  expect(t.vm.swapInUse).toBe(0);
  expect(t.io.swapFreeSlots).toBe(1024);
  expect(t.vm.freePages + (vp.vmObject ? (vp.vmObject as { pages: Map<number, unknown> }).pages.size : 0)).toBe(free0);
  return t;
}

describe("data survives memory pressure, swap and fork", () => {
  it("anonymous, shared, and file mappings read back the model's bytes, audits on", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 10, maxLength: 60, size: "max" }), (cmds) => {
        run(cmds);
      }),
      { numRuns: Number(process.env.VM_MACH_RUNS ?? 60) },
    );
  }, 600_000);

  it("most pages really go to swap and back", () => {
    const cmds: Cmd[] = [];
    for (let i = 0; i < N; i++)
      for (let r = 0; r < 4; r++) cmds.push({ k: "write", p: 0, r, page: i, v: 1 + i + r * 10 });
    cmds.push({ k: "fork", p: 0 });
    for (let i = 0; i < 4; i++) cmds.push({ k: "pressure", rounds: 3 });
    const t = run(cmds);
    // 12 anonymous pages in the parent (6 shared), the file's 6, 6 private copies.
    expect(t.stat("vm.swapout")).toBeGreaterThanOrEqual(18);
    expect(t.stat("vm.swapin")).toBeGreaterThanOrEqual(18);
    expect(t.stat("vm.pageout")).toBeGreaterThanOrEqual(6);
    expect(t.stat("vm.pagein")).toBeGreaterThanOrEqual(6);
  });
});
