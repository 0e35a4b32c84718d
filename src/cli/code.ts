/**
 * `ccproxy code [claude arguments…]`: Claude Code through the proxy in one command. It uses the proxy that answers
 * at the configured HOST:PORT, and leaves it running; when none answers it starts one in the background for the
 * session and stops it when claude exits. Every argument goes to claude untouched, and claude's exit code is ours.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { ProxyConfigShape } from "../config.ts"
import { startInBackground } from "./background.ts"
import { findClaude, runClaude } from "./claude.ts"
import type { CommandMain } from "./command.ts"
import { probe, proxyTarget, type ProxyTarget } from "./proxy-client.ts"
import { fail, loadSettings } from "./settings.ts"

/** What claude sends when the proxy takes no keys: it must send something, or it asks the user to log in. */
const NO_KEY = "ccproxy-no-key"

/**
 * Claude's environment: ours, pointed at the proxy. The key goes as ANTHROPIC_AUTH_TOKEN (a Bearer token, which
 * claude uses without asking, unlike ANTHROPIC_API_KEY); a real ANTHROPIC_API_KEY of the user's is dropped so it is
 * never sent to the proxy alongside.
 */
export const claudeEnv = (env: NodeJS.ProcessEnv, proxyUrl: string, key: Redacted.Redacted<string> | undefined): NodeJS.ProcessEnv => {
  const { ANTHROPIC_API_KEY: _dropped, ...rest } = env
  return { ...rest, ANTHROPIC_BASE_URL: proxyUrl, ANTHROPIC_AUTH_TOKEN: key === undefined ? NO_KEY : Redacted.value(key) }
}

/** The URL of a proxy for this session: the running one, or one started for the scope's lifetime. */
const proxyUrl = (config: ProxyConfigShape, target: ProxyTarget): Effect.Effect<string, string, Scope.Scope> =>
  Effect.gen(function*() {
    // PORT=0 means "any free port": there is nothing to look for, so a fresh proxy it is.
    if (config.port !== 0) {
      const found = yield* probe(target)
      if (found._tag === "Proxy") return target.url
      if (found._tag === "Other") return yield* Effect.fail(`${found.reason}; set PORT to a free port or to a ccproxy`)
    }
    const started = yield* startInBackground
    return proxyTarget(config, started.port).url
  })

const session = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const config = yield* loadSettings
    const claude = findClaude(process.env)
    // 127 is the shell's "command not found", so a script can tell it from claude's own failures.
    if (claude === undefined) {
      return yield* fail(
        "claude not found: install Claude Code (npm install -g @anthropic-ai/claude-code) or set CLAUDE_PATH to its executable",
        127
      )
    }
    const target = proxyTarget(config)
    const url = yield* proxyUrl(config, target)
    return yield* runClaude(claude, args, claudeEnv(process.env, url, target.key))
  }).pipe(Effect.scoped, Effect.catch((message) => fail(message)))

export const main: CommandMain = (invocation) => session(invocation.operands)
