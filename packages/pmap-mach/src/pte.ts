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
/** Frame helpers shared by every pmap (@vmlab/machine pte.ts), under this pmap's names. */
export {
  PG_FRAME_HI,
  PG_FRAME_LO,
  pteFrame as frameOf,
  pteHi as hiOf,
  pteLo as loOf,
} from "@vmlab/machine";
