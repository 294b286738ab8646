/**
 * The physical memory map: one cell per RAM frame, coloured by role (see inspect/frames.ts for
 * how each role is established). Clicking a cell selects the frame for the pv-list view; the
 * selected frame's owner is named as the VM layer records it (object and index, anon and amaps).
 * Below, the VM layer's own tables: the FreeBSD VM's vm_phys free lists and active reservations,
 * UVM's page queues.
 */
import { frameMap, ROLE_INFO, ROLES } from "../../inspect/frames.js";
import { type PhysTable, pageOwner, physTables } from "../../inspect/parts.js";
import type { ViewContext } from "../context.js";
import { h, hex } from "../dom.js";

function physTable(t: PhysTable): HTMLElement {
  return h(
    "div",
    { class: "phys-table" },
    h("h4", {}, t.title),
    t.rows.length
      ? h(
          "table",
          { class: "grid", id: t.id },
          h(
            "tr",
            {},
            t.head.map((x) => h("th", {}, x)),
          ),
          t.rows.map((r) =>
            h(
              "tr",
              {},
              r.map((c) => h("td", {}, String(c))),
            ),
          ),
        )
      : h("p", { class: "note", id: t.id }, "none"),
  );
}

export function renderPhysMem(ctx: ViewContext): HTMLElement {
  const fm = frameMap(ctx.sys);
  const n = fm.pa.length;
  const cols = n <= 4096 ? 64 : 128;
  const cell = n <= 4096 ? 9 : n <= 16384 ? 6 : 3;
  const rows = Math.ceil(n / cols);
  const canvas = h("canvas", { id: "physmem-canvas", width: cols * cell, height: rows * cell });
  const g = canvas.getContext("2d");
  if (g) {
    for (let i = 0; i < n; i++) {
      const r = ROLES[fm.role[i] as number] ?? "unknown";
      g.fillStyle = ROLE_INFO[r].color;
      g.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - 1, cell - 1);
    }
    if (ctx.pa !== undefined) {
      const i = fm.pa.indexOf(ctx.pa);
      if (i >= 0) {
        g.strokeStyle = "#000";
        g.lineWidth = 2;
        g.strokeRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - 1, cell - 1);
      }
    }
  }
  canvas.addEventListener("click", (ev) => {
    const rect = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - rect.top) / cell) * cols + Math.floor((ev.clientX - rect.left) / cell);
    const pa = fm.pa[i];
    if (pa !== undefined) ctx.selectFrame(pa);
  });
  const sel = ctx.pa === undefined ? -1 : fm.pa.indexOf(ctx.pa);
  const legend = h(
    "ul",
    { class: "legend", id: "physmem-legend" },
    ROLES.map((r) =>
      h(
        "li",
        { "data-role": r, "data-count": fm.counts[r] },
        h("span", { class: "swatch", style: `background:${ROLE_INFO[r].color}` }),
        `${ROLE_INFO[r].text}: ${fm.counts[r]}`,
      ),
    ),
  );
  return h(
    "section",
    { class: "view", id: "view-physmem" },
    h("p", {}, `${n} frames of 4 KiB, ${cols} per row, lowest address first (frame 0 at the top left).`),
    h("div", { class: "physmem" }, canvas, legend),
    sel >= 0
      ? h(
          "p",
          { id: "physmem-selected" },
          `selected frame ${hex(ctx.pa)}: ${ROLE_INFO[ROLES[fm.role[sel] as number] ?? "unknown"].text}`,
          ctx.pa !== undefined && pageOwner(ctx.sys, ctx.pa) ? ` — ${pageOwner(ctx.sys, ctx.pa)}` : "",
        )
      : h("p", { class: "note" }, "click a frame to select it (its pv list is in the pv tab)"),
    fm.notes.map((t) => h("p", { class: "note" }, t)),
    physTables(ctx.sys).map(physTable),
  );
}
