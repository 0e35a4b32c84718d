/**
 * Headless Chromium for the dashboard tests and the screenshot script: the system's Chromium (Debian's `chromium`),
 * driven by playwright-core, which never downloads a browser of its own.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"]

/** CHROMIUM_PATH if set (even to a missing file: that is how to test the "not installed" path), else the first found. */
export const findChromium = (): string | undefined => {
  const configured = process.env.CHROMIUM_PATH
  if (configured !== undefined && configured !== "") return existsSync(configured) ? configured : undefined
  return CANDIDATES.find((path) => existsSync(path))
}

export const INSTALL_HINT = "apt-get install -y chromium, or scripts/install-test-deps.sh"

/**
 * Flags that work on a machine with a closed network, as root: without the background-networking ones Chromium keeps
 * trying to reach Google's hosts.
 */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions"
]

export interface Browser {
  readonly context: BrowserContext
  readonly close: () => Promise<void>
}

/** A fresh headless Chromium with a new, empty profile (removed on close). */
export const launchBrowser = async (
  executablePath: string,
  options: { readonly colorScheme?: "light" | "dark"; readonly width?: number; readonly height?: number } = {}
): Promise<Browser> => {
  const profile = mkdtempSync(join(tmpdir(), "ccproxy-chromium-"))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: FLAGS,
      viewport: { width: options.width ?? 1440, height: options.height ?? 900 },
      colorScheme: options.colorScheme ?? "light",
      timezoneId: "UTC",
      locale: "en-US"
    })
    return {
      context,
      close: async () => {
        await context.close()
        rmSync(profile, { recursive: true, force: true })
      }
    }
  } catch (error) {
    rmSync(profile, { recursive: true, force: true })
    throw error
  }
}
