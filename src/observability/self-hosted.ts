/**
 * Whether a base URL points at a server of the operator's own (Ollama, vLLM, llama.cpp, a LiteLLM gateway): a
 * loopback or private address, or a name only a private network resolves. Such an upstream's cost is whatever the
 * operator says in PRICES_FILE, never a vendor's list price for a model of the same name.
 */
import * as Net from "node:net"

const PRIVATE_SUFFIXES = [".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp"]

const octets = (ip: string): ReadonlyArray<number> => ip.split(".").map(Number)

const isPrivateV4 = (ip: string): boolean => {
  const [a = -1, b = -1] = octets(ip)
  return a === 127 || a === 10 || a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) || // link-local
    (a === 100 && b >= 64 && b <= 127) // carrier-grade NAT, where Tailscale puts machines
}

const isPrivateV6 = (ip: string): boolean => {
  const lower = ip.toLowerCase()
  if (lower === "::1" || lower === "::") return true
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (mapped !== null) return isPrivateV4(mapped[1]!)
  return /^f[cd][0-9a-f]{2}:/.test(lower) || /^fe[89ab][0-9a-f]:/.test(lower) // unique-local, link-local
}

/** The host of a base URL (with or without a scheme), lower-case, IPv6 without brackets; undefined if unreadable. */
const hostnameOf = (baseUrl: string): string | undefined => {
  for (const candidate of [baseUrl.trim(), `http://${baseUrl.trim()}`]) {
    try {
      const { hostname } = new URL(candidate)
      if (hostname !== "") return hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1")
    } catch {
      // a bare "host:port" gets a second chance with a scheme in front
    }
  }
  return undefined
}

export const isSelfHosted = (baseUrl: string): boolean => {
  const host = hostnameOf(baseUrl)
  if (host === undefined) return false
  if (Net.isIPv4(host)) return isPrivateV4(host)
  if (Net.isIPv6(host)) return isPrivateV6(host)
  // A single-label name (`vllm`, `ollama`) only resolves inside a private network: a container or a LAN host.
  return host === "localhost" || !host.includes(".") || PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix))
}
