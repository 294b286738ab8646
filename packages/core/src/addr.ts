/**
 * Addresses, page geometry and protections shared by every layer.
 *
 * Addresses are plain numbers. Physical addresses are below 2^52; virtual addresses below 2^48
 * (the amd64 upper half is kept as its unsigned 48-bit value, so 0xffff800000000000 is stored as
 * 0x800000000000). Both can exceed 2^32, so helpers here use arithmetic, not 32-bit bit operators.
 */
export type PAddr = number;
export type VAddr = number;

/** PAGE_SHIFT / PAGE_SIZE / PAGE_MASK — the 4 KiB base page of every x86 paging format. */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;

/** NBPDR-style large page sizes. */
export const SIZE_2M = 0x20_0000;
export const SIZE_4M = 0x40_0000;
export const SIZE_1G = 0x4000_0000;

/** vm_prot_t: VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE. */
export const Prot = { None: 0, Read: 1, Write: 2, Exec: 4, All: 7 } as const;
export type Prot = number;

/** trunc_page(x) for addresses that may exceed 2^32. */
export function truncPage(x: number): number {
  return x - (x % PAGE_SIZE);
}

/** round_page(x) for addresses that may exceed 2^32. */
export function roundPage(x: number): number {
  const r = x % PAGE_SIZE;
  return r === 0 ? x : x + (PAGE_SIZE - r);
}

/** atop(x): byte address to page index. */
export function atop(x: number): number {
  return Math.floor(x / PAGE_SIZE);
}

/** ptoa(x): page index to byte address. */
export function ptoa(x: number): number {
  return x * PAGE_SIZE;
}

/** Format an address as 0x-prefixed hex, for messages. */
export function hex(x: number): string {
  return `0x${x.toString(16)}`;
}

/** Render a protection as the BSD "rwx" triple. */
export function protString(p: Prot): string {
  return `${p & Prot.Read ? "r" : "-"}${p & Prot.Write ? "w" : "-"}${p & Prot.Exec ? "x" : "-"}`;
}
