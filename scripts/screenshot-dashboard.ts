/**
 * Writes docs/dashboard.png: the dashboard in headless Chromium (dark scheme unless --light), over an hour of
 * made-up traffic (test/dashboard/fake-target.ts), so the README can show it. Node ≥ 22 (the project's pinned one).
 *
 *   node scripts/screenshot-dashboard.ts [--light|--dark] [--out docs/dashboard.png]
 *
 * Needs Debian's chromium (scripts/install-test-deps.sh); no network.
 */
import { mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { findChromium, INSTALL_HINT, launchBrowser } from "../test/dashboard/browser.ts"
import { startFakeTarget } from "../test/dashboard/fake-target.ts"

const args = process.argv.slice(2)
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const outIndex = args.indexOf("--out")
const out = resolve(root, outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1]! : "docs/dashboard.png")
const colorScheme = args.includes("--light") ? "light" : "dark"

const chromiumPath = findChromium()
if (chromiumPath === undefined) {
  process.stderr.write(`chromium not found: ${INSTALL_HINT}\n`)
  process.exit(1)
}

const target = await startFakeTarget()
const browser = await launchBrowser(chromiumPath, { colorScheme, width: 1440, height: 900 })
try {
  const page = await browser.context.newPage()
  await page.goto(`${target.url}/dashboard#key=${encodeURIComponent(target.key)}`)
  await page.locator("#recent tbody tr", { hasText: target.requestId }).waitFor({ timeout: 15_000 })
  mkdirSync(dirname(out), { recursive: true })
  // The whole page but the long tail of the recent-requests table: down to its 12th row.
  const row = await page.locator("#recent tbody tr").nth(11).boundingBox()
  const height = Math.ceil(row === null ? 1400 : row.y + row.height)
  await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: 1440, height } })
  process.stdout.write(`wrote ${out}\n`)
} finally {
  await browser.close()
  await target.close()
}
