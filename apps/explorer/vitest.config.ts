import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

// The explorer's tests: the model (snapshots, page-table walk, frame roles, scenarios) in Node,
// and the browser test (vite build + preview, playwright-core driving the system's Chromium).
export default mergeConfig(
  shared,
  defineProject({
    test: { name: "explorer", include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 },
  }),
);
