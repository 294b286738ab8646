/**
 * The vnode pager and the merged cache, swap and SysV objects, through the testkit's fake pager
 * I/O (files and swap are byte arrays; transfers complete in "interrupt context" when the VM
 * sleeps or the test calls io.complete()).
 */
import {
  KERN_FAILURE,
  KERN_MEMORY_ERROR,
  KERN_SUCCESS,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  type PAddr,
  PAGE_SIZE,
  Prot,
} from "@vmlab/core";
import { EIO, type FakeVnode } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import { AccessError, RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

function fileOf(t: TestSystem, pages: number, fill: (i: number) => number): FakeVnode {
  const bytes = new Uint8Array(pages * P);
  for (let i = 0; i < pages; i++) bytes[i * P] = fill(i);
  return t.io.createFile(bytes);
}

/** read(2) of `len` bytes at `offset` through vnodeRdwr, into a fresh array. */
function readFile(t: TestSystem, vp: FakeVnode, offset: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const rv = t.vm.vnodeRdwr(vp, offset, len, false, (pa: PAddr, off, done, n) => {
    out.set(t.pmap.readPage(pa).subarray(off, off + n), done);
  });
  expect(rv).toBe(KERN_SUCCESS);
  return out;
}

function writeFile(t: TestSystem, vp: FakeVnode, offset: number, bytes: Uint8Array): void {
  const rv = t.vm.vnodeRdwr(vp, offset, bytes.length, true, (pa: PAddr, off, done, n) => {
    const page = t.pmap.readPage(pa);
    page.set(bytes.subarray(done, done + n), off);
    t.pmap.writePage(pa, page);
  });
  expect(rv).toBe(KERN_SUCCESS);
}

function mapFile(
  t: TestSystem,
  s: ReturnType<TestSystem["spawn"]>,
  vp: FakeVnode,
  len: number,
  shared: boolean,
): number {
  return t.mmap(s, len, { shared, backing: { kind: "vnode", vnode: vp, offset: 0 } });
}

describe("vnode pager and the merged cache", () => {
  it("a shared mapping reads the file, and read(2)/write(2) and the mapping see the same pages", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 4, (i) => 10 + i);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 4 * P, true);
    expect(t.readPages(s, a, 4 * P)).toEqual([10, 11, 12, 13]);
    expect(t.stat("vm.pagein")).toBe(4);
    writeFile(t, vp, 2 * P, new Uint8Array([99]));
    expect(t.load8(s, a + 2 * P)).toBe(99);
    t.store8(s, a + 3 * P, 77);
    expect(readFile(t, vp, 3 * P, 1)[0]).toBe(77);
    t.audit();
    // msync(MS_SYNC) writes the dirty pages back to the file.
    expect(t.vm.sync(s, a, 4 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    const disk = t.io.fileBytes(vp);
    expect([disk[2 * P], disk[3 * P]]).toEqual([99, 77]);
    expect(t.stat("vm.pageout")).toBe(2);
    t.audit();
    t.exit(s);
    // The object outlives its last mapping with its pages cached.
    expect(readFile(t, vp, 0, 1)[0]).toBe(10);
    expect(t.stat("vm.pagein")).toBe(4);
    t.audit();
  });

  it("a fault past the end of the file is KERN_MEMORY_ERROR (SIGBUS)", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 1, () => 5);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 3 * P, false);
    expect(t.load8(s, a)).toBe(5);
    expect(t.tryLoad(s, a + P)).toBe(KERN_MEMORY_ERROR);
    expect(t.tryStore(s, a + 2 * P, 1)).toBe(KERN_MEMORY_ERROR);
    t.audit();
  });

  it("MAP_PRIVATE sees the file's current page until the first write copies it", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 2, (i) => 1 + i);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, false);
    expect(t.load8(s, a)).toBe(1);
    writeFile(t, vp, 0, new Uint8Array([40]));
    expect(t.load8(s, a)).toBe(40);
    t.store8(s, a, 41);
    writeFile(t, vp, 0, new Uint8Array([50]));
    expect(t.load8(s, a)).toBe(41);
    expect(readFile(t, vp, 0, 1)[0]).toBe(50);
    // The other page is still the file's.
    writeFile(t, vp, P, new Uint8Array([60]));
    expect(t.load8(s, a + P)).toBe(60);
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp)[0]).toBe(50);
    t.audit();
  });

  it("MS_INVALIDATE frees clean cached pages so the next access re-reads; wired memory is KERN_FAILURE", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 2, () => 3);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, true);
    t.store8(s, a, 4);
    expect(t.vm.sync(s, a, 2 * P, MS_ASYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    const reads = t.io.reads;
    expect(t.load8(s, a)).toBe(4);
    expect(t.io.reads).toBe(reads + 1);
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.sync(s, a, 2 * P, MS_INVALIDATE)).toBe(KERN_FAILURE);
    t.audit();
    // Anonymous memory: nothing to do.
    const b = t.mmap(s, P);
    expect(t.vm.sync(s, b, P, MS_SYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
  });

  it("an I/O error on page-in is KERN_MEMORY_ERROR and leaves nothing behind", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 1, () => 8);
    const s = t.spawn();
    const a = mapFile(t, s, vp, P, true);
    t.io.failNext = 1;
    expect(t.tryLoad(s, a)).toBe(KERN_MEMORY_ERROR);
    t.audit();
    expect(t.load8(s, a)).toBe(8);
    void EIO;
  });

  it("truncation frees the pages past the new end and their mappings", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 3, (i) => i + 1);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 3 * P, true);
    expect(t.readPages(s, a, 3 * P)).toEqual([1, 2, 3]);
    vp.size = P;
    t.vm.vnodeSetSize(vp, 3 * P);
    expect(t.pmapOf(s).extract(a + P)).toBeUndefined();
    expect(t.tryLoad(s, a + P)).toBe(KERN_MEMORY_ERROR);
    expect(t.load8(s, a)).toBe(1);
    t.audit();
  });

  it("a busy page is slept on: a fault on a page under pageout waits for the write's interrupt", () => {
    const t = new TestSystem();
    const vp = fileOf(t, 1, () => 1);
    const s = t.spawn();
    const a = mapFile(t, s, vp, P, true);
    t.store8(s, a, 2);
    // Start the write without waiting: the page is soft-busy and unmapped until biodone.
    expect(t.vm.vnodeSync(vp, 0, P, MS_ASYNC)).toBe(KERN_SUCCESS);
    expect(t.io.queue.length).toBe(1);
    t.audit();
    const waits = t.stat("vm.page.busy_wait");
    t.store8(s, a, 3);
    expect(t.stat("vm.page.busy_wait")).toBe(waits + 1);
    expect(t.io.queue.length).toBe(0);
    expect(t.io.fileBytes(vp)[0]).toBe(2);
    t.audit();
  });
});

describe("swap", () => {
  it("the pagedaemon launders dirty anonymous pages to swap; they page back in; slots go with the memory", () => {
    const t = new TestSystem({ pages: 600, swapSlots: 64 });
    const s = t.spawn();
    const a = t.mmap(s, 32 * P);
    t.fillPages(s, a, 32 * P, 0x5a);
    // Hold most free memory so the daemon has a shortage to work on.
    const held = [];
    while (t.vm.freePages > t.vm.freeMin + 2)
      held.push(t.vm.allocPage({}) as NonNullable<ReturnType<typeof t.vm.allocPage>>);
    for (let i = 0; i < 6; i++) {
      t.vm.pagedaemon();
      t.io.complete();
    }
    expect(t.stat("vm.swapout")).toBeGreaterThan(0);
    t.audit();
    for (const pg of held) t.vm.freePage(pg);
    expect(t.readPages(s, a, 32 * P)).toEqual(Array(32).fill(0x5a));
    expect(t.stat("vm.swapin")).toBeGreaterThan(0);
    t.audit();
    const used = 64 - t.io.swapFreeSlots;
    expect(used).toBeGreaterThan(0);
    t.vm.unmap(s, a, 32 * P);
    expect(t.io.swapFreeSlots).toBe(64);
    t.audit();
  });

  it("with the swap device full, dirty anonymous pages stay resident", () => {
    const t = new TestSystem({ pages: 600, swapSlots: 0 });
    const s = t.spawn();
    const a = t.mmap(s, 16 * P);
    t.fillPages(s, a, 16 * P, 9);
    const held = [];
    while (t.vm.freePages > t.vm.freeMin + 2)
      held.push(t.vm.allocPage({}) as NonNullable<ReturnType<typeof t.vm.allocPage>>);
    for (let i = 0; i < 4; i++) t.vm.pagedaemon();
    expect(t.stat("vm.pageout.noswap")).toBeGreaterThan(0);
    expect(t.stat("vm.swapout")).toBe(0);
    t.audit();
    for (const pg of held) t.vm.freePage(pg);
    expect(t.readPages(s, a, 16 * P)).toEqual(Array(16).fill(9));
  });
});

describe("SysV shared memory objects", () => {
  it("shared between attachers, SHM_LOCK wires every page, the object dies at the last detach after release", () => {
    const t = new TestSystem();
    const shm = t.vm.shmCreate(3 * P - 10);
    expect(shm.size).toBe(3 * P);
    const s1 = t.spawn();
    const s2 = t.spawn();
    const a1 = t.mmap(s1, 3 * P, { shared: true, backing: { kind: "shm", shm, offset: 0 } });
    const a2 = t.mmap(s2, 3 * P, { shared: true, backing: { kind: "shm", shm, offset: 0 } });
    t.store8(s1, a1 + P, 42);
    expect(t.load8(s2, a2 + P)).toBe(42);
    const w0 = t.vm.wiredPages;
    expect(t.vm.shmLock(shm, true)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0 + 3);
    t.audit();
    expect(t.vm.shmLock(shm, false)).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0);
    const objects = t.vm.objects.live.size;
    t.vm.shmRelease(shm);
    t.vm.unmap(s1, a1, 3 * P);
    expect(t.vm.objects.live.size).toBe(objects);
    t.vm.unmap(s2, a2, 3 * P);
    expect(t.vm.objects.live.size).toBe(objects - 1);
    t.audit();
    void RW;
    void Prot;
    void AccessError;
  });
});
