// Parse an AsyncAPI document with the official parser (@asyncapi/parser, pinned in tools/web) and
// print what it found as JSON on stdout: {"document": bool, "diagnostics": [...], "channels": [...]}.
// Usage: node tests/support/asyncapi_check.mjs PATH/TO/asyncapi.json
// The parser is resolved from tools/web/package.json, so the script runs from any working directory.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(resolve(root, "tools", "web", "package.json"));
const { Parser } = require("@asyncapi/parser");

const path = process.argv[2];
if (!path) {
  console.error("usage: node asyncapi_check.mjs ASYNCAPI_FILE");
  process.exit(2);
}
const text = await readFile(path, "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text, { source: pathToFileURL(resolve(path)).href });
const report = {
  document: document !== undefined,
  diagnostics: diagnostics.map((d) => ({
    code: d.code,
    severity: d.severity, // 0 error, 1 warning, 2 information, 3 hint
    message: d.message,
    path: d.path,
  })),
  channels: document ? document.channels().all().map((channel) => channel.address()) : [],
  messages: document ? document.messages().all().map((message) => message.name()) : [],
};
process.stdout.write(JSON.stringify(report) + "\n");
