// jinja_render.mjs - renders chat-template cases with @huggingface/jinja, the
// reference implementation the C interpreter is compared against.
//
// usage: node jinja_render.mjs JINJA_PACKAGE_DIR CASES.json OUT.json
//   JINJA_PACKAGE_DIR: the unpacked npm package (contains dist/index.js)
//   CASES.json: {"templates": {name: source}, "cases": [{"t": name, "ctx": {...}}]}
//   OUT.json:   [{"ok": true, "out": text} | {"ok": false, "error": message}]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [pkgDir, casesPath, outPath] = process.argv.slice(2);
if (!pkgDir || !casesPath || !outPath) {
  console.error("usage: node jinja_render.mjs JINJA_PACKAGE_DIR CASES.json OUT.json");
  process.exit(2);
}
const { Template } = await import(pathToFileURL(join(pkgDir, "dist", "index.js")).href);
const spec = JSON.parse(readFileSync(casesPath, "utf8"));
const compiled = {};
for (const [name, src] of Object.entries(spec.templates)) {
  try {
    compiled[name] = new Template(src);
  } catch (e) {
    compiled[name] = e;
  }
}
const results = spec.cases.map((c) => {
  const t = compiled[c.t];
  if (t instanceof Error) return { ok: false, error: String(t.message) };
  try {
    return { ok: true, out: t.render(c.ctx) };
  } catch (e) {
    return { ok: false, error: String(e && e.message) };
  }
});
writeFileSync(outPath, JSON.stringify(results));
