/**
 * PagerIo for unit-testing a VM layer without a kernel: files and swap are byte arrays, transfers
 * are queued and complete (in "interrupt context": the test kernel's depth is raised) when the VM
 * sleeps, when the test calls `complete()`, or never, if the test wants to look at a busy page.
 * Frames are read and written through the fake pmap's page store.
 */
import { type IoDone, type PAddr, PAGE_SIZE, type PagerIo, type Vnode } from "@vmlab/core";
import type { TestKernel } from "./kernel.js";

/** The frame store transfers read and write (FakePmapModule implements it). */
export interface FrameStore {
  readPage(pa: PAddr): Uint8Array;
  writePage(pa: PAddr, bytes: Uint8Array): void;
}

/** A file for the VM's vnode pager; its bytes live in the FakePagerIo. */
export class FakeVnode implements Vnode {
  vmObject: unknown = undefined;
  constructor(
    readonly id: number,
    public size: number,
  ) {}
}

interface Transfer {
  readonly what: string;
  /** Runs at completion (reads) — writes copied their data when they started. */
  readonly finish: () => void;
  readonly done: IoDone;
  readonly error: number;
}

export const EIO = 5;

export class FakePagerIo implements PagerIo {
  /** File contents by vnode id, page by page. */
  readonly files = new Map<number, Map<number, Uint8Array>>();
  readonly swap = new Map<number, Uint8Array>();
  private readonly freeSlots: number[] = [];
  readonly queue: Transfer[] = [];
  /** The pagedaemon the sleep loop runs when woken (set by the harness). */
  pagedaemon: (() => void) | undefined;
  pagedaemonWanted = false;
  /** Make the next N transfers fail with EIO. */
  failNext = 0;
  reads = 0;
  writes = 0;
  sleeps = 0;
  private nextVnode = 1;

  constructor(
    private readonly frames: FrameStore,
    private readonly kernel: TestKernel,
    readonly swapSlots = 256,
  ) {
    for (let i = swapSlots - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** A file of `bytes` (its size is the array's length). */
  createFile(bytes: Uint8Array = new Uint8Array(0)): FakeVnode {
    const vp = new FakeVnode(this.nextVnode++, bytes.length);
    const pages = new Map<number, Uint8Array>();
    for (let off = 0; off < bytes.length; off += PAGE_SIZE) {
      const page = new Uint8Array(PAGE_SIZE);
      page.set(bytes.subarray(off, Math.min(off + PAGE_SIZE, bytes.length)));
      pages.set(off / PAGE_SIZE, page);
    }
    this.files.set(vp.id, pages);
    return vp;
  }

  /** The file's bytes on "disk" (what has been written back), `vp.size` long. */
  fileBytes(vp: Vnode): Uint8Array {
    const out = new Uint8Array(vp.size);
    for (const [pindex, page] of this.files.get(vp.id) ?? []) {
      const off = pindex * PAGE_SIZE;
      if (off < vp.size) out.set(page.subarray(0, Math.min(PAGE_SIZE, vp.size - off)), off);
    }
    return out;
  }

  vnodeStrategy(vp: Vnode, pindex: number, pa: PAddr, write: boolean, done: IoDone): void {
    let pages = this.files.get(vp.id);
    if (!pages) {
      pages = new Map();
      this.files.set(vp.id, pages);
    }
    const store = pages;
    let stored = store.get(pindex);
    // Reading the tail past EOF gives zeroes (PagerIo.vnodeStrategy), whatever the block holds.
    const eof = vp.size - pindex * PAGE_SIZE;
    if (!write && stored && eof < PAGE_SIZE) {
      stored = stored.slice();
      stored.fill(0, Math.max(0, eof));
    }
    // A write stores nothing past EOF either (vnode_pager_generic_putpages writes up to EOF).
    const put = (b: Uint8Array): void => {
      if (eof < PAGE_SIZE) b.fill(0, Math.max(0, eof));
      store.set(pindex, b);
    };
    this.start(`vnode ${vp.id} page ${pindex}`, write, pa, done, stored, put);
  }

  swapAlloc(): number {
    return this.freeSlots.pop() ?? -1;
  }

  swapFree(slot: number): void {
    if (this.freeSlots.includes(slot)) throw new Error(`swap slot ${slot} freed twice`);
    this.swap.delete(slot);
    this.freeSlots.push(slot);
  }

  get swapFreeSlots(): number {
    return this.freeSlots.length;
  }

  swapStrategy(slot: number, pa: PAddr, write: boolean, done: IoDone): void {
    if (slot < 0 || slot >= this.swapSlots || this.freeSlots.includes(slot)) {
      throw new Error(`swap_pager: I/O on unallocated slot ${slot}`);
    }
    this.start(`swap slot ${slot}`, write, pa, done, this.swap.get(slot), (b) => this.swap.set(slot, b));
  }

  private start(
    what: string,
    write: boolean,
    pa: PAddr,
    done: IoDone,
    stored: Uint8Array | undefined,
    store: (b: Uint8Array) => void,
  ): void {
    const error = this.failNext > 0 ? EIO : 0;
    if (error) this.failNext--;
    if (write) {
      this.writes++;
      if (!error) store(this.frames.readPage(pa));
      this.queue.push({ what: `write ${what}`, finish: () => {}, done, error });
    } else {
      this.reads++;
      const data = stored ? stored.slice() : new Uint8Array(PAGE_SIZE);
      this.queue.push({
        what: `read ${what}`,
        finish: () => {
          if (!error) this.frames.writePage(pa, data);
        },
        done,
        error,
      });
    }
  }

  /** Complete the oldest `n` transfers (all by default), each in interrupt context. */
  complete(n = this.queue.length): number {
    let ran = 0;
    while (ran < n && this.queue.length > 0) {
      const t = this.queue.shift() as Transfer;
      t.finish();
      this.kernel.depth++;
      try {
        t.done(t.error);
      } finally {
        this.kernel.depth--;
      }
      ran++;
    }
    return ran;
  }

  sleep(wmesg: string, cond: () => boolean): boolean {
    if (this.kernel.depth > 0) this.kernel.panic(`tsleep: "${wmesg}" in interrupt context`);
    this.sleeps++;
    for (;;) {
      if (cond()) return true;
      if (this.pagedaemonWanted && this.pagedaemon) {
        this.pagedaemonWanted = false;
        const before = this.queue.length;
        this.pagedaemon();
        if (cond()) return true;
        if (this.queue.length > before) continue;
      }
      if (this.complete(1) === 0) return cond();
    }
  }

  wakeupPagedaemon(): void {
    this.pagedaemonWanted = true;
  }
}
