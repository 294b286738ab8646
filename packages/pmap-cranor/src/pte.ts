/**
 * Software PTE bits of Cranor's pmap (pmap.h): PG_W (wired) and PG_PVLIST (the mapping has a
 * pv_entry) in the AVL bits, plus the NX bit of the 64-bit formats as a bit of the high half.
 */
import { PG_AVAIL1, PG_AVAIL2, PG_NX_HI } from "@vmlab/machine";

/** PG_W = PG_AVAIL1 (0x200): the mapping is wired. */
export const PG_W = PG_AVAIL1;
/** PG_PVLIST = PG_AVAIL2 (0x400): the mapping is on a pv list (pmap_enter of a managed page). */
export const PG_PVLIST = PG_AVAIL2;
/** Bit 63 (execute-disable), as a bit of the high half. */
export const PG_NX = PG_NX_HI;
