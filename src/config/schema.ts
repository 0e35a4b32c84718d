/**
 * The config file's JSON Schema, generated from the `Schema` that decodes it: editors that read `$schema` (VS Code,
 * JetBrains, yaml-language-server) then complete and check `ccproxy.json` / `ccproxy.yaml` as it is typed.
 */
import * as Schema from "effect/Schema"
import { VARIABLES } from "../config.ts"
import { makeConfigFile } from "./file.ts"

/** The schema as the text of `ccproxy.schema.json`. */
export const configJsonSchema = (): string => {
  const document = Schema.toJsonSchemaDocument(makeConfigFile(VARIABLES), { onExcessProperty: "error" })
  const schema = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://github.com/ccproxy/ccproxy/ccproxy.schema.json",
    title: "CCProxy configuration",
    ...document.schema,
    ...(Object.keys(document.definitions).length === 0 ? {} : { $defs: document.definitions })
  }
  return `${JSON.stringify(schema, null, 2)}\n`
}
