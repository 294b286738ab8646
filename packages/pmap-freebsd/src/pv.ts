/**
 * get_pv_entry and pmap_pv_reclaim (FreeBSD i386/amd64 pmap.c, the chunk era: 8.x get_pv_entry
 * with the 9/10-era pmap_pv_reclaim over the global pv_chunks LRU), and reserve_pv_entries for
 * demotion.
 *
 * get_pv_entry(pmap): the first chunk of pm_pvchunk with a free bit; else a new chunk from a free
 * page and a chunk VA; else — memory or the chunk KVA block exhausted — pmap_pv_reclaim destroys
 * non-wired 4 KiB mappings of the least recently used chunks (any pmap's) until a whole chunk
 * is free (its page and VA are reused) or the locked pmap got a free entry. Superpage mappings
 * and wired mappings are never reclaimed. Out of everything: "get_pv_entry: increase
 * vm.pmap.shpgperproc" (FreeBSD 8's panic), or null for a caller that may fail.
 */
import type { VmPage } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { FreebsdModule } from "./module.js";
import type { FreebsdPmap } from "./pmap.js";
import { PG_W } from "./pte.js";
import { unusePt } from "./ptp.js";
import { type PvChunk, PvChunks, type PvEntry } from "./pv-chunk.js";

const { hex } = core;
const { PG_A, PG_G, PG_M, PG_PS, PG_V, pteFrame } = hw;

/** get_pv_entry(pmap, try): a pv entry owned by pm; null only when `canFail` and none can be had. */
export function getPvEntry(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, canFail: boolean): PvEntry | null {
  const pv = m.pv;
  const got = pv.takeFromPmap(pm) ?? pv.newChunk(pm, null);
  if (got !== null) return got;
  for (let tries = 0; tries < 16; tries++) {
    const before = pv.pvEntryCount;
    const pg = pvReclaim(m, cpu, pm);
    const mine = pv.takeFromPmap(pm);
    if (mine !== null) {
      if (pg !== null) m.host.freePage(pg);
      return mine;
    }
    if (pg !== null) {
      const fresh = pv.newChunk(pm, pg);
      if (fresh !== null) return fresh;
      m.host.freePage(pg);
    }
    const another = pv.newChunk(pm, null);
    if (another !== null) return another;
    if (pv.pvEntryCount === before) break;
  }
  if (canFail) {
    pv.tryFailed();
    return null;
  }
  return m.kernel.panic("get_pv_entry: increase vm.pmap.shpgperproc");
}

/**
 * Make sure pm owns at least `n` free pv entries (reserve_pv_entries, FreeBSD 9+: demotion needs
 * NPTEPG - 1 of them before it changes anything). False when they cannot be had.
 */
export function reservePvEntries(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, n: number): boolean {
  const pv = m.pv;
  for (;;) {
    let free = 0;
    for (let pc = pm.pvHead; pc !== null && free < n; pc = pc.next) free += pc.nfree;
    if (free >= n) return true;
    let ent = pv.newChunk(pm, null);
    if (ent === null) {
      const before = pv.pvEntryCount;
      const pg = pvReclaim(m, cpu, pm);
      if (pg !== null) ent = pv.newChunk(pm, pg);
      if (ent === null) {
        if (pg !== null) m.host.freePage(pg);
        if (pv.pvEntryCount === before) return false;
        continue;
      }
    }
    // newChunk handed out entry 0: give it back to the chunk (kept, not freed).
    pv.freeBit(ent.chunk, ent);
    pv.pvEntryCount--;
  }
}

/**
 * pmap_pv_reclaim(locked_pmap): walk pv_chunks from the least recently used end; lock each chunk's
 * pmap (the locked one is already held), destroy the chunk's non-wired 4 KiB mappings — PG_A/PG_M
 * to the pages, pv entries freed, page tables unwired — and stop when a chunk became entirely free
 * (its page is returned, its VA back on pv_vafree) or the locked pmap got a free entry. Chunks are
 * visited once per call.
 */
export function pvReclaim(m: FreebsdModule, cpu: Cpu, locked: FreebsdPmap): VmPage | null {
  const pv = m.pv;
  const win = m.win;
  win.pin(cpu);
  let pmap: FreebsdPmap | null = null;
  let mPc: VmPage | null = null;
  const visit: PvChunk[] = [];
  for (let pc = pv.lruHead; pc !== null; pc = pc.lruNext) visit.push(pc);
  for (const pc of visit) {
    if (mPc !== null) break;
    if (pc.pmap === null || !pc.onLru) continue;
    const owner = pc.pmap as FreebsdPmap;
    if (owner !== pmap) {
      if (pmap !== null) {
        m.invalidateAll(cpu, pmap);
        if (pmap !== locked) pmap.lock.unlock("pmap_pv_reclaim");
      }
      pmap = owner;
      if (pmap !== locked && !pmap.lock.tryLock("pmap_pv_reclaim")) {
        pmap = null;
        pv.lruRemove(pc);
        pv.lruInsertTail(pc);
        continue;
      }
    }
    const freed = reclaimChunk(m, cpu, pmap, pc);
    pv.lruRemove(pc);
    if (freed === 0) {
      pv.lruInsertTail(pc);
      continue;
    }
    pmap.residentCount -= freed;
    pv.afterReclaim(pmap, pc, freed);
    if (pc.nfree !== m.L.npcpv) {
      pv.requeue(pmap, pc);
      if (pmap === locked) break;
      continue;
    }
    mPc = pv.releaseChunk(pc);
  }
  if (pmap !== null) {
    m.invalidateAll(cpu, pmap);
    if (pmap !== locked) pmap.lock.unlock("pmap_pv_reclaim");
  }
  win.unpin(cpu);
  m.kernel.trace.emit("pmap", "pv.reclaim", { pmap: locked.id, page: mPc === null ? -1 : mPc.pa });
  return mPc;
}

/** Destroy the non-wired 4 KiB mappings of one chunk; returns how many. */
function reclaimChunk(m: FreebsdModule, cpu: Cpu, pm: FreebsdPmap, pc: PvChunk): number {
  const pv = m.pv;
  const win = m.win;
  const mask = pv.freeMask;
  let freed = 0;
  for (let f = 0; f < pc.map.length; f++) {
    let inuse = ~(pc.map[f] as number) & (mask[f] as number);
    while (inuse !== 0) {
      const bit = 31 - Math.clz32(inuse & -inuse);
      inuse &= ~(1 << bit);
      const ent = pc.ents[f * 32 + bit] as PvEntry;
      const va = ent.va;
      const pdeEa = m.pdeVa(cpu, pm, va);
      if (pdeEa < 0) m.kernel.panic(`pmap_pv_reclaim: pmap ${pm.id} va ${hex(va)} without a page directory`);
      if ((win.load(cpu, pdeEa) & PG_PS) !== 0) continue;
      const ea = m.pteQuickVa(cpu, pm, va, pdeEa);
      const lo = win.load(cpu, ea);
      if ((lo & PG_W) !== 0) continue;
      if ((lo & PG_V) === 0) m.kernel.panic(`pmap_pv_reclaim: pmap ${pm.id} va ${hex(va)} zero pte`);
      const hi = win.loadHi(cpu, ea);
      win.zap(cpu, ea);
      if ((lo & PG_G) !== 0) m.invalidatePage(cpu, pm, va);
      const pg = m.pageOf(pteFrame(lo, hi), "pmap_pv_reclaim: unmanaged page");
      const md = m.md(pg);
      md.attrs |= lo & (PG_A | PG_M);
      PvChunks.unlink(md, ent);
      pv.freeBit(pc, ent);
      unusePt(m, cpu, pm, va, pdeEa);
      freed++;
    }
  }
  return freed;
}
