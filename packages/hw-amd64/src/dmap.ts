/**
 * The amd64 direct map (FreeBSD sys/amd64/include/vmparam.h, pmap.c create_pagetables): all of
 * physical memory mapped once, read/write, supervisor-only, global and no-execute, with large
 * pages, at a fixed kernel address. PHYS_TO_DMAP(pa) is then `pa | DMAP_MIN_ADDRESS` — a plain OR
 * works because the base sits far above any physical address — and every page-table page of every
 * pmap is reachable without temporary mappings.
 *
 * Addresses are 48-bit unsigned values: FreeBSD's DMAP_MIN_ADDRESS 0xfffff80000000000 is
 * 0xf80000000000 here (PML4 slot 496, DMPML4I).
 */
import { hex, PAGE_SIZE, SIZE_1G, type SIZE_2M } from "@vmlab/core";
import { PG_A, PG_G, PG_M, PG_NX_HI, PG_PS, PG_RW, PG_V, type PhysicalMemory } from "@vmlab/machine";

/** DMPML4I: the first PML4 slot of the direct map. */
export const DMPML4I = 496;
/** NDMPML4E: PML4 slots reserved for the direct map (8 × 512 GiB = 4 TiB). */
export const NDMPML4E = 8;
export const DMAP_MIN_ADDRESS = DMPML4I * 2 ** 39;
export const DMAP_MAX_ADDRESS = (DMPML4I + NDMPML4E) * 2 ** 39;

/** PHYS_TO_DMAP(pa) */
export function physToDmap(pa: number): number {
  if (!(pa >= 0 && pa < DMAP_MAX_ADDRESS - DMAP_MIN_ADDRESS))
    throw new RangeError(`PHYS_TO_DMAP: ${hex(pa)} out of range`);
  return DMAP_MIN_ADDRESS + pa;
}

/** DMAP_TO_PHYS(va) */
export function dmapToPhys(va: number): number {
  if (!(va >= DMAP_MIN_ADDRESS && va < DMAP_MAX_ADDRESS))
    throw new RangeError(`DMAP_TO_PHYS: ${hex(va)} not in the direct map`);
  return va - DMAP_MIN_ADDRESS;
}

export interface DirectMapOptions {
  /** Use 1 GiB pages (the CPU supports them) or 2 MiB pages. */
  pageSize: typeof SIZE_2M | typeof SIZE_1G;
  /** One past the highest physical address to map (dmaplimit), rounded up to the page size. */
  limit: number;
  /** Set XD in the leaves (FreeBSD's pg_nx: only when the CPU runs with EFER.NXE). Default true. */
  nx?: boolean;
}

/**
 * Build the direct map under the PML4 at `pml4Pa` (bootstrap: direct physical writes). Takes
 * zeroed page-table pages from `allocTablePage` and returns how many it used.
 */
export function buildDirectMap(
  mem: PhysicalMemory,
  pml4Pa: number,
  allocTablePage: () => number,
  opts: DirectMapOptions,
): number {
  const { pageSize } = opts;
  const limit = Math.ceil(opts.limit / pageSize) * pageSize;
  if (limit > NDMPML4E * 2 ** 39) throw new RangeError(`direct map limit ${hex(limit)} exceeds ${NDMPML4E} PML4 slots`);
  if (limit > 2 ** 40) throw new RangeError(`direct map limit ${hex(limit)} beyond MAXPHYADDR (2^40)`);
  const leafLo = PG_V | PG_RW | PG_A | PG_M | PG_G | PG_PS;
  const tableLo = PG_V | PG_RW | PG_A;
  let used = 0;
  const alloc = () => {
    const pa = allocTablePage();
    if (pa % PAGE_SIZE !== 0) throw new RangeError(`table page ${hex(pa)} not aligned`);
    used++;
    return pa;
  };
  const entry = (tablePa: number, idx: number) => tablePa + idx * 8;
  const pointTo = (ea: number, pa: number) => mem.write64(ea, tableLo | (pa % 2 ** 32), Math.floor(pa / 2 ** 32));
  for (let pa = 0; pa < limit; pa += pageSize) {
    const va = DMAP_MIN_ADDRESS + pa;
    const i4 = Math.floor(va / 2 ** 39) % 512;
    const i3 = Math.floor(va / 2 ** 30) % 512;
    const i2 = Math.floor(va / 2 ** 21) % 512;
    const e4 = entry(pml4Pa, i4);
    if ((mem.read32(e4) & PG_V) === 0) pointTo(e4, alloc());
    const pdpt = frameOf(mem, e4);
    const e3 = entry(pdpt, i3);
    const nx = (opts.nx ?? true) ? PG_NX_HI : 0;
    const hiOf = (p: number) => (Math.floor(p / 2 ** 32) | nx) >>> 0;
    if (pageSize === SIZE_1G) {
      mem.write64(e3, (leafLo | (pa % 2 ** 32)) >>> 0, hiOf(pa));
      continue;
    }
    if ((mem.read32(e3) & PG_V) === 0) pointTo(e3, alloc());
    const pd = frameOf(mem, e3);
    mem.write64(entry(pd, i2), (leafLo | (pa % 2 ** 32)) >>> 0, hiOf(pa));
  }
  return used;
}

function frameOf(mem: PhysicalMemory, ea: number): number {
  const [lo, hi] = mem.read64(ea);
  return (hi & 0xff) * 2 ** 32 + ((lo & 0xffff_f000) >>> 0);
}
