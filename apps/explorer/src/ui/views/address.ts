/**
 * The address space of a process: its map entries (range, protection / maximum, inheritance,
 * wiring, copy-on-write state) and what backs them — objects, shadow chains and sharing maps
 * (amaps for UVM) — drawn as a graph: entries on the left, each backing node in a column by its
 * distance from the entries, edges labelled (shadow offset, sharing-map range).
 */
import { type AddressSpaceView, addressSpace, processes } from "../../inspect/parts.js";
import { pidPicker, type ViewContext } from "../context.js";
import { bytes, h, hex, prot, svg } from "../dom.js";

const INHERIT = ["share", "copy", "none", "donate", "zero"];

export function renderAddressSpace(ctx: ViewContext): HTMLElement {
  const procs = processes(ctx.sys);
  const root = h("section", { class: "view", id: "view-address" });
  if (ctx.pid === undefined || !procs.some((p) => p.pid === ctx.pid)) {
    root.append(h("p", { class: "note" }, procs.length ? "choose a process" : "no process yet at this step"));
    if (procs.length)
      root.append(
        pidPicker(
          ctx,
          procs.map((p) => p.pid),
          "as-pid",
        ),
      );
    return root;
  }
  const as = addressSpace(ctx.sys, ctx.pid);
  root.append(
    h(
      "div",
      { class: "toolbar" },
      "process ",
      pidPicker(
        ctx,
        procs.map((p) => p.pid),
        "as-pid",
      ),
    ),
  );
  if (typeof as === "string") {
    root.append(h("p", { class: "note" }, as));
    return root;
  }
  if (as.note) root.append(h("p", { class: "note" }, as.note));
  root.append(entryTable(as));
  if (as.nodes.length > 0 || !as.note) root.append(h("h3", {}, "Backing objects and shadow chains"), graph(as));
  return root;
}

function entryTable(as: AddressSpaceView): HTMLElement {
  const label = new Map(as.nodes.map((n) => [n.id, n.label]));
  return h(
    "table",
    { class: "grid", id: "as-entries" },
    h(
      "tr",
      {},
      ["start", "end", "size", "prot/max", "inherit", "wired", "flags", "backing", "offset"].map((t) => h("th", {}, t)),
    ),
    as.entries.map((e) =>
      h(
        "tr",
        { class: e.system ? "system" : "" },
        h("td", { class: "mono" }, hex(e.start)),
        h("td", { class: "mono" }, hex(e.end)),
        h("td", {}, bytes(e.end - e.start)),
        h("td", { class: "mono" }, `${prot(e.prot)}/${prot(e.maxProt)}`),
        h("td", {}, INHERIT[e.inheritance] ?? String(e.inheritance)),
        h("td", {}, e.wired ? `${e.wired}${e.userWired ? " (mlock)" : ""}` : ""),
        h(
          "td",
          {},
          [e.copyOnWrite && "COW", e.needsCopy && "needs-copy", e.shared && "shared", e.system && "system (UPT)"]
            .filter(Boolean)
            .map((f) => h("span", { class: "badge" }, f as string)),
        ),
        h("td", {}, e.backing ? (label.get(e.backing) ?? e.backing) : (e.backingKind ?? "(none yet)")),
        h("td", { class: "mono" }, hex(e.offset)),
      ),
    ),
  );
}

const BOX_W = 230;
const BOX_H = 38;
const GAP_X = 70;
const GAP_Y = 12;

/** Entries in column 0; each node in the column of its longest distance from an entry. */
function graph(as: AddressSpaceView): SVGSVGElement {
  const col = new Map<string, number>();
  const out = new Map<string, string[]>();
  for (const e of as.edges) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const place = (id: string, c: number, seen: Set<string>) => {
    if (seen.has(id) || (col.get(id) ?? 0) >= c) return;
    col.set(id, c);
    seen.add(id);
    for (const t of out.get(id) ?? []) place(t, c + 1, seen);
    seen.delete(id);
  };
  for (const e of as.entries) if (e.backing) place(e.backing, 1, new Set());
  const rows: string[][] = [];
  for (const n of as.nodes) {
    const c = col.get(n.id) ?? 1;
    rows[c] ??= [];
    rows[c].push(n.id);
  }
  const pos = new Map<string, { x: number; y: number }>();
  as.entries.forEach((_e, i) => {
    pos.set(`entry:${i}`, { x: 0, y: i * (BOX_H + GAP_Y) });
  });
  for (let c = 0; c < rows.length; c++) {
    (rows[c] ?? []).forEach((id, i) => {
      pos.set(id, { x: c * (BOX_W + GAP_X), y: i * (BOX_H + GAP_Y) });
    });
  }
  let maxRows = as.entries.length;
  for (let c = 0; c < rows.length; c++) maxRows = Math.max(maxRows, rows[c]?.length ?? 0);
  const width = (rows.length || 2) * (BOX_W + GAP_X);
  const height = Math.max(1, maxRows) * (BOX_H + GAP_Y);
  const g = svg("svg", { width, height, class: "graph", id: "as-graph", viewBox: `0 0 ${width} ${height}` });
  const line = (a: { x: number; y: number }, b: { x: number; y: number }, label: string, cls: string) => {
    const x1 = a.x + BOX_W;
    const y1 = a.y + BOX_H / 2;
    const x2 = b.x;
    const y2 = b.y + BOX_H / 2;
    g.append(svg("path", { d: `M${x1},${y1} C${x1 + 40},${y1} ${x2 - 40},${y2} ${x2},${y2}`, class: cls }));
    if (label) g.append(svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, class: "edge-label" }, label));
  };
  as.entries.forEach((e, i) => {
    const p = pos.get(`entry:${i}`);
    const b = e.backing ? pos.get(e.backing) : undefined;
    if (p && b) line(p, b, "", e.needsCopy ? "edge needs-copy" : "edge");
  });
  for (const e of as.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (a && b) line(a, b, e.label, "edge shadow");
  }
  const box = (x: number, y: number, cls: string, title: string, sub: string) => {
    g.append(
      svg("rect", { x, y, width: BOX_W, height: BOX_H, rx: 4, class: `box ${cls}` }),
      svg("text", { x: x + 6, y: y + 15, class: "box-title" }, title),
      svg("text", { x: x + 6, y: y + 30, class: "box-sub" }, sub),
    );
  };
  as.entries.forEach((e, i) => {
    const p = pos.get(`entry:${i}`) as { x: number; y: number };
    box(
      p.x,
      p.y,
      e.system ? "entry system" : "entry",
      `${hex(e.start)}–${hex(e.end)}`,
      `${prot(e.prot)} ${bytes(e.end - e.start)}`,
    );
  });
  for (const n of as.nodes) {
    const p = pos.get(n.id);
    if (p) box(p.x, p.y, n.kind, n.label, n.detail);
  }
  return g;
}
