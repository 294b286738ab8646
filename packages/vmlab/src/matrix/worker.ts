/**
 * A matrix worker thread: receives suite tasks from the pool (pool.ts), runs each, and posts the
 * result back. Compiled to dist/matrix/worker.js and started only from there.
 */
import { parentPort } from "node:worker_threads";
import type { ResultMessage, TaskMessage } from "./pool.js";
import { runSuite } from "./suites.js";

parentPort?.on("message", (m: TaskMessage) => {
  parentPort?.postMessage({ index: m.index, result: runSuite(m.task) } satisfies ResultMessage);
});
