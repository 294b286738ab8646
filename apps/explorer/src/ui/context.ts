/** What every view receives: the recording, the position, the system replayed there, the selection. */
import type { System } from "vmlab";
import type { Recording, StepRecord } from "../model/session.js";

export type TabId = "address" | "pagetables" | "tlb" | "physmem" | "pv" | "trace" | "counters" | "compare";

export interface ViewContext {
  readonly rec: Recording;
  readonly position: number;
  /** The system replayed to `position`. */
  readonly sys: System;
  /** The step that led to `position` (undefined at 0, just after boot). */
  readonly step: StepRecord | undefined;
  readonly prevCounters: Readonly<Record<string, number>>;
  /** Selected process and physical frame. */
  readonly pid: number | undefined;
  readonly pa: number | undefined;
  selectPid(pid: number): void;
  selectFrame(pa: number): void;
  showTab(tab: TabId): void;
}

/** A process picker shared by the address-space and page-table views. */
export function pidPicker(ctx: ViewContext, pids: readonly number[], id: string): HTMLSelectElement {
  const sel = document.createElement("select");
  sel.id = id;
  for (const p of pids) {
    const o = document.createElement("option");
    o.value = String(p);
    o.textContent = `pid ${p}`;
    o.selected = p === ctx.pid;
    sel.append(o);
  }
  sel.addEventListener("change", () => ctx.selectPid(Number(sel.value)));
  return sel;
}
