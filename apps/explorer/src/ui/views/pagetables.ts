/**
 * The page-table tree of a process, read from simulated physical memory from its pmap's CR3:
 * one table per level, present entries only, each with its index, the linear range it covers,
 * the frame it names, its flag badges (hardware bits and the pmap's software bits), large pages,
 * and the kernel's recursive (PTmap) and alternate (APTmap) windows and the direct map marked —
 * those are not descended into, since what they map are the page tables themselves.
 */
import { PG_A, PG_G, PG_M, PG_NX_HI, PG_PCD, PG_PS, PG_PWT, PG_RW, PG_U } from "@vmlab/machine";
import { PageTableReader, type PtEntry } from "../../inspect/pagetable.js";
import { processes, softwareBits } from "../../inspect/parts.js";
import { pidPicker, type ViewContext } from "../context.js";
import { bytes, h, hex } from "../dom.js";

const WINDOW_TEXT = {
  recursive: "recursive window (PTmap)",
  alternate: "alternate window (APTmap)",
  dmap: "direct map",
};

export function renderPageTables(ctx: ViewContext): HTMLElement {
  const root = h("section", { class: "view", id: "view-pagetables" });
  const procs = processes(ctx.sys);
  const p = procs.find((x) => x.pid === ctx.pid);
  if (!p) {
    root.append(h("p", { class: "note" }, procs.length ? "choose a process" : "no process yet at this step"));
    if (procs.length)
      root.append(
        pidPicker(
          ctx,
          procs.map((x) => x.pid),
          "pt-pid",
        ),
      );
    return root;
  }
  root.append(
    h(
      "div",
      { class: "toolbar" },
      "process ",
      pidPicker(
        ctx,
        procs.map((x) => x.pid),
        "pt-pid",
      ),
      ` CR3 ${hex(p.cr3)}`,
    ),
  );
  if (p.cr3 === undefined) {
    root.append(
      h(
        "p",
        { class: "note" },
        p.state !== "running"
          ? `pid ${p.pid} has exited: its pmap is released`
          : `the '${ctx.sys.config.pmap}' pmap does not expose its CR3`,
      ),
    );
    return root;
  }
  const reader = new PageTableReader(ctx.sys.machine, ctx.sys.layout);
  const soft = softwareBits(ctx.sys.config.pmap);
  const nx = ctx.sys.machine.format.hasNx;
  const badges = (e: PtEntry) => {
    const b: [boolean, string][] = [
      [(e.lo & PG_RW) !== 0, "RW"],
      [(e.lo & PG_U) !== 0, "U"],
      [(e.lo & PG_PWT) !== 0, "PWT"],
      [(e.lo & PG_PCD) !== 0, "PCD"],
      [(e.lo & PG_A) !== 0, "A"],
      [(e.lo & PG_M) !== 0 && e.kind !== "table", "D"],
      [(e.lo & PG_PS) !== 0 && e.kind === "large", "PS"],
      [(e.lo & PG_G) !== 0 && e.kind !== "table", "G"],
      [nx && (e.hi & PG_NX_HI) !== 0, "NX"],
    ];
    for (const [bit, name] of Object.entries(soft)) b.push([(e.lo & Number(bit)) !== 0, name]);
    return b.filter(([on]) => on).map(([, name]) => h("span", { class: `badge flag-${name}` }, name));
  };
  const table = (pa: number, depth: number, va: number): HTMLElement => {
    const t = reader.table(pa, depth, va);
    const list = h("ul", { class: "pt-level" });
    for (const e of t.entries) {
      const head = h(
        "span",
        { class: "pt-entry" },
        h("span", { class: "pt-name" }, `${t.name}[${e.index}]`),
        h("span", { class: "mono" }, ` ${hex(e.va)}+${bytes(e.span)} → `),
        h(
          "a",
          {
            href: "#",
            class: "mono frame",
            onclick: (ev: Event) => {
              ev.preventDefault();
              ctx.selectFrame(e.frame);
            },
          },
          hex(e.frame),
        ),
        " ",
        h("span", { class: `kind kind-${e.kind}` }, e.kind === "large" ? `large page (${bytes(e.span)})` : e.kind),
        " ",
        badges(e),
        e.window ? h("span", { class: `badge window window-${e.window}` }, WINDOW_TEXT[e.window]) : null,
      );
      if (e.kind === "table" && e.window === undefined) {
        const d = h("details", { "data-va": hex(e.va) }, h("summary", {}, head));
        d.addEventListener(
          "toggle",
          () => {
            if (d.open && d.childElementCount === 1) d.append(table(e.frame, depth + 1, e.va));
          },
          { once: false },
        );
        list.append(h("li", {}, d));
      } else list.append(h("li", { class: "leaf" }, head));
    }
    return h(
      "div",
      { class: "pt-table" },
      h("div", { class: "pt-caption" }, `${t.name} table at ${hex(pa)}: ${t.entries.length} of ${t.size} present`),
      list,
    );
  };
  root.append(h("div", { id: "pt-tree" }, table(reader.root(p.cr3), 0, 0)));
  // Open the path to the first user mapping so the tree shows a full walk at once.
  const first = root.querySelector("details");
  openUserPath(root, ctx.sys.layout.userMax);
  if (!first) root.append(h("p", { class: "note" }, "no tables below the top level"));
  return root;
}

/** Open every table entry on the way to user addresses (below VM_MAXUSER_ADDRESS). */
function openUserPath(root: HTMLElement, userMax: number): void {
  for (let depth = 0; depth < 4; depth++) {
    for (const d of root.querySelectorAll<HTMLDetailsElement>("details:not([open])")) {
      const va = Number(d.dataset.va);
      if (va < userMax) {
        d.open = true;
        d.dispatchEvent(new Event("toggle"));
      }
    }
  }
}
