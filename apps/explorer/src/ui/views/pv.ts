/**
 * The pv list of the selected page as the pmap keeps it (pmap_enter adds an entry per managed
 * mapping, pmap_remove takes it away), beside the mappings of the frame actually found in every
 * pmap's page tables. pv ↔ PTE is the pmap's first invariant: a difference is marked.
 */
import { PageTableReader } from "../../inspect/pagetable.js";
import { pageOwner, pmaps, pvList } from "../../inspect/parts.js";
import type { ViewContext } from "../context.js";
import { h, hex } from "../dom.js";

export function renderPv(ctx: ViewContext): HTMLElement {
  const root = h("section", { class: "view", id: "view-pv" });
  if (ctx.pa === undefined) {
    root.append(
      h("p", { class: "note" }, "select a frame: click one in the physical memory map, a page table or a TLB entry"),
    );
    return root;
  }
  const pg = ctx.sys.vm.pageOf(ctx.pa);
  root.append(
    h("h3", {}, `frame ${hex(ctx.pa)}`),
    h(
      "p",
      {},
      pg
        ? `managed page ${pg.index}, wire count ${pg.wireCount}`
        : "not a managed page (stolen at bootstrap or outside the VM's page array): no pv list",
    ),
  );
  const owner = pageOwner(ctx.sys, ctx.pa);
  if (owner) root.append(h("p", { id: "pv-owner" }, `owner: ${owner}`));
  if (!pg) return root;
  const list = pvList(ctx.sys, ctx.pa);
  const all = pmaps(ctx.sys);
  const pidOf = new Map(all.map((p) => [p.id, p.pid]));
  const who = (id: number) => {
    const pid = pidOf.get(id);
    return pid !== undefined
      ? `pmap ${id} (pid ${pid})`
      : `pmap ${id}${all.find((p) => p.id === id)?.kernel ? " (kernel)" : ""}`;
  };
  // Mappings of the frame in the page tables.
  const reader = new PageTableReader(ctx.sys.machine, ctx.sys.layout);
  const found: { pmapId: number; va: number; managed: boolean; superpage: boolean }[] = [];
  for (const p of all) {
    reader.walk(p.cr3, {
      leaf: (va, frame, size, _u, _w, e) => {
        if (ctx.pa !== undefined && ctx.pa >= frame && ctx.pa < frame + size)
          found.push({
            pmapId: p.id,
            // A superpage's pv entry (FreeBSD pa_to_pvh) names the superpage's base address.
            va: size > 4096 ? va : va + (ctx.pa - frame),
            managed: (e.lo & 0x400) !== 0,
            superpage: size > 4096,
          });
      },
    });
  }
  const key = (id: number, va: number) => `${id}:${va}`;
  const inTables = new Set(found.map((f) => key(f.pmapId, f.va)));
  if (list === undefined) {
    root.append(h("p", { class: "note" }, `no pv inspector for the '${ctx.sys.config.pmap}' pmap`));
  } else {
    const inPv = new Set(list.map((e) => key(e.pmapId, e.va)));
    root.append(
      h("h4", {}, `pv list (${list.length} entries, newest first)`),
      h(
        "table",
        { class: "grid", id: "pv-list" },
        h(
          "tr",
          {},
          ["pmap", "va", "pv_ptp", "PTE in the tables?"].map((x) => h("th", {}, x)),
        ),
        list.map((e) =>
          h(
            "tr",
            { class: inTables.has(key(e.pmapId, e.va)) ? "" : "stale" },
            h("td", {}, who(e.pmapId)),
            h("td", { class: "mono" }, hex(e.va)),
            h("td", { class: "mono" }, e.superpage ? "superpage (pa_to_pvh)" : e.ptp === undefined ? "" : hex(e.ptp)),
            h("td", {}, inTables.has(key(e.pmapId, e.va)) ? "yes" : "MISSING"),
          ),
        ),
      ),
    );
    const orphans = found.filter((f) => f.managed && !inPv.has(key(f.pmapId, f.va)));
    if (orphans.length)
      root.append(
        h(
          "p",
          { class: "stale" },
          `managed PTEs with no pv entry: ${orphans.map((o) => `${who(o.pmapId)} ${hex(o.va)}`).join(", ")}`,
        ),
      );
  }
  root.append(
    h("h4", {}, `mappings of the frame found in the page tables (${found.length})`),
    h(
      "table",
      { class: "grid", id: "pv-found" },
      h(
        "tr",
        {},
        ["pmap", "va", "kind"].map((x) => h("th", {}, x)),
      ),
      found.map((f) =>
        h(
          "tr",
          {},
          h("td", {}, who(f.pmapId)),
          h("td", { class: "mono" }, hex(f.va)),
          h("td", {}, f.managed ? "managed (PVLIST)" : "unmanaged (kenter / direct)"),
        ),
      ),
    ),
  );
  return root;
}
