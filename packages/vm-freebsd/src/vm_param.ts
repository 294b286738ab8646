/**
 * vmparam.h: the machine-dependent sizes of the physical allocator and the reservation system,
 * derived from the pmap's AddressLayout (FreeBSD sys/{i386,amd64}/include/vmparam.h;
 * freebsd.md 4.2).
 *
 * | machine      | superpage | VM_LEVEL_0_ORDER | VM_NFREEORDER |
 * |--------------|-----------|------------------|---------------|
 * | i386         | 4 MiB     | 10               | 11            |
 * | i386 PAE     | 2 MiB     | 9                | 10            |
 * | amd64        | 2 MiB     | 9                | 13            |
 */
import { type AddressLayout, PAGE_SHIFT, PAGE_SIZE, SIZE_2M } from "@vmlab/core";

/** VM_NFREEPOOL: VM_FREEPOOL_DEFAULT for object pages, VM_FREEPOOL_DIRECT for page-table and UMA pages. */
export const VM_NFREEPOOL = 2;
export const VM_FREEPOOL_DEFAULT = 0;
export const VM_FREEPOOL_DIRECT = 1;

export interface VmParam {
  /** VM_LEVEL_0_SIZE: the superpage a reservation covers, in bytes. */
  readonly level0Size: number;
  /** VM_LEVEL_0_ORDER: log2 of the pages in a reservation. */
  readonly level0Order: number;
  /** VM_LEVEL_0_NPAGES */
  readonly level0Npages: number;
  /** VM_NFREEORDER: buddy orders 0 .. VM_NFREEORDER-1; a page with order VM_NFREEORDER heads no free block. */
  readonly nfreeorder: number;
}

/**
 * The parameters for a layout. The superpage size is the pmap's (AddressLayout.superpageSize,
 * NBPDR); a layout without one is taken as 2 MiB. amd64 (a kernel above 4 GiB) clusters the
 * buddy lists up to 16 MiB blocks (VM_NFREEORDER 13); i386 stops at the superpage.
 */
export function vmParam(layout: AddressLayout): VmParam {
  const size = layout.superpageSize ?? SIZE_2M;
  const npages = size / PAGE_SIZE;
  const order = Math.round(Math.log2(npages));
  if (2 ** order !== npages || order < 1)
    throw new Error(`vm_reserv: superpage size ${size} is not a power-of-two number of pages`);
  const amd64 = layout.kernelMax > 2 ** 32;
  return {
    level0Size: size,
    level0Order: order,
    level0Npages: npages,
    nfreeorder: amd64 ? Math.max(13, order + 1) : order + 1,
  };
}

/** VM_LEVEL_0_SHIFT */
export function level0Shift(p: VmParam): number {
  return p.level0Order + PAGE_SHIFT;
}
