/**
 * Each CPU's TLB: CR3, the process running there, and every cached translation with its cached
 * rights — checked against the page tables, so an entry the tables no longer justify (a missed
 * INVLPG or shootdown) is marked stale with the reason.
 */
import { tlbs } from "../../inspect/tlb.js";
import type { ViewContext } from "../context.js";
import { bytes, h, hex } from "../dom.js";

export function renderTlb(ctx: ViewContext): HTMLElement {
  const root = h("section", { class: "view", id: "view-tlb" });
  for (const t of tlbs(ctx.sys)) {
    const stale = t.entries.filter((e) => e.stale && !e.deferred).length;
    const deferred = t.entries.filter((e) => e.deferred).length;
    root.append(
      h(
        "h3",
        {},
        `CPU ${t.cpu} — CR3 ${hex(t.cr3)}`,
        t.pmapId !== undefined ? ` (pmap ${t.pmapId}${t.pid !== undefined ? `, pid ${t.pid}` : ", kernel"})` : "",
        ` — ${t.entries.length} entries`,
        stale ? h("span", { class: "badge stale" }, `${stale} stale`) : null,
        deferred ? h("span", { class: "badge" }, `${deferred} APTmap entries awaiting the next window switch`) : null,
      ),
      h(
        "table",
        { class: "grid tlb", "data-cpu": t.cpu },
        h(
          "tr",
          {},
          ["VA", "PA", "size", "W", "U", "XD", "D", "G", "agrees with the tables?"].map((x) => h("th", {}, x)),
        ),
        t.entries.map((e) =>
          h(
            "tr",
            { class: e.stale ? (e.deferred ? "deferred" : "stale") : "" },
            h("td", { class: "mono" }, hex(e.va)),
            h(
              "td",
              { class: "mono" },
              h(
                "a",
                {
                  href: "#",
                  onclick: (ev: Event) => {
                    ev.preventDefault();
                    ctx.selectFrame(e.pa);
                  },
                },
                hex(e.pa),
              ),
            ),
            h("td", {}, bytes(e.size)),
            [e.writable, e.user, e.noExec, e.dirty, e.global].map((b) => h("td", {}, b ? "●" : "")),
            h(
              "td",
              {},
              e.stale
                ? e.deferred
                  ? `stale, alternate window (flushed at its next switch): ${e.stale}`
                  : `STALE: ${e.stale}`
                : "yes",
            ),
          ),
        ),
      ),
    );
  }
  return root;
}
