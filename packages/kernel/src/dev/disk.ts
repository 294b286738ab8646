/**
 * A disk: page-sized blocks behind a controller that transfers by DMA and completes by
 * interrupt (the shape of the BSD wd(4)/sd(4) strategy → interrupt → biodone path). Requests are
 * served one at a time in arrival order (no disksort); each costs a seek plus a per-block transfer
 * in simulated cycles. The completion raises an interrupt at IPL_BIO on a CPU chosen by the seeded
 * PRNG; the handler (biodone) runs there, nested in whatever that CPU is doing at its next memory
 * access. The injector adds a random number of cycles — that is, of accesses — before the
 * interrupt is raised, so a test can make it land anywhere.
 */
import { type Counter, IPL, type PAddr, PAGE_SIZE } from "@vmlab/core";
import type { Cpu, Machine } from "@vmlab/machine";
import type { Services } from "../services.js";

/** struct buf, the parts a one-page transfer needs. */
export interface Buf {
  /** B_READ (false) or B_WRITE (true). */
  readonly write: boolean;
  /** Block number on the device. */
  readonly blkno: number;
  /** The frame the data moves to or from. */
  readonly pa: PAddr;
  /** b_iodone: called by biodone in interrupt context with 0 or an errno. */
  readonly iodone: (error: number) => void;
  /** What the transfer is for (traces). */
  readonly what: string;
}

export interface DiskTiming {
  /** Cycles from strategy to completion for an idle disk (seek + rotation). */
  seek: number;
  /** Cycles per page transferred. */
  transfer: number;
  /** Upper bound of the injector's extra delay before the interrupt is raised (0 = none). */
  jitter: number;
}

/** A late-1990s IDE disk against a few-hundred-MHz CPU, in the cost model's cycles (order of magnitude). */
export const DEFAULT_DISK_TIMING: Readonly<DiskTiming> = Object.freeze({
  seek: 20_000,
  transfer: 4_000,
  jitter: 2_000,
});

export const EIO = 5;

export class Disk {
  /** Written blocks (unwritten ones read as zeroes). */
  private readonly blocks = new Map<number, Uint8Array>();
  /** When the device finishes the requests already queued (one at a time). */
  private busyUntil = 0;
  /** Transfers started and not yet completed. */
  inFlight = 0;
  /** Make the next N transfers fail with EIO (tests). */
  failNext = 0;
  readonly reads: Counter;
  readonly writes: Counter;
  readonly interrupts: Counter;

  constructor(
    readonly name: string,
    /** Size in blocks (pages). */
    readonly nblocks: number,
    private readonly machine: Machine,
    private readonly services: Services,
    readonly timing: DiskTiming,
  ) {
    const c = services.counters;
    this.reads = c.counter(`disk.${name}.read`);
    this.writes = c.counter(`disk.${name}.write`);
    this.interrupts = c.counter(`disk.${name}.intr`);
  }

  /** The stored bytes of a block (a copy; zeroes if never written). */
  readBlock(blkno: number): Uint8Array {
    this.check(blkno);
    return this.blocks.get(blkno)?.slice() ?? new Uint8Array(PAGE_SIZE);
  }

  /** Forget a block's contents (the file system freed it). */
  discard(blkno: number): void {
    this.blocks.delete(blkno);
  }

  private check(blkno: number): void {
    if (!Number.isInteger(blkno) || blkno < 0 || blkno >= this.nblocks) {
      this.services.panic(`${this.name}: block ${blkno} out of range (device has ${this.nblocks})`);
    }
  }

  /** Write a block synchronously (the file system's own metadata-style update; no interrupt). */
  writeBlockNow(blkno: number, data: Uint8Array): void {
    this.check(blkno);
    this.blocks.set(blkno, data.slice(0, PAGE_SIZE));
  }

  /**
   * Complete a request that needs no transfer — a read of a hole (zero-fill) or a request the file
   * system already failed (`error`, e.g. ENOSPC from balloc) — through the same interrupt path, at once.
   */
  completeWithoutTransfer(bp: Buf, error: number): void {
    const mem = this.machine.memory;
    this.inFlight++;
    this.machine.events.schedule(this.machine.curcpu.cycles, `${this.name} done`, () => {
      if (!bp.write && !error) mem.zeroRange(bp.pa, PAGE_SIZE);
      this.raise(bp, error);
    });
  }

  /**
   * strategy(bp): queue the transfer. A write takes the frame's bytes now (the DMA engine reads
   * memory as the transfer starts); a read fills the frame at completion, just before the interrupt.
   */
  strategy(bp: Buf): void {
    this.check(bp.blkno);
    const mem = this.machine.memory;
    const cpu = this.machine.curcpu;
    const error = this.failNext > 0 ? EIO : 0;
    if (error) this.failNext--;
    if (bp.write) {
      this.writes.value++;
      if (!error) this.blocks.set(bp.blkno, mem.readBytes(bp.pa, PAGE_SIZE));
    } else {
      this.reads.value++;
    }
    const start = Math.max(cpu.cycles, this.busyUntil);
    this.busyUntil = start + this.timing.seek + this.timing.transfer;
    const jitter = this.timing.jitter > 0 ? this.services.prng.int(0, this.timing.jitter) : 0;
    this.inFlight++;
    this.services.trace.emit("disk", "strategy", { dev: this.name, blkno: bp.blkno, write: bp.write, what: bp.what });
    this.machine.events.schedule(this.busyUntil + jitter, `${this.name} done`, () => {
      if (!bp.write && !error) mem.writeBytes(bp.pa, this.blocks.get(bp.blkno) ?? ZERO_PAGE);
      this.raise(bp, error);
    });
  }

  /** The controller's interrupt: on a CPU the PRNG picks, at IPL_BIO, running biodone. */
  private raise(bp: Buf, error: number): void {
    const cpus = this.machine.cpus;
    const target = cpus[cpus.length === 1 ? 0 : this.services.prng.int(0, cpus.length - 1)] as Cpu;
    target.post({
      name: `${this.name}intr`,
      level: IPL.BIO,
      handler: () => {
        this.interrupts.value++;
        this.inFlight--;
        this.services.trace.emit("disk", "biodone", {
          dev: this.name,
          blkno: bp.blkno,
          write: bp.write,
          what: bp.what,
          error,
        });
        bp.iodone(error);
      },
    });
  }
}

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
