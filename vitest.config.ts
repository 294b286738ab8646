import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// One Vitest run over every package's tests (projects mode). Each package keeps its own
// vitest.config.ts so `vitest run` inside a package (what turbo calls) finds it first.
// At least two test files at a time: on a 2-core machine Vitest's default (cores − 1) would run
// one, leaving a core idle through the long property and matrix files.
export default defineConfig({
  test: { projects: ["packages/*", "apps/*"], maxWorkers: Math.max(2, availableParallelism() - 1) },
});
