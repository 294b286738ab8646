/**
 * PTE bits of the FreeBSD pmap (i386/amd64 pmap.h): the software bits PG_W (wired) and PG_MANAGED
 * (the mapping has a pv entry) in the AVL bits, NX as a bit of the high half, and PG_PTE_PROMOTE —
 * the bits that must be identical in every PTE of a run for pmap_promote_pde to merge it.
 */
import { PG_A, PG_AVAIL1, PG_AVAIL2, PG_G, PG_M, PG_NX_HI, PG_PCD, PG_PWT, PG_RW, PG_U, PG_V } from "@vmlab/machine";

/** PG_W = PG_AVAIL1 (0x200): the mapping is wired. */
export const PG_W = PG_AVAIL1;
/** PG_MANAGED = PG_AVAIL2 (0x400): the mapping is on a pv list. */
export const PG_MANAGED = PG_AVAIL2;
/** Bit 63 (execute-disable), as a bit of the high half (pg_nx on PAE and amd64). */
export const PG_NX = PG_NX_HI;
/** PAT bit of a 4 KiB PTE (the PS position) and of a large-page PDE (bit 12). */
export const PG_PTE_PAT = 0x080;
export const PG_PDE_PAT = 0x1000;
/** PG_PTE_PROMOTE, low half (the high half is NX where there is NX). */
export const PG_PTE_PROMOTE =
  PG_MANAGED | PG_W | PG_G | PG_PTE_PAT | PG_M | PG_A | PG_PCD | PG_PWT | PG_U | PG_RW | PG_V;
