/**
 * Every `ccproxy` command, in the order help lists them; the first is what a bare `ccproxy` runs. A new command is
 * an entry here and a module exporting its `main` (see command.ts).
 */
import type { Command } from "./command.ts"

export const COMMANDS: ReadonlyArray<Command> = [
  {
    name: "start",
    synopsis: "",
    summary: "Run the proxy until Ctrl-C or SIGTERM",
    details: [
      "Listens on HOST:PORT (default 127.0.0.1:11434). On SIGINT or SIGTERM it stops taking requests and gives",
      "streaming answers up to 20 s to finish."
    ],
    load: () => import("./start.ts").then((m) => m.main)
  },
  {
    name: "code",
    synopsis: "[claude arguments…]",
    summary: "Run Claude Code through the proxy, starting one for the session if none is running",
    details: [
      "Uses the proxy at the configured HOST and PORT when one answers there (and leaves it running); otherwise",
      "starts one in the background and stops it when claude exits. claude is found on PATH or at CLAUDE_PATH, and",
      "gets ANTHROPIC_BASE_URL and a proxy key (ANTHROPIC_AUTH_TOKEN) in its environment; every argument after",
      "`code` is passed to it, and its exit code is ccproxy's. The background proxy's log is dropped unless LOG_FILE",
      "is set."
    ],
    passThrough: true,
    ownsSignals: true,
    load: () => import("./code.ts").then((m) => m.main)
  },
  {
    name: "status",
    synopsis: "[--json]",
    summary: "Show the running proxy's upstreams, circuits, requests, tokens and cost",
    details: [
      "Asks the proxy at the configured HOST and PORT (GET /health and GET /v1/metrics), sending a key of",
      "PROXY_API_KEYS when set. Exits with 1 when no proxy answers."
    ],
    flags: [{ name: "json", description: "Print the raw JSON of both routes instead of the summary" }],
    load: () => import("./status.ts").then((m) => m.main)
  },
  {
    name: "check",
    synopsis: "",
    summary: "Validate the config and reach every provider with it",
    details: [
      "Loads the config as the proxy would (one line names a problem), then asks each provider's GET /models with",
      "its key and headers (or a 1-token completion where there is no /models) and looks for the models the routes",
      "send it. Exits with 1 when a provider cannot be reached or refuses the key."
    ],
    load: () => import("./check.ts").then((m) => m.main)
  },
  {
    name: "reload",
    synopsis: "",
    summary: "Make the running proxy read its config again (SIGHUP)",
    details: [
      "Checks the config first; then signals the proxy at the configured HOST and PORT and waits until it serves",
      "the new config. Streams in flight finish on the old one; a config the proxy cannot build is rejected and the",
      "old one stays. Works for a proxy on this machine; elsewhere send SIGHUP to its process."
    ],
    load: () => import("./reload.ts").then((m) => m.main)
  }
]
