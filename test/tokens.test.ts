import { describe, expect, it } from "@effect/vitest"
import { Tiktoken } from "js-tiktoken/lite"
import o200k from "js-tiktoken/ranks/o200k_base"
import { makeLazyTokenizer, makeTokenizer } from "../src/tokens.ts"
import { imageDimensions, imageTokens, tokensForDimensions } from "../src/tokens/media.ts"

const tokenizer = makeTokenizer(new Tiktoken(o200k))

/** A PNG header (signature + IHDR) for the given size; enough for dimension sniffing. */
const pngHeader = (width: number, height: number) => {
  const bytes = Buffer.alloc(33)
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0)
  bytes.writeUInt32BE(13, 8)
  bytes.write("IHDR", 12, "latin1")
  bytes.writeUInt32BE(width, 16)
  bytes.writeUInt32BE(height, 20)
  return bytes
}

const jpegHeader = (width: number, height: number) =>
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 255, width >> 8, width & 255, 0x03, 0, 0, 0])

describe("token counting", () => {
  it("counts text with the o200k vocabulary", () => {
    expect(tokenizer.countText("Hello world")).toBe(2)
    expect(tokenizer.countText("")).toBe(0)
  })

  it("counts system, messages and tools; tools and system add tokens", () => {
    const base = tokenizer.countRequest({ model: "m", messages: [{ role: "user", content: "What is 2+2?" }] })
    const withSystem = tokenizer.countRequest({
      model: "m",
      system: [{ type: "text", text: "You are a calculator." }],
      messages: [{ role: "user", content: "What is 2+2?" }]
    })
    const withTools = tokenizer.countRequest({
      model: "m",
      messages: [{ role: "user", content: "What is 2+2?" }],
      tools: [{ name: "add", description: "Adds numbers", input_schema: { type: "object", properties: { a: { type: "number" } } } }]
    })
    expect(base).toBeGreaterThan(5)
    expect(withSystem - base).toBe(5)
    expect(withTools - base).toBeGreaterThan(15)
  })

  it("counts tool_use, tool_result and thinking blocks", () => {
    const count = tokenizer.countRequest({
      model: "m",
      messages: [
        { role: "user", content: "list files" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "I should run ls.", signature: "sig" },
            { type: "tool_use", id: "t1", name: "Bash", input: { command: "ls -la" } }
          ]
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "a.txt b.txt" }] }] }
      ]
    })
    expect(count).toBeGreaterThan(20)
    expect(count).toBeLessThan(60)
  })

  it("repeated counts of long texts come from the cache and agree", () => {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(100)
    const first = tokenizer.countText(text)
    expect(tokenizer.countText(text)).toBe(first)
    expect(tokenizer.countText(`${text}!`)).toBeGreaterThanOrEqual(first)
  })

  it("estimates images from their pixel size, read from the header", () => {
    expect(imageDimensions(pngHeader(1000, 500))).toEqual({ width: 1000, height: 500 })
    expect(imageDimensions(jpegHeader(640, 480))).toEqual({ width: 640, height: 480 })
    expect(tokensForDimensions(1000, 1000)).toBe(1334)
    expect(tokensForDimensions(4000, 3000)).toBeLessThanOrEqual(1534) // scaled down to ~1.15 MP
    expect(imageTokens({ type: "base64", data: pngHeader(200, 200).toString("base64") })).toBe(54)
    expect(imageTokens({ type: "url" })).toBe(1600)
  })

  it("does not choke on long base64 runs (no quadratic BPE)", () => {
    const blob = Buffer.alloc(3_000_000, 7).toString("base64")
    // Encoded naively this would take minutes; the run estimate makes it instant (the test timeout guards it).
    const count = tokenizer.countText(`data: ${blob} end`)
    expect(count).toBe(Math.ceil(blob.length / 3) + tokenizer.countText("data: ") + tokenizer.countText(" end"))
  })
})

describe("makeLazyTokenizer", () => {
  it("builds the encoder on the first count and counts like the eager one", () => {
    const lazy = makeLazyTokenizer()
    expect(lazy.countText("Hello world")).toBe(tokenizer.countText("Hello world"))
    expect(lazy.countRequest({ model: "m", messages: [{ role: "user", content: "What is 2+2?" }] })).toBe(
      tokenizer.countRequest({ model: "m", messages: [{ role: "user", content: "What is 2+2?" }] })
    )
  })
})
