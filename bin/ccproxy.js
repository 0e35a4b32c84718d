#!/usr/bin/env node
// The `ccproxy` command. A checkout of the repo runs its TypeScript sources (Node >= 22.19 strips the types), so a
// stale build never stands in for the code in front of you. The published package ships `dist/` (compiled by
// `npm run build`, which `npm pack` runs) and no `src/`, and Node would not strip types under node_modules anyway.
import { existsSync } from "node:fs"

const source = new URL("../src/main.ts", import.meta.url)
await import(existsSync(source) ? source.href : new URL("../dist/main.js", import.meta.url).href)
