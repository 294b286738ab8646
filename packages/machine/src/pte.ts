/**
 * Page-table entries as two unsigned 32-bit halves, the way every pmap handles them on a hot path
 * (no BigInt, no object per entry): `lo` holds bits 31:0, `hi` bits 63:32 (always 0 for the 4-byte
 * entries of non-PAE i386). These helpers turn an entry into its frame address and back, for all
 * three formats; physical addresses are plain numbers below 2^52.
 */

const TWO32 = 0x1_0000_0000;

/** Frame bits of the low half (physical bits 31:12). */
export const PG_FRAME_LO = 0xffff_f000;
/** Frame bits of the high half (physical bits 51:32). */
export const PG_FRAME_HI = 0x000f_ffff;

/** The frame address an entry names (lo, hi halves; hi = 0 for 4-byte entries). */
export function pteFrame(lo: number, hi: number): number {
  const low = (lo & PG_FRAME_LO) >>> 0;
  const h = hi & PG_FRAME_HI;
  return h === 0 ? low : h * TWO32 + low;
}

/** Low half of an entry naming the frame at `pa` with the flag bits `bits` (bits 11:0). */
export function pteLo(pa: number, bits: number): number {
  return ((pa < TWO32 ? pa : pa % TWO32) | bits) >>> 0;
}

/** High half of an entry naming `pa`: physical bits 51:32 (OR in PG_NX_HI for no-execute). */
export function pteHi(pa: number): number {
  return pa < TWO32 ? 0 : Math.floor(pa / TWO32);
}
