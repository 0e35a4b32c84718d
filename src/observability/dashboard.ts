/**
 * `GET /dashboard`: one self-contained HTML page (inline CSS, vanilla JS, SVG charts it draws itself; no CDN, no
 * fonts, no build step) that polls `GET /v1/metrics` every 2 s and shows traffic, errors, latency percentiles, tokens
 * and cost by model, the cache, limiter and breaker state per upstream, and the last 50 requests.
 *
 * The page carries no data, so it is served without a key; it sends the key as `x-api-key` on its own metrics
 * fetches (from the URL fragment `#key=…`, which browsers never send, or typed in after a 401; kept in
 * sessionStorage). The Content-Security-Policy allows exactly this page's inline script and style (by hash), and
 * connections to this origin only.
 *
 * The HTML is read once, when this module loads, from beside this file (so from any working directory, and from a
 * build output directory as long as the .html file is copied next to the .js).
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"

const HTML = readFileSync(new URL("./dashboard.html", import.meta.url), "utf8")

/** CSP source expressions for every `<tag>…</tag>` block (attribute-less, as the page writes them). */
const inlineHashes = (html: string, tag: "script" | "style"): string => {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((match) => match[1] ?? "")
  if (blocks.length === 0) throw new Error(`dashboard.html has no <${tag}> block`)
  return blocks.map((block) => `'sha256-${createHash("sha256").update(block, "utf8").digest("base64")}'`).join(" ")
}

const CSP = [
  "default-src 'none'",
  `script-src ${inlineHashes(HTML, "script")}`,
  `style-src ${inlineHashes(HTML, "style")}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

/** The page and its headers, as plain data: what the route serves, and what a test server can serve as well. */
export const dashboardPage: { readonly body: string; readonly headers: Readonly<Record<string, string>> } = {
  body: HTML,
  headers: {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer"
  }
}

const { "content-type": contentType, ...otherHeaders } = dashboardPage.headers

/** The route handler (a `RouteSpec` handler: `{ method: "GET", path: "/dashboard", handler: dashboard }`). */
export const dashboard: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.sync(() =>
  HttpServerResponse.text(dashboardPage.body, { contentType, headers: otherHeaders })
)
