/**
 * Credential-shaped test values, assembled at run time so that no complete token sits in the source (where a
 * repository's own secret scanning would flag it). None of them is, or was, a real credential.
 */

const ALNUM = "aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0z"

/** `n` characters of [A-Za-z0-9], deterministic. */
export const alnum = (n: number): string => Array.from({ length: n }, (_, i) => ALNUM[(i * 7 + 3) % ALNUM.length]).join("")

/** `n` hex digits. */
export const hex = (n: number): string => Array.from({ length: n }, (_, i) => "0123456789abcdef"[(i * 5 + 1) % 16]).join("")

/** `n` base32 characters (AWS key ids). */
export const base32 = (n: number): string => Array.from({ length: n }, (_, i) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(i * 11 + 5) % 32]).join("")

const pemBody = (lines: number): string => Array.from({ length: lines }, () => `${alnum(60)}+/${alnum(2)}`).join("\n")

export const TOKENS = {
  pem: `-----BEGIN RSA PRIVATE KEY-----\n${pemBody(6)}\n-----END RSA PRIVATE KEY-----`,
  pemOpenSsh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${pemBody(4)}\n-----END OPENSSH PRIVATE KEY-----`,
  /** As it appears in a service-account JSON file read as text: newlines written as `\n`. */
  pemEscaped: `-----BEGIN PRIVATE KEY-----\\n${pemBody(3).replaceAll("\n", "\\n")}\\n-----END PRIVATE KEY-----\\n`,
  awsKeyId: `AKIA${base32(16)}`,
  awsTempKeyId: `ASIA${base32(16)}`,
  awsSecret: `${alnum(20)}/${alnum(19)}`,
  googleKey: `AIza${alnum(30)}_-${alnum(3)}`,
  githubClassic: `ghp_${alnum(36)}`,
  githubApp: `ghs_${alnum(36)}`,
  githubFineGrained: `github_pat_${alnum(22)}_${alnum(59)}`,
  gitlab: `glpat-${alnum(20)}`,
  slackBot: `xoxb-${"1234567890"}-${"9876543210123"}-${alnum(24)}`,
  slackWebhook: `https://hooks.slack.com/services/T${base32(8)}/B${base32(8)}/${alnum(24)}`,
  anthropic: `sk-ant-api03-${alnum(93)}AA`,
  openaiProject: `sk-proj-${alnum(74)}T3BlbkFJ${alnum(74)}`,
  openaiLegacy: `sk-${alnum(20)}T3BlbkFJ${alnum(20)}`,
  openrouter: `sk-or-v1-${hex(64)}`
} as const
