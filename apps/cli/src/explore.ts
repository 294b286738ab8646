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
import { selectCombinations } from "vmlab";

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

/** What the page opens on: a combination (names; `all` leaves the page's choice) and a seed. */
export interface ExploreSelection {
  machine?: string;
  pmap?: string;
  vm?: string;
  seed?: number;
}

/** The served URL with the selection as the query the page reads at start (its readUrl). */
export function explorerUrl(base: string, o: ExploreSelection): string {
  const q = new URLSearchParams();
  for (const k of ["machine", "pmap", "vm"] as const) {
    const v = o[k];
    if (v !== undefined && v !== "all") q.set(k, v);
  }
  if (o.seed !== undefined) q.set("seed", String(o.seed));
  const s = q.toString();
  return s === "" ? base : `${base}?${s}`;
}

/** The command: build, serve, print the URL, and keep serving until interrupted. */
export async function runExplore(
  o: { port: number; host: string; build: boolean } & ExploreSelection,
  out: (s: string) => void,
) {
  // A name that matches no combination is a ConfigError before anything is built.
  selectCombinations(o);
  out("building the explorer…");
  const s = await startExplorer(o);
  out(`vmlab explorer: ${explorerUrl(s.url, o)}`);
  out("(Ctrl-C to stop)");
  return s;
}
