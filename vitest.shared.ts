import { defineProject } from "vitest/config";

// Workspace packages resolve to their TypeScript sources through the `@vmlab/source`
// export condition, so tests need no prior build of the packages they import.
const conditions = ["@vmlab/source"];
export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
});
