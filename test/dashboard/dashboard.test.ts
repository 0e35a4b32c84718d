/**
 * `GET /dashboard` in a real headless Chromium: the page loads clean under its CSP, polls /v1/metrics with the key
 * from the URL fragment, draws its charts, lists the requests, escapes what it shows, and says so when the metrics
 * cannot be read (401, 503).
 *
 * Chromium is Debian's (`apt-get install -y chromium`, or scripts/install-test-deps.sh). Without it these tests are
 * skipped with a message saying so; with CI=true they fail instead.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Page, Route } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest"
import { dashboard, dashboardPage } from "../../src/observability/dashboard.ts"
import { type Browser, findChromium, INSTALL_HINT, launchBrowser } from "./browser.ts"
import { Harness, harness } from "../support/harness.ts"
import { jsonCassette } from "../support/scripted-upstream.ts"
import { fakeMetrics } from "./fake-target.ts"

/** What the browser tests need from the server under test. */
interface Target {
  /** Base URL: the page is `${url}/dashboard`, the metrics `${url}/v1/metrics`. */
  readonly url: string
  /** A key the server accepts (one of PROXY_API_KEYS). */
  readonly key: string
  /** The id of a request the server handled, which /v1/metrics lists in `recent`. */
  readonly requestId: string
  readonly close: () => Promise<void>
}

/** The server under test: the real proxy with PROXY_API_KEYS set, after one request went through it. */
const startTarget = async (): Promise<Target> => {
  const key = "sk-dashboard-test-key"
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(harness({ PROXY_API_KEYS: key }), scope))
  const { url, upstream } = Context.get(context, Harness)
  upstream.enqueue(jsonCassette({
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: 3 }
  }))
  const res = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
  })
  await res.text()
  return { url, key, requestId: res.headers.get("request-id")!, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const CHROMIUM = findChromium()
const REQUIRED = process.env.CI === "true" || process.env.CI === "1"
const MISSING = `chromium not installed (${INSTALL_HINT})`
const TITLE = CHROMIUM !== undefined
  ? "dashboard in headless Chromium"
  : REQUIRED
  ? `FAILED: ${MISSING}; CI=true requires the browser tests`
  : `SKIPPED: ${MISSING}`

/** Says, once the browser tests are collected, which of them will not run and why. */
const reportMissing = (names: ReadonlyArray<string>) => {
  if (CHROMIUM === undefined) {
    process.stderr.write(`\n[test/dashboard] ${TITLE}. ${REQUIRED ? "Failing" : "Not run"}:\n` +
      names.map((name) => `  - ${name}\n`).join("") + "\n")
  }
}

describe("GET /dashboard", () => {
  vitestIt("serves one self-contained page: HTML, no-store, a CSP allowing only its own inline script and style", async () => {
    const response = HttpServerResponse.toWeb(Effect.runSync(dashboard))
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(response.headers.get("cache-control")).toBe("no-store")
    const csp = response.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/)
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/)
    expect(csp).not.toContain("unsafe")
    const html = await response.text()
    expect(html).toBe(dashboardPage.body)
    // Nothing from elsewhere: no src=, no stylesheet links, no fonts; the one URL is the SVG namespace.
    expect(html).not.toMatch(/\ssrc=|<link[^>]+stylesheet|@import|@font-face|url\(/i)
    expect(html.match(/https?:\/\/[^\s"'`)]+/g)).toEqual(["http://www.w3.org/2000/svg"])
    // Data only ever goes in as text.
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
  })
})

describe.skipIf(CHROMIUM === undefined && !REQUIRED)(TITLE, () => {
  const names: Array<string> = []
  const it = (name: string, test: () => Promise<void>) => {
    names.push(name)
    vitestIt(name, test)
  }
  let target: Target
  let browser: Browser

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error(`CI=true and ${MISSING}`)
    target = await startTarget()
    browser = await launchBrowser(CHROMIUM)
  })

  afterAll(async () => {
    await browser?.close()
    await target?.close()
  })

  interface Opened {
    readonly page: Page
    /** Console errors and warnings, and uncaught exceptions. */
    readonly problems: Array<string>
    /** Every /v1/metrics request the page made: its URL and x-api-key header. */
    readonly metrics: Array<{ readonly url: string; readonly key: string | undefined }>
  }

  const open = async (fragment = "", before?: (page: Page) => Promise<unknown>): Promise<Opened> => {
    const page = await browser.context.newPage()
    const problems: Array<string> = []
    const metrics: Array<{ url: string; key: string | undefined }> = []
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(`${message.type()}: ${message.text()}`)
    })
    page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`))
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.endsWith("/v1/metrics")) {
        metrics.push({ url: request.url(), key: request.headers()["x-api-key"] })
      }
    })
    if (before) await before(page)
    await page.goto(`${target.url}/dashboard${fragment}`)
    return { page, problems, metrics }
  }

  const recentRow = (page: Page, id: string) => page.locator("#recent tbody tr", { hasText: id })
  const bannerShown = (page: Page) => page.locator("#banner:not([hidden])")
  const waitForBannerGone = (page: Page) => page.locator("#banner[hidden]").waitFor({ state: "attached", timeout: 10_000 })

  it("loads without console errors and lists a request the proxy handled", async () => {
    const { page, problems } = await open(`#key=${encodeURIComponent(target.key)}`)
    try {
      await recentRow(page, target.requestId).waitFor({ timeout: 10_000 })
      // The inline style applied (a CSP hash mismatch would leave the header unstyled and log an error).
      expect(await page.evaluate(() => getComputedStyle(document.querySelector("header")!).display)).toBe("flex")
      expect(await page.locator("#banner").isHidden()).toBe(true)
      expect(await page.locator("#live").textContent()).toBe("live")
      expect(await page.locator("#updated").textContent()).toMatch(/^last updated \d\d:\d\d:\d\d/)
      expect(await page.locator("#kpi-requests").textContent()).not.toBe("—")
      expect(await page.locator("#models tbody tr").count()).toBeGreaterThan(0)
      expect(await page.locator("#upstreams .upstream").count()).toBeGreaterThan(0)
      // Each circuit state is a pill coloured by state.
      const circuits = await page.locator("#upstreams .pill.circuit").evaluateAll((pills) =>
        pills.map((pill) => ({ text: pill.textContent, className: pill.className })))
      const colour = { "circuit closed": "ok", "circuit half-open": "warn", "circuit open": "bad" } as Record<string, string>
      for (const circuit of circuits) expect(circuit.className.split(" ")).toContain(colour[circuit.text ?? ""])
      expect(problems).toEqual([])
    } finally {
      await page.close()
    }
  })

  it("draws the traffic and latency charts", async () => {
    const { page, problems } = await open(`#key=${encodeURIComponent(target.key)}`)
    try {
      await recentRow(page, target.requestId).waitFor({ timeout: 10_000 })
      const heights = await page.locator("#chart-requests rect.bar").evaluateAll((bars) =>
        bars.map((bar) => Number(bar.getAttribute("height"))))
      expect(heights.length).toBeGreaterThan(0)
      for (const height of heights) expect(height).toBeGreaterThan(0)
      // Axis labels and grid lines drawn, and the bars fit inside the drawing.
      expect(await page.locator("#chart-requests line.grid").count()).toBe(3)
      expect(await page.locator("#chart-errors text").count()).toBeGreaterThan(3)
      const box = await page.locator("#chart-requests").boundingBox()
      const barBox = await page.locator("#chart-requests rect.bar").last().boundingBox()
      expect(box !== null && barBox !== null && barBox.x + barBox.width <= box.x + box.width + 1).toBe(true)
      expect(await page.locator("#chart-latency rect.bar").count()).toBeGreaterThan(0)
      expect(problems).toEqual([])
    } finally {
      await page.close()
    }
  })

  it("sends the key from the URL fragment as x-api-key, and takes it off the address bar", async () => {
    const { page, metrics } = await open(`#key=${encodeURIComponent(target.key)}`)
    try {
      await recentRow(page, target.requestId).waitFor({ timeout: 10_000 })
      expect(metrics.length).toBeGreaterThan(0)
      for (const request of metrics) {
        expect(request.key).toBe(target.key)
        expect(request.url).not.toContain(target.key)
      }
      expect(page.url()).toBe(`${target.url}/dashboard`)
      expect(await page.evaluate(() => sessionStorage.getItem("ccproxy.dashboard.key"))).toBe(target.key)
      expect(await page.evaluate(() => localStorage.length)).toBe(0)
    } finally {
      await page.close()
    }
  })

  it("on a 401 shows the banner, stops polling, and asks for a key that then works", async () => {
    const { page, metrics } = await open()
    try {
      await bannerShown(page).waitFor({ timeout: 10_000 })
      expect(await page.locator("#banner").textContent()).toMatch(/HTTP 401: this proxy needs a key/)
      expect(await page.locator("#live").textContent()).toBe("needs key")
      expect(metrics.map((request) => request.key)).toEqual([undefined])
      // No retry with the same (missing) key while the banner waits.
      await page.waitForTimeout(2_500)
      expect(metrics.length).toBe(1)

      await page.locator("#key-input").fill(target.key)
      await page.locator("#key-form button").click()
      await recentRow(page, target.requestId).waitFor({ timeout: 10_000 })
      await waitForBannerGone(page)
      expect(metrics.at(-1)?.key).toBe(target.key)
      expect(await page.evaluate(() => sessionStorage.getItem("ccproxy.dashboard.key"))).toBe(target.key)
    } finally {
      await page.close()
    }
  })

  it("says the key was refused when the fragment's key is wrong", async () => {
    const { page, metrics } = await open("#key=sk-wrong")
    try {
      await bannerShown(page).waitFor({ timeout: 10_000 })
      expect(await page.locator("#banner").textContent()).toMatch(/HTTP 401: the key was refused/)
      expect(await page.locator("#key-form").isVisible()).toBe(true)
      expect(metrics[0]?.key).toBe("sk-wrong")
    } finally {
      await page.close()
    }
  })

  it("shows unknown numbers as — and data as text, never as markup", async () => {
    const evil = "<img src=x onerror=\"window.pwned=1\">"
    const data = fakeMetrics()
    const metrics = {
      ...data,
      latency_ms: { p50: null, p95: null, p99: null },
      ttft_ms: { p50: null, p95: 300, p99: null },
      cost_usd: { total: null, unknown_requests: null },
      by_model: [{ ...data.by_model[0], client_model: evil, cost_usd: null, input_tokens: null }],
      upstreams: [{ name: `<b>${evil}</b>`, circuit: "open", in_flight: null, queued: null, max_concurrent: null }],
      recent: [{ ...data.recent[0], id: "req_<script>window.pwned=2</script>", client_model: evil, error: evil, cost_usd: null, ttft_ms: null }]
    }
    const serve = (route: Route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(metrics) })
    const { page, problems } = await open(`#key=${encodeURIComponent(target.key)}`, (p) => p.route("**/v1/metrics", serve))
    try {
      const row = recentRow(page, "req_<script>window.pwned=2</script>")
      await row.waitFor({ timeout: 10_000 })
      expect(await row.locator("td").nth(2).textContent()).toBe(`${evil}→${data.recent[0]!.upstream_model}`)
      expect(await row.locator("td").nth(5).textContent()).toBe("—")
      expect(await row.locator("td").nth(6).textContent()).toBe("—")
      expect(await row.locator("td.note").textContent()).toBe(evil)
      expect(await page.locator("#kpi-latency").textContent()).toBe("—")
      expect(await page.locator("#kpi-ttft-sub").textContent()).toBe("p95 300 ms · p99 —")
      expect(await page.locator("#kpi-cost").textContent()).toBe("—")
      expect(await page.locator("#upstreams .name").textContent()).toBe(`<b>${evil}</b>`)
      expect(await page.locator("#upstreams .pill.circuit").getAttribute("class")).toContain("bad")
      expect(await page.locator("#models tbody td").first().textContent()).toContain(evil)
      expect(await page.evaluate(() => ({
        pwned: (window as unknown as { pwned?: number }).pwned,
        images: document.querySelectorAll("img").length,
        scripts: document.querySelectorAll("main script").length,
        upstreamNameElements: document.querySelector("#upstreams .name")!.children.length
      }))).toEqual({ pwned: undefined, images: 0, scripts: 0, upstreamNameElements: 0 })
      expect(problems).toEqual([])
    } finally {
      await page.close()
    }
  })

  it("when /v1/metrics fails, shows the banner and keeps the last data; clears it once metrics come back", async () => {
    let calls = 0
    const flaky = (route: Route) => {
      calls += 1
      return calls === 2
        ? route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "try later" } })
        })
        : route.continue()
    }
    const { page } = await open(`#key=${encodeURIComponent(target.key)}`, (p) => p.route("**/v1/metrics", flaky))
    try {
      await recentRow(page, target.requestId).waitFor({ timeout: 10_000 })
      await bannerShown(page).waitFor({ timeout: 10_000 })
      expect(await page.locator("#banner").textContent()).toContain("HTTP 503: overloaded_error: try later")
      expect(await page.locator("#banner").textContent()).toContain("Showing the last data")
      expect(await page.locator("#live").textContent()).toBe("stale")
      expect(await recentRow(page, target.requestId).count()).toBe(1)
      await waitForBannerGone(page)
      expect(await page.locator("#live").textContent()).toBe("live")
    } finally {
      await page.close()
    }
  })

  reportMissing(names)
})
