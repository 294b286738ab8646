/**
 * Page-table entry bits as the Mach pmap uses them, and the helpers that turn an entry (two
 * unsigned 32-bit halves; `hi` is 0 on non-PAE i386) into a frame address.
 *
 * Naming: 4.4BSD's pmap.h called the hardware Accessed bit PG_U ("used") and the user bit PG_u.
 * We use the machine's names: PG_A is Accessed, PG_U is User/Supervisor.
 */
import { PG_AVAIL1, PG_AVAIL2, PG_NX_HI } from "@vmlab/machine";

export const TWO32 = 0x1_0000_0000;

/** PG_W: software "wired" bit in an AVL bit, as 4.4BSD (0x200). */
export const PG_W = PG_AVAIL1;
/**
 * PG_PVLIST: the mapping has a pv entry (it was made by pmap_enter). 4.4BSD told managed pages
 * by their physical range; we also have unmanaged kernel mappings of managed frames (kenter of pv
 * pages, kmem), so the PTE says which kind it is (the bit NetBSD's Cranor pmap calls PG_PVLIST).
 */
export const PG_PVLIST = PG_AVAIL2;
/** Bit 63, execute-disable, as a bit of the high half. */
export const PG_NX = PG_NX_HI;
/** Frame bits of the low half. */
export const PG_FRAME_LO = 0xffff_f000;
/** Frame bits of the high half (physical bits 51:32). */
export const PG_FRAME_HI = 0x000f_ffff;

/** The frame address of an entry. */
export function frameOf(lo: number, hi: number): number {
  const low = (lo & PG_FRAME_LO) >>> 0;
  const h = hi & PG_FRAME_HI;
  return h === 0 ? low : h * TWO32 + low;
}

/** Low half of an entry pointing at `pa` with `bits`. */
export function loOf(pa: number, bits: number): number {
  return ((pa % TWO32) | bits) >>> 0;
}

/** High half (frame bits above 4 GiB) of an entry pointing at `pa`. */
export function hiOf(pa: number): number {
  return pa < TWO32 ? 0 : Math.floor(pa / TWO32);
}
