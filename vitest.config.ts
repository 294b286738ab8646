import { defineConfig } from "vitest/config";

// One Vitest run over every package's tests (projects mode). Each package keeps its own
// vitest.config.ts so `vitest run` inside a package (what turbo calls) finds it first.
export default defineConfig({
  test: { projects: ["packages/*", "apps/*"] },
});
