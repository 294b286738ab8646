/**
 * The trace timeline of the current step: every event the step emitted, in order, with the
 * simulated cycle count and CPU; an interrupt's events are nested inside the code it interrupted.
 */
import { nestTrace, type TraceNode } from "../../model/trace.js";
import type { ViewContext } from "../context.js";
import { h } from "../dom.js";

export function renderTrace(ctx: ViewContext): HTMLElement {
  const events = ctx.step ? ctx.step.events : ctx.rec.bootEvents;
  const root = h("section", { class: "view", id: "view-trace" });
  root.append(
    h(
      "p",
      {},
      ctx.step ? `step ${ctx.position}: ${ctx.step.label} — ${events.length} events` : `boot — ${events.length} events`,
      ctx.step?.eventsDropped ? ` (${ctx.step.eventsDropped} earlier events of this step not kept)` : "",
    ),
  );
  const list = h("ol", { class: "trace", id: "trace-list" });
  const add = (parent: HTMLElement, n: TraceNode) => {
    const e = n.event;
    const fields = Object.entries(e.fields)
      .map(([k, v]) => `${k}=${typeof v === "number" && Number.isInteger(v) && v >= 4096 ? `0x${v.toString(16)}` : v}`)
      .join(" ");
    const li = h(
      "li",
      { class: `ev layer-${e.layer} ${e.name === "panic" ? "panic" : ""}`, "data-depth": e.depth },
      h("span", { class: "ev-cycles mono" }, String(e.cycles)),
      h("span", { class: "ev-cpu" }, `cpu${e.cpu}`),
      e.depth > 0 ? h("span", { class: "badge irq" }, `interrupt depth ${e.depth}`) : null,
      h("span", { class: "ev-name" }, `${e.layer}.${e.name}`),
      h("span", { class: "ev-fields mono" }, fields),
    );
    parent.append(li);
    if (n.children.length) {
      const sub = h("ol", { class: "trace nested" });
      for (const c of n.children) add(sub, c);
      li.append(sub);
    }
  };
  for (const n of nestTrace(events)) add(list, n);
  root.append(list);
  return root;
}
