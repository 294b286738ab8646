/**
 * The trace as a timeline: events in order, each interrupt nested inside the code it interrupted.
 * The trace records the interrupt depth of every event; an event at depth d > 0 belongs to the
 * handler entered after the last event at depth d - 1 on the same CPU.
 */
import type { TraceEvent } from "vmlab";

export interface TraceNode {
  readonly event: TraceEvent;
  readonly children: TraceNode[];
}

/** Nest events by interrupt depth, per CPU, keeping the global order of the roots. */
export function nestTrace(events: readonly TraceEvent[]): TraceNode[] {
  const roots: TraceNode[] = [];
  const stacks = new Map<number, TraceNode[]>();
  for (const ev of events) {
    const node: TraceNode = { event: ev, children: [] };
    let stack = stacks.get(ev.cpu);
    if (!stack) {
      stack = [];
      stacks.set(ev.cpu, stack);
    }
    stack.length = Math.min(stack.length, ev.depth);
    const parent = ev.depth > 0 ? stack[ev.depth - 1] : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
    stack[ev.depth] = node;
  }
  return roots;
}
