import {
  INHERIT_COPY,
  KERN_FAILURE,
  KERN_MEMORY_ERROR,
  KERN_SUCCESS,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import type { FakeVnode } from "@vmlab/testkit";
import { describe, expect, it } from "vitest";
import type { VmObject } from "../src/vm_object.js";
import { IO_WRITE, PG_BUSY } from "../src/vm_page.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

/** A file of `pages` pages whose page i starts with byte 0x10 + i. */
function makeFile(t: TestSystem, bytes: number): FakeVnode {
  const data = new Uint8Array(bytes);
  for (let off = 0; off < bytes; off += P) data[off] = 0x10 + off / P;
  return t.io.createFile(data);
}

function mapFile(t: TestSystem, s: VmSpace, vp: FakeVnode, len: number, shared: boolean, offset = 0, prot = RW) {
  return t.mmap(s, len, { shared, prot, backing: { kind: "vnode", vnode: vp, offset } });
}

/** read() through the merged cache. */
function readFile(t: TestSystem, vp: FakeVnode, offset: number, len: number): { rv: number; data: Uint8Array } {
  const data = new Uint8Array(len);
  const rv = t.vm.vnodeRdwr(vp, offset, len, false, (pa, pageOffset, done, n) => {
    for (let i = 0; i < n; i++) data[done + i] = t.pmap.read8(pa + pageOffset + i);
  });
  return { rv, data };
}

/** write() through the merged cache (the kernel grows the size first). */
function writeFile(t: TestSystem, vp: FakeVnode, offset: number, bytes: number[]): number {
  if (offset + bytes.length > vp.size) {
    const old = vp.size;
    vp.size = offset + bytes.length;
    t.vm.vnodeSetSize(vp, old);
  }
  return t.vm.vnodeRdwr(vp, offset, bytes.length, true, (pa, pageOffset, done, n) => {
    for (let i = 0; i < n; i++) t.pmap.write8(pa + pageOffset + i, bytes[done + i] as number);
  });
}

describe("vnode pager: file mappings", () => {
  it("pages a file in on fault, sleeping on the read; one object per vnode", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 4 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 4 * P, true);
    expect(t.readPages(s, a, 4 * P)).toEqual([0x10, 0x11, 0x12, 0x13]);
    expect(t.stat("vm.pagein")).toBe(4);
    expect(t.io.sleeps).toBe(4);
    const obj = vp.vmObject as VmObject;
    expect(obj.vnode).toBe(vp);
    const b = mapFile(t, s, vp, 2 * P, false, 2 * P);
    expect(t.readPages(s, b, 2 * P)).toEqual([0x12, 0x13]);
    expect(t.stat("vm.pagein")).toBe(4); // cached
    expect(vp.vmObject).toBe(obj);
    t.audit();
  });

  it("MAP_SHARED: two processes and read()/write() see one set of pages", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const p = t.spawn();
    const q = t.spawn();
    const a = mapFile(t, p, vp, 2 * P, true);
    const b = mapFile(t, q, vp, 2 * P, true);
    t.store8(p, a + P + 5, 0xaa);
    expect(t.load8(q, b + P + 5)).toBe(0xaa);
    expect(readFile(t, vp, P + 5, 1).data[0]).toBe(0xaa);
    expect(writeFile(t, vp, 3, [1, 2, 3])).toBe(KERN_SUCCESS);
    expect([t.load8(p, a + 3), t.load8(q, b + 4), t.load8(q, b + 5)]).toEqual([1, 2, 3]);
    // Nothing reached the file yet: msync(MS_SYNC) writes the dirty pages.
    expect(t.io.fileBytes(vp)[P + 5]).toBe(0);
    expect(t.vm.sync(p, a, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.stat("vm.pageout")).toBe(2);
    const disk = t.io.fileBytes(vp);
    expect([disk[3], disk[4], disk[5], disk[P + 5]]).toEqual([1, 2, 3, 0xaa]);
    t.audit();
    // Clean now: another msync writes nothing.
    expect(t.vm.sync(q, b, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.stat("vm.pageout")).toBe(2);
    t.audit();
  });

  it("vslock with Read access of a read-only MAP_PRIVATE page wires the file's page in place (write(2) from it)", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, false, 0, Prot.Read);
    const w0 = t.vm.wiredPages;
    expect(t.vm.wire(s, a, 2 * P, "transient", Prot.Read)).toBe(KERN_SUCCESS);
    expect(t.stat("vm.fault.cow")).toBe(0);
    expect(t.vm.wiredPages).toBe(w0 + 2);
    const fileObject = vp.vmObject as VmObject;
    expect(t.pmapOf(s).extract(a)).toBe(fileObject.pages.get(0)?.pa);
    expect(t.pmapOf(s).protOf(a)).toBe(Prot.Read);
    t.audit();
    expect(t.vm.unwire(s, a, 2 * P, "transient")).toBe(KERN_SUCCESS);
    expect(t.vm.wiredPages).toBe(w0);
    t.audit();
    // Still the file's page: a later change to the file shows through the private mapping.
    writeFile(t, vp, 0, [0x77]);
    expect(t.load8(s, a)).toBe(0x77);
    // A writable private mapping is still copied by any wiring (NetBSD uvm_fault_check cow_now).
    const b = mapFile(t, s, vp, P, false);
    expect(t.vm.wire(s, b, P, "transient", Prot.Read)).toBe(KERN_SUCCESS);
    expect(t.stat("vm.fault.cow")).toBe(1);
    expect(t.vm.unwire(s, b, P, "transient")).toBe(KERN_SUCCESS);
    writeFile(t, vp, 0, [0x78]);
    expect(t.load8(s, b)).toBe(0x77);
    expect(t.load8(s, a)).toBe(0x78);
    t.audit();
  });

  it("MAP_PRIVATE: sees the file's current page until the first write copies it; the file is untouched", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, false);
    expect(t.load8(s, a)).toBe(0x10);
    expect(t.pmapOf(s).protOf(a)).toBe(Prot.Read);
    writeFile(t, vp, 0, [0x77]);
    expect(t.load8(s, a)).toBe(0x77); // not copied yet: the file's page
    t.store8(s, a, 0x55);
    expect(t.stat("vm.fault.cow")).toBe(1);
    writeFile(t, vp, 0, [0x66]);
    expect(t.load8(s, a)).toBe(0x55);
    expect(readFile(t, vp, 0, 1).data[0]).toBe(0x66);
    // A fork of the private mapping: each side private.
    const c = t.fork(s);
    t.store8(c, a + P, 1);
    expect(t.load8(s, a + P)).toBe(0x11);
    expect(t.load8(c, a)).toBe(0x55);
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp)[0]).toBe(0x10); // neither the private copy nor the unsynced 0x66
    t.audit();
    t.exit(c);
    t.exit(s);
    t.audit();
  });

  it("a page at or past EOF is KERN_MEMORY_ERROR (SIGBUS); the partial last page maps, zero past EOF", () => {
    const t = new TestSystem();
    const data = new Uint8Array(P + 100).fill(9);
    const vp = t.io.createFile(data);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 4 * P, true);
    expect(t.load8(s, a + P + 99)).toBe(9);
    expect(t.load8(s, a + P + 100)).toBe(0);
    expect(t.vm.fault(s, a + 2 * P, Prot.Read)).toBe(KERN_MEMORY_ERROR);
    const priv = mapFile(t, s, vp, 4 * P, false);
    expect(t.vm.fault(s, priv + 3 * P, Prot.Write)).toBe(KERN_MEMORY_ERROR);
    t.audit();
  });

  it("an I/O error on page-in is KERN_MEMORY_ERROR, and the next try reads the page", () => {
    const t = new TestSystem();
    const vp = makeFile(t, P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, P, true);
    t.io.failNext = 1;
    expect(t.vm.fault(s, a, Prot.Read)).toBe(KERN_MEMORY_ERROR);
    expect(readFile(t, vp, 0, 1).data[0]).toBe(0x10);
    t.io.failNext = 1;
    expect(writeFile(t, vp, P, [1])).toBe(KERN_MEMORY_ERROR); // partial page past the old EOF is read first
    t.audit();
  });

  it("truncation frees the pages past the end (unmapping them), zeroes the tail, and later faults there are SIGBUS", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 3 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 3 * P, true);
    t.fillPages(s, a, 3 * P, 0x44);
    t.store8(s, a + P + 200, 0x45); // dirty, past the new EOF in the tail page
    const old = vp.size;
    vp.size = P + 100;
    t.io.files.get(vp.id)?.delete(2); // the file system frees the block past the end
    t.vm.vnodeSetSize(vp, old);
    expect(t.pmapOf(s).extract(a + 2 * P)).toBeUndefined();
    expect(t.vm.fault(s, a + 2 * P, Prot.Read)).toBe(KERN_MEMORY_ERROR);
    expect(t.load8(s, a + P)).toBe(0x44);
    expect(t.load8(s, a + P + 200)).toBe(0);
    t.audit();
    // Growing again: the old tail reads as zeros, the new page is a hole.
    vp.size = 3 * P;
    t.vm.vnodeSetSize(vp, P + 100);
    expect(t.load8(s, a + P + 200)).toBe(0);
    expect(t.load8(s, a + 2 * P)).toBe(0);
    t.audit();
  });

  it("msync: MS_ASYNC starts the writes (pages busy until completion), MS_INVALIDATE re-reads the file", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, true);
    t.store8(s, a, 1);
    t.store8(s, a + P, 2);
    expect(t.vm.sync(s, a, 2 * P, MS_ASYNC)).toBe(KERN_SUCCESS);
    expect(t.io.queue.length).toBe(2);
    const obj = vp.vmObject as VmObject;
    const pg = obj.pages.get(0);
    expect(pg?.io).toBe(IO_WRITE);
    expect((pg?.flags ?? 0) & PG_BUSY).toBe(PG_BUSY);
    t.audit();
    t.io.complete();
    expect(t.io.fileBytes(vp)[P]).toBe(2);
    // Someone changes the file behind the cache; MS_INVALIDATE drops the clean pages.
    (t.io.files.get(vp.id)?.get(1) as Uint8Array)[0] = 0x99;
    expect(t.load8(s, a + P)).toBe(2);
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
    expect(obj.pages.size).toBe(0);
    expect(t.load8(s, a + P)).toBe(0x99);
    t.audit();
    // MS_INVALIDATE over wired memory fails; anonymous memory has nothing to do.
    expect(t.vm.wire(s, a, P, "mlock")).toBe(KERN_SUCCESS);
    expect(t.vm.sync(s, a, 2 * P, MS_INVALIDATE)).toBe(KERN_FAILURE);
    const anon = t.mmap(s, P);
    t.store8(s, anon, 1);
    expect(t.vm.sync(s, anon, P, MS_SYNC | MS_INVALIDATE)).toBe(KERN_SUCCESS);
    expect(t.load8(s, anon)).toBe(1);
    t.audit();
  });

  it("msync reports a write error; the page stays dirty and a later msync writes it", () => {
    const t = new TestSystem();
    const vp = makeFile(t, P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, P, true);
    t.store8(s, a, 5);
    t.io.failNext = 1;
    expect(t.vm.sync(s, a, P, MS_SYNC)).toBe(KERN_MEMORY_ERROR);
    expect(t.vm.sync(s, a, P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp)[0]).toBe(5);
    t.audit();
  });

  it("the pageout daemon writes dirty file pages to the file and frees clean ones", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 4 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 4 * P, true);
    t.fillPages(s, a, 2 * P, 0x31); // pages 0, 1 dirty
    t.readPages(s, a + 2 * P, 2 * P); // pages 2, 3 clean
    t.vm.pagedaemon();
    const held = [];
    while (t.vm.freePages >= t.vm.freeMin) held.push(t.vm.allocPage({}));
    t.kernel.counters.reset();
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout")).toBe(2);
    expect(t.stat("vm.swapout")).toBe(0);
    expect(t.stat("vm.pageout.freed")).toBe(2);
    t.io.complete();
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.freed")).toBe(4);
    for (const pg of held) if (pg) t.vm.freePage(pg);
    const disk = t.io.fileBytes(vp);
    expect([disk[0], disk[P]]).toEqual([0x31, 0x31]);
    expect(t.readPages(s, a, 4 * P)).toEqual([0x31, 0x31, 0x12, 0x13]);
    t.audit();
  });

  it("an unreferenced vnode object stays cached with its pages; dirty pages are written when it is trimmed", () => {
    const t = new TestSystem();
    const vp = makeFile(t, P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, P, true);
    t.store8(s, a, 0x21);
    expect(t.vm.unmap(s, a, P)).toBe(KERN_SUCCESS);
    const obj = vp.vmObject as VmObject;
    expect(obj.cached).toBe(true);
    expect(obj.refCount).toBe(0);
    t.audit();
    expect(readFile(t, vp, 0, 1).data[0]).toBe(0x21);
    expect(t.stat("vm.object.cache_hit")).toBe(1);
    expect(t.stat("vm.pagein")).toBe(1);
    // Fill the cache past vm_cache_max: the oldest object is cleaned and terminated.
    for (let i = 0; i < 100; i++) readFile(t, makeFile(t, P), 0, 1);
    expect(vp.vmObject).toBeUndefined();
    expect(obj.alive).toBe(false);
    expect(t.io.fileBytes(vp)[0]).toBe(0x21);
    t.audit();
  });

  it("a wired shared file page survives truncation past it (it cannot be freed) and is never written back", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const s = t.spawn();
    const a = mapFile(t, s, vp, 2 * P, true);
    expect(t.vm.wire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    t.store8(s, a + P, 3);
    vp.size = P;
    t.vm.vnodeSetSize(vp, 2 * P);
    t.audit();
    expect(t.vm.sync(s, a, 2 * P, MS_SYNC)).toBe(KERN_SUCCESS);
    expect(t.io.fileBytes(vp).length).toBe(P);
    expect(t.vm.unwire(s, a, 2 * P, "mlock")).toBe(KERN_SUCCESS);
    t.exit(s);
    t.audit();
  });

  it("a private file mapping inherited by copy and a shared one by share both survive fork and exit", () => {
    const t = new TestSystem();
    const vp = makeFile(t, 2 * P);
    const p = t.spawn();
    const sh = mapFile(t, p, vp, 2 * P, true);
    const pr = t.mmap(p, 2 * P, {
      shared: false,
      inheritance: INHERIT_COPY,
      backing: { kind: "vnode", vnode: vp, offset: 0 },
    });
    t.store8(p, pr, 9);
    const c = t.fork(p);
    t.store8(c, sh, 0x40);
    expect(t.load8(p, sh)).toBe(0x40);
    expect(t.load8(p, pr)).toBe(9);
    expect(t.load8(c, pr)).toBe(9);
    expect(t.load8(c, pr + P)).toBe(0x11);
    t.audit();
    t.exit(p);
    t.exit(c);
    t.audit();
  });
});
