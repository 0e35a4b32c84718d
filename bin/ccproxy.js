#!/usr/bin/env node
// Thin launcher: the proxy is TypeScript run by Node's type stripping (Node >= 22.19).
import "../src/main.ts"
