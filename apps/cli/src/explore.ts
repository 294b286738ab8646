/**
 * `vmlab explore`: build the explorer web app (apps/explorer) with vite's build() API and serve
 * the result with preview(), printing the URL. The simulation runs in the browser page; this
 * command only builds and serves static files.
 *
 * Vite is the explorer's own dependency: it is resolved from the explorer's directory, so the
 * rest of the command line never loads it.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Vite from "vite";

/** apps/explorer, from apps/cli/src (tests, tsx) or apps/cli/dist (the built command). */
export const EXPLORER_ROOT = fileURLToPath(new URL("../../explorer/", import.meta.url));

export interface ExploreOptions {
  /** Port to serve on (0: any free port). */
  port: number;
  host: string;
  /** Where the built app goes (default: apps/explorer/dist). */
  outDir?: string;
  /** Skip the build and serve what outDir holds. */
  build?: boolean;
}

export interface ExploreServer {
  readonly url: string;
  close(): Promise<void>;
}

async function loadVite(): Promise<typeof Vite> {
  const req = createRequire(path.join(EXPLORER_ROOT, "package.json"));
  return (await import(pathToFileURL(req.resolve("vite")).href)) as typeof Vite;
}

/** Build the explorer and serve it; resolves once the server listens. */
export async function startExplorer(o: ExploreOptions): Promise<ExploreServer> {
  const vite = await loadVite();
  const root = EXPLORER_ROOT;
  const configFile = path.join(root, "vite.config.ts");
  const outDir = o.outDir ?? path.join(root, "dist");
  if (o.build !== false) {
    await vite.build({ root, configFile, logLevel: "warn", build: { outDir, emptyOutDir: true } });
  }
  const server = await vite.preview({
    root,
    configFile,
    logLevel: "warn",
    build: { outDir },
    preview: { port: o.port, host: o.host, strictPort: o.port !== 0, open: false },
  });
  const url = server.resolvedUrls?.local[0] ?? server.resolvedUrls?.network[0];
  if (!url) {
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    throw new Error("vmlab explore: the preview server reported no URL");
  }
  return {
    url,
    close: () => new Promise<void>((resolve) => server.httpServer.close(() => resolve())),
  };
}

/** The command: build, serve, print the URL, and keep serving until interrupted. */
export async function runExplore(o: { port: number; host: string; build: boolean }, out: (s: string) => void) {
  out("building the explorer…");
  const s = await startExplorer(o);
  out(`vmlab explorer: ${s.url}`);
  out("(Ctrl-C to stop)");
  return s;
}
