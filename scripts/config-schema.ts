/**
 * Writes `ccproxy.schema.json`, the config file's JSON Schema for editors, from the `Schema` the proxy decodes the
 * file with (`src/config/file.ts`), so the two cannot drift: a test compares the committed file with this output.
 * Run: `npm run config-schema`.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { configJsonSchema } from "../src/config/schema.ts"

const target = Path.join(import.meta.dirname, "..", "ccproxy.schema.json")
Fs.writeFileSync(target, configJsonSchema())
process.stdout.write(`wrote ${target}\n`)
