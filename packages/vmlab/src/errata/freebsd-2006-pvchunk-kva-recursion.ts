/**
 * Erratum freebsd-2006-pvchunk-kva-recursion (seed 003: Peter Wemm's "Interim fix for pmap
 * problems I introduced with my last commit", sys/i386/i386/pmap.c 1.553, 28 April 2006).
 *
 * The first i386 pv-chunk pmap took each chunk page's KVA from kernel_map (kmem_alloc_nofault)
 * inside get_pv_entry and gave it back (kmem_free) inside free_pv_entry, with the pmap lock and
 * the page-queues (pv) lock held. kernel_map's lock was thus taken after the pmap's — the reverse
 * of kmem_malloc / pmap_pinit, which enter pages into the kernel pmap under kernel_map — and
 * kmem_free's vm_map_delete calls pmap_remove on the kernel pmap, re-entering the pmap whose locks
 * the caller holds: WITNESS reports the reversal, INVARIANTS panics on the recursion. The fix
 * went back to one fixed KVA reservation (later with a free list threaded through its PTEs).
 * The mechanism lives in @vmlab/pmap-freebsd (pv-chunk.ts pvChunkKvaAlloc/Free, module.ts
 * kmemAllocNofault / kmemFreeKva).
 */
import { InvariantViolation, MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import type { Combination } from "../registry.js";
import { type ScenarioContext, type ScenarioOutcome, step } from "../scenario.js";
import { registerErratum } from "./catalogue.js";

export const PVCHUNK_KVA_RECURSION = "freebsd-2006-pvchunk-kva-recursion";

/** The witness reversals seen so far, as "1st -> 2nd" lock names. */
function reversals(ctx: ScenarioContext): string[] {
  return ctx.sys
    .trace({ layer: "witness", name: "reversal" })
    .map((t) => `lock order reversal: 1st ${String(t.fields.first)} 2nd ${String(t.fields.second)}`);
}

function recordWitness(ctx: ScenarioContext): void {
  for (const r of reversals(ctx)) if (!ctx.evidence.includes(r)) ctx.evidence.push(r);
}

/** Kernel work on CPU 0 (as the bench's kmem workload does it). */
function onCpu0<T>(ctx: ScenarioContext, fn: () => T): T {
  const cpu = ctx.sys.machine.cpus[0] as (typeof ctx.sys.machine.cpus)[number];
  return ctx.sys.machine.runOn(cpu, fn);
}

export function appliesPvchunkKva(c: Combination): { applies: boolean; why: string } {
  if (c.pmap !== "freebsd") {
    return {
      applies: false,
      why:
        c.pmap === "mach"
          ? "the Mach pmap keeps pv entries in pv_table and pv pages mapped with pmap_kenter; it never calls into kernel_map from its pv code"
          : "the Cranor pmap's pv pages are mapped with pmap_kenter_pa at KVA it holds; it never calls into kernel_map from its pv code",
    };
  }
  if (c.machine === "amd64") {
    return {
      applies: false,
      why: "amd64 reaches pv chunk pages through the direct map (PHYS_TO_DMAP): no KVA, no kernel_map call (the seed's footnote)",
    };
  }
  return {
    applies: true,
    why: `i386 maps pv chunk pages at KVA; the 2006 pmap took it from kernel_map under the pmap lock (any VM layer: the kernel_map side is the pmap's own model of kmem_alloc_nofault / kmem_free)`,
  };
}

registerErratum({
  id: PVCHUNK_KVA_RECURSION,
  seed: "003_8138978f5fa6fb30.txt",
  title: "i386 pv chunks take KVA from kernel_map under the pmap lock: lock order reversal and recursion panic",
  caughtBy: ["model: every call and access"],
  applies: appliesPvchunkKva,
  reproduced(o: ScenarioOutcome): boolean {
    const recursion =
      o.panic !== undefined &&
      (o.panic.includes("recursed on non-recursive mutex") || o.panic.includes("recursing but non-recursive rw"));
    return recursion && o.evidence.some((e) => e.startsWith("lock order reversal"));
  },
  reproducer: {
    name: PVCHUNK_KVA_RECURSION,
    description:
      "A kernel allocation gives the kernel pmap its first pv chunk (its KVA from kernel_map with the pmap lock held); " +
      "a new process's pmap_pinit then enters its page directory under kernel_map (the other order: WITNESS); " +
      "the process touches pages (a chunk of its own) and exits: the chunk's last pv entry is freed, kmem_free " +
      "of its KVA runs vm_map_delete → pmap_remove(kernel_pmap) inside the pmap.",
    options: { memoryMiB: 32, cpus: 1 },
    steps: [
      step("kmem_malloc 2 pages on CPU 0 (kernel pmap_enter → get_pv_entry → a new chunk)", (ctx) => {
        const va = onCpu0(ctx, () => ctx.sys.vm.kmemAlloc(2 * PAGE_SIZE));
        if (va === 0) throw new Error("kmem_alloc failed");
        ctx.vars.set("kva", va);
        recordWitness(ctx);
      }),
      step("spawn a process (pmap_pinit: kmem_alloc of the page directory under kernel_map)", (ctx) => {
        ctx.procs.set("p", ctx.sys.spawn());
        recordWitness(ctx);
      }),
      step("mmap 8 anonymous pages", (ctx) => {
        const va = ctx.proc("p").mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
        ctx.vars.set("va", va);
      }),
      step("touch the 8 pages (the process's pmap gets a pv chunk)", (ctx) => {
        const p = ctx.proc("p");
        for (let i = 0; i < 8; i++) p.store32(ctx.num("va") + i * PAGE_SIZE, 0x5eed0000 + i);
        recordWitness(ctx);
      }),
      step("exit (pmap_remove frees the last pv entry of the chunk: free_pv_entry → kmem_free)", (ctx) => {
        ctx.proc("p").exit(0);
        ctx.procs.delete("p");
      }),
      step("kmem_free the 2 kernel pages", (ctx) => {
        onCpu0(ctx, () => ctx.sys.vm.kmemFree(ctx.num("kva"), 2 * PAGE_SIZE));
      }),
      step("audit (the pmap, the VM, the machine and WITNESS)", (ctx) => {
        try {
          ctx.sys.audit();
        } catch (e) {
          if (e instanceof InvariantViolation && e.layer === "witness") recordWitness(ctx);
          throw e;
        }
      }),
    ],
  },
});
