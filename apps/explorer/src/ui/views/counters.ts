/** The counters after the current step, with what the step changed. */
import type { ViewContext } from "../context.js";
import { h } from "../dom.js";

export function renderCounters(ctx: ViewContext): HTMLElement {
  const now = ctx.step ? ctx.step.counters : ctx.rec.bootCounters;
  const changedOnly = h("input", { type: "checkbox", id: "counters-changed" });
  const table = h("table", { class: "grid", id: "counters-table" });
  const fill = () => {
    table.replaceChildren(
      h(
        "tr",
        {},
        ["counter", "value", "Δ this step"].map((x) => h("th", {}, x)),
      ),
    );
    for (const [k, v] of Object.entries(now)) {
      const d = v - (ctx.prevCounters[k] ?? 0);
      if (changedOnly.checked && d === 0) continue;
      table.append(
        h(
          "tr",
          { class: d !== 0 ? "changed" : "" },
          h("td", { class: "mono" }, k),
          h("td", {}, String(v)),
          h("td", {}, d ? (d > 0 ? `+${d}` : String(d)) : ""),
        ),
      );
    }
  };
  changedOnly.addEventListener("change", fill);
  fill();
  return h(
    "section",
    { class: "view", id: "view-counters" },
    h("label", {}, changedOnly, " changed by this step only"),
    table,
  );
}
