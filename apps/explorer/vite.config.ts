import { defaultClientConditions, defineConfig } from "vite";

// The workspace packages resolve to their TypeScript sources through the `@vmlab/source` export
// condition (as in vitest.shared.ts), so the app bundles the simulator's sources with no prior
// build of the packages. Vite's defaults are kept after it.
export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  resolve: { conditions: ["@vmlab/source", ...defaultClientConditions] },
  build: { outDir: "dist", target: "es2022", emptyOutDir: true, chunkSizeWarningLimit: 2048 },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
