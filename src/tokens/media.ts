/**
 * Token estimates for images and PDFs, following Anthropic's published rule of thumb: an image costs about
 * width × height / 750 tokens after being scaled to fit 1568 px on its long side (≈1.15 megapixels at most).
 * Dimensions are read from the image header, so no image is ever decoded.
 */

const MAX_LONG_SIDE = 1568
const MAX_PIXELS = 1_150_000
/** When the dimensions cannot be read (URL or file images, unknown formats): a large image's cost. */
const UNKNOWN_IMAGE_TOKENS = 1600
/** Anthropic bills each PDF page as its text plus an image of the page. */
const TOKENS_PER_PDF_PAGE = 1800

export const tokensForDimensions = (width: number, height: number): number => {
  if (width <= 0 || height <= 0) return UNKNOWN_IMAGE_TOKENS
  let scale = Math.min(1, MAX_LONG_SIDE / Math.max(width, height))
  const pixels = width * height * scale * scale
  if (pixels > MAX_PIXELS) scale *= Math.sqrt(MAX_PIXELS / pixels)
  return Math.max(1, Math.ceil((width * scale * (height * scale)) / 750))
}

const u16be = (b: Uint8Array, i: number) => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)
const u16le = (b: Uint8Array, i: number) => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8)
const u24le = (b: Uint8Array, i: number) => u16le(b, i) | ((b[i + 2] ?? 0) << 16)
const u32be = (b: Uint8Array, i: number) => (u16be(b, i) * 65536) + u16be(b, i + 2)

/** Width and height from a PNG, GIF, WebP or JPEG header; undefined for anything else. */
export const imageDimensions = (bytes: Uint8Array): { width: number; height: number } | undefined => {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return { width: u32be(bytes, 16), height: u32be(bytes, 20) }
  }
  if (bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) {
    return { width: u16le(bytes, 6), height: u16le(bytes, 8) }
  }
  if (bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) {
    const kind = String.fromCharCode(bytes[12] ?? 0, bytes[13] ?? 0, bytes[14] ?? 0, bytes[15] ?? 0)
    if (kind === "VP8X") return { width: u24le(bytes, 24) + 1, height: u24le(bytes, 27) + 1 }
    if (kind === "VP8L") {
      const bits = (bytes[21] ?? 0) | ((bytes[22] ?? 0) << 8) | ((bytes[23] ?? 0) << 16) | ((bytes[24] ?? 0) << 24)
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 }
    }
    if (kind === "VP8 ") return { width: u16le(bytes, 26) & 0x3fff, height: u16le(bytes, 28) & 0x3fff }
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the JPEG segments to the first start-of-frame marker, which holds the dimensions.
    let i = 2
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined
      const marker = bytes[i + 1] ?? 0
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: u16be(bytes, i + 7), height: u16be(bytes, i + 5) }
      }
      i += 2 + u16be(bytes, i + 2)
    }
  }
  return undefined
}

/** Decodes only as much base64 as a header needs (JPEG headers can be long: up to 64 KB). */
const headerBytes = (base64: string, bytes: number): Uint8Array =>
  Buffer.from(base64.slice(0, Math.ceil(bytes / 3) * 4), "base64")

export const imageTokens = (source: { readonly type: string; readonly data?: string }): number => {
  if (source.type !== "base64" || typeof source.data !== "string") return UNKNOWN_IMAGE_TOKENS
  const size = imageDimensions(headerBytes(source.data, 65536))
  return size ? tokensForDimensions(size.width, size.height) : UNKNOWN_IMAGE_TOKENS
}

/** Counts page objects in the PDF; falls back to one page per 50 KB when the page tree is compressed away. */
export const pdfTokens = (base64: string): number => {
  const text = Buffer.from(base64, "base64").toString("latin1")
  const pages = text.match(/\/Type\s*\/Page(?!s)/g)?.length ?? Math.max(1, Math.round(text.length / 50_000))
  return pages * TOKENS_PER_PDF_PAGE
}
