/**
 * The `ccproxy` command (`bin/ccproxy.js`), and `npm start`: without arguments it runs the proxy. The commands are
 * in `src/cli/`.
 */
import { runCli } from "./cli/run.ts"

runCli(process.argv.slice(2))
