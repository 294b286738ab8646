/**
 * Physical memory: one ArrayBuffer holding every byte of simulated RAM. Page tables, pv chunks and
 * user data all live here, in the hardware's little-endian format.
 *
 * RAM is placed as a PC places it: from physical address 0 up to the start of the PCI hole
 * (3 GiB), and whatever does not fit below the hole continues at 4 GiB. So a PAE or amd64 machine
 * with more than 3 GiB has frames above 4 GiB, reachable only through 36/52-bit page-table
 * entries. The backing store is one typed array, which caps RAM at 4 GiB per machine (the host's
 * largest typed array); see docs/decisions/0002-physical-memory-layout.md.
 */
import { hex, PAGE_SIZE } from "@vmlab/core";

export const HOLE_START = 0xc000_0000; // 3 GiB
export const HOLE_END = 0x1_0000_0000; // 4 GiB
const HOLE_SIZE = HOLE_END - HOLE_START;
export const MAX_RAM_BYTES = 0x1_0000_0000; // one typed array

/** A physical access to an address no RAM answers: the machine-check a real bus error raises. */
export class MachineCheck extends Error {
  override readonly name = "MachineCheck";
  constructor(readonly pa: number) {
    super(`machine check: no memory at physical address ${hex(pa)}`);
  }
}

export interface PhysRange {
  /** First physical address of the range. */
  readonly base: number;
  /** Length in bytes. */
  readonly size: number;
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("vmlab needs a little-endian host (x86 memory is little-endian)");
}

export class PhysicalMemory {
  /** The backing store; `words[off >>> 2]` is the 32-bit word at backing offset off. */
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly view: DataView;
  /** RAM ranges in physical address order. */
  readonly ranges: readonly PhysRange[];
  /** One past the highest physical address with RAM. */
  readonly topPa: number;
  private readonly lowTop: number;
  private readonly highTop: number;

  constructor(readonly sizeBytes: number) {
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`physical memory size must be a positive multiple of ${PAGE_SIZE}, got ${sizeBytes}`);
    }
    if (sizeBytes > MAX_RAM_BYTES) throw new RangeError(`at most ${MAX_RAM_BYTES} bytes of RAM per machine`);
    const buf = new ArrayBuffer(sizeBytes);
    this.bytes = new Uint8Array(buf);
    this.words = new Uint32Array(buf);
    this.view = new DataView(buf);
    this.lowTop = Math.min(sizeBytes, HOLE_START);
    const high = sizeBytes - this.lowTop;
    this.highTop = high > 0 ? HOLE_END + high : 0;
    this.ranges =
      high > 0
        ? [
            { base: 0, size: this.lowTop },
            { base: HOLE_END, size: high },
          ]
        : [{ base: 0, size: this.lowTop }];
    this.topPa = high > 0 ? this.highTop : this.lowTop;
  }

  /** Backing-store offset of a physical address, or -1 where no RAM is. */
  offsetOf(pa: number): number {
    if (pa >= 0 && pa < this.lowTop) return pa;
    if (pa >= HOLE_END && pa < this.highTop) return pa - HOLE_SIZE;
    return -1;
  }

  /** Whether [pa, pa + len) is entirely RAM (ranges never abut, so one range must hold it). */
  isBacked(pa: number, len: number): boolean {
    const o = this.offsetOf(pa);
    return o >= 0 && this.offsetOf(pa + len - 1) === o + len - 1;
  }

  private off(pa: number, len: number): number {
    const o = this.offsetOf(pa);
    if (o < 0 || (len > 1 && this.offsetOf(pa + len - 1) !== o + len - 1)) throw new MachineCheck(pa);
    return o;
  }

  read8(pa: number): number {
    return this.bytes[this.off(pa, 1)] as number;
  }

  write8(pa: number, v: number): void {
    this.bytes[this.off(pa, 1)] = v;
  }

  read16(pa: number): number {
    return this.view.getUint16(this.off(pa, 2), true);
  }

  write16(pa: number, v: number): void {
    this.view.setUint16(this.off(pa, 2), v, true);
  }

  /** An unsigned 32-bit load. */
  read32(pa: number): number {
    const o = this.off(pa, 4);
    return (o & 3) === 0 ? (this.words[o >>> 2] as number) : this.view.getUint32(o, true);
  }

  write32(pa: number, v: number): void {
    const o = this.off(pa, 4);
    if ((o & 3) === 0) this.words[o >>> 2] = v;
    else this.view.setUint32(o, v >>> 0, true);
  }

  /** A 64-bit entry as [lo, hi] unsigned 32-bit halves (use read64lo/hi on hot paths). */
  read64(pa: number): [number, number] {
    return [this.read32(pa), this.read32(pa + 4)];
  }

  read64lo(pa: number): number {
    return this.read32(pa);
  }

  read64hi(pa: number): number {
    return this.read32(pa + 4);
  }

  write64(pa: number, lo: number, hi: number): void {
    this.off(pa, 8);
    this.write32(pa, lo);
    this.write32(pa + 4, hi);
  }

  zeroRange(pa: number, len: number): void {
    const o = this.off(pa, len);
    this.bytes.fill(0, o, o + len);
  }

  copyRange(dstPa: number, srcPa: number, len: number): void {
    const d = this.off(dstPa, len);
    const s = this.off(srcPa, len);
    this.bytes.copyWithin(d, s, s + len);
  }

  readBytes(pa: number, len: number): Uint8Array {
    const o = this.off(pa, len);
    return this.bytes.slice(o, o + len);
  }

  writeBytes(pa: number, data: Uint8Array): void {
    const o = this.off(pa, data.length);
    this.bytes.set(data, o);
  }

  /** Number of 4 KiB frames of RAM. */
  get frames(): number {
    return this.sizeBytes / PAGE_SIZE;
  }
}
