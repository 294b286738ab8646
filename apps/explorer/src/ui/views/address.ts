/**
 * The address space of a process: its map entries (range, protection / maximum, inheritance,
 * wiring, copy-on-write state) and what backs them — Mach objects, shadow chains and sharing maps;
 * UVM amaps over uvm_objects; FreeBSD objects and their backing chains — drawn as a graph:
 * entries on the left, each backing node in a column by its distance from the entries, edges
 * labelled (shadow / backing offset, sharing-map range). Below the graph, each node as the VM
 * keeps it: its fields, its pages (amap slots with their anons, object pages with their frames
 * and swap slots) and, for the FreeBSD VM, its superpage reservations.
 */
import type { AddressSpaceView, BackingNode, EntryView, PageSlot, ReservationView } from "../../inspect/parts.js";
import { addressSpace, processes } from "../../inspect/parts.js";
import { pidPicker, type ViewContext } from "../context.js";
import { bytes, h, hex, prot, svg } from "../dom.js";

const INHERIT = ["share", "copy", "none", "donate", "zero"];
/** Rows of a node's page table shown before "… more" (a 2 MiB region has 512). */
const MAX_PAGE_ROWS = 600;

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
  if (as.nodes.length > 0 || !as.note) {
    const amaps = as.nodes.some((n) => n.kind === "amap");
    root.append(
      h("h3", {}, amaps ? "Amaps and uvm_objects" : "Backing objects and shadow chains"),
      graph(as),
      h("h3", {}, amaps ? "Amap slots, anons and object pages" : "Objects and their pages"),
      h(
        "div",
        { id: "as-nodes" },
        as.nodes.map((n) => nodeDetail(ctx, n)),
      ),
    );
  }
  return root;
}

function wiring(e: EntryView): string {
  const parts: string[] = [];
  if (e.wired) parts.push(`${e.wired}${e.userWired ? " (mlock)" : ""}`);
  else if (e.userWired) parts.push("mlock");
  if (e.transient) parts.push(`vslock ${e.transient} pages`);
  return parts.join(", ");
}

function entryTable(as: AddressSpaceView): HTMLElement {
  const label = new Map(as.nodes.map((n) => [n.id, n.label]));
  const name = (id: string) => label.get(id) ?? id;
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
        h("td", {}, wiring(e)),
        h(
          "td",
          {},
          [e.copyOnWrite && "COW", e.needsCopy && "needs-copy", e.shared && "shared", e.system && "system (UPT)"]
            .filter(Boolean)
            .map((f) => h("span", { class: "badge" }, f as string)),
        ),
        h(
          "td",
          {},
          e.backing ? name(e.backing) : (e.backingKind ?? "(none yet)"),
          e.object ? ` over ${name(e.object)}` : "",
        ),
        h("td", { class: "mono" }, e.amapSlot !== undefined ? `slot ${e.amapSlot}, ${hex(e.offset)}` : hex(e.offset)),
      ),
    ),
  );
}

/** A frame address that selects the frame (its pv list) when clicked. */
function frameLink(ctx: ViewContext, pa: number | undefined): HTMLElement | string {
  if (pa === undefined) return "";
  return h(
    "a",
    {
      href: "#",
      class: "mono frame",
      onclick: (ev: Event) => {
        ev.preventDefault();
        ctx.selectFrame(pa);
      },
    },
    hex(pa),
  );
}

function pageRows(ctx: ViewContext, n: BackingNode, pages: readonly PageSlot[]): HTMLElement {
  const amap = n.kind === "amap";
  const ppref = pages.some((p) => p.ppref !== undefined);
  const loans = pages.some((p) => p.loanCount !== undefined);
  const head = [
    amap ? "slot" : "page",
    ...(amap ? ["anon", "an_ref", "in amaps"] : []),
    ...(ppref ? ["ppref"] : []),
    "frame",
    "swap slot",
    "wire_count",
    ...(loans ? ["loan_count"] : []),
  ];
  const shown = pages.slice(0, MAX_PAGE_ROWS);
  return h(
    "table",
    { class: `grid pages ${n.kind}-pages` },
    h(
      "tr",
      {},
      head.map((t) => h("th", {}, t)),
    ),
    shown.map((p) =>
      h(
        "tr",
        {
          "data-index": p.index,
          ...(p.anon ? { "data-anon": p.anon.id, "data-anon-ref": p.anon.ref } : {}),
          ...(p.pa !== undefined ? { "data-pa": p.pa } : {}),
        },
        h("td", { class: "mono" }, String(p.index)),
        amap
          ? [
              h("td", {}, p.anon ? `anon ${p.anon.id}` : ""),
              h("td", {}, p.anon ? String(p.anon.ref) : ""),
              h("td", {}, p.anon ? p.anon.amaps.map((a) => `amap ${a}`).join(", ") : ""),
            ]
          : null,
        ppref ? h("td", {}, p.ppref === undefined ? "" : String(p.ppref)) : null,
        h("td", {}, frameLink(ctx, p.pa)),
        h("td", { class: "mono" }, p.swap === undefined ? "" : String(p.swap)),
        h("td", {}, p.wireCount ? String(p.wireCount) : ""),
        loans ? h("td", {}, p.loanCount ? String(p.loanCount) : "") : null,
      ),
    ),
    pages.length > shown.length
      ? h("tr", {}, h("td", { colspan: head.length, class: "note" }, `… ${pages.length - shown.length} more`))
      : null,
  );
}

function reservationRows(ctx: ViewContext, rvs: readonly ReservationView[]): HTMLElement {
  return h(
    "table",
    { class: "grid reservations" },
    h(
      "tr",
      {},
      ["base frame", "first pindex", "populated", "partpopq", "promoted"].map((t) => h("th", {}, t)),
    ),
    rvs.map((r) =>
      h(
        "tr",
        { "data-base": r.base, "data-popcnt": r.popcnt, "data-promoted": r.promoted.length > 0 ? "1" : "0" },
        h("td", {}, frameLink(ctx, r.base)),
        h("td", { class: "mono" }, String(r.pindex)),
        h("td", {}, `${r.popcnt}/${r.npages}`),
        h("td", {}, r.partpop ? "yes" : "no"),
        h(
          "td",
          {},
          r.promoted.length
            ? r.promoted.map((x) => `pid ${x.pid} (pmap ${x.pmapId}) at ${hex(x.va)}`).join(", ")
            : r.popcnt === r.npages
              ? "full, not mapped as a superpage"
              : "no",
        ),
      ),
    ),
  );
}

/** One node as the VM keeps it: fields, who maps it, its reservations and its pages. */
function nodeDetail(ctx: ViewContext, n: BackingNode): HTMLElement {
  return h(
    "div",
    { class: `node-detail ${n.kind}`, "data-node": n.id, "data-kind": n.kind },
    h(
      "h4",
      {},
      n.label,
      n.mappedBy?.length
        ? h("span", { class: "note" }, ` — mapped by ${n.mappedBy.map((p) => `pid ${p}`).join(", ")}`)
        : null,
    ),
    n.fields?.length
      ? h(
          "dl",
          { class: "fields" },
          n.fields.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, String(v)))),
        )
      : null,
    n.reservations?.length
      ? [h("h5", {}, `superpage reservations (${n.reservations.length})`), reservationRows(ctx, n.reservations)]
      : null,
    n.pages?.length ? pageRows(ctx, n, n.pages) : n.pages ? h("p", { class: "note" }, "no pages") : null,
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
  for (const e of as.entries) {
    if (e.backing) place(e.backing, 1, new Set());
    if (e.object) place(e.object, 1, new Set());
  }
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
    const o = e.object ? pos.get(e.object) : undefined;
    if (p && o) line(p, o, "", "edge uobj");
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
