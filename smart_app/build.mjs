// Builds the SMART app into the Python package (cds_service/web/app/), so that `pip install` serves it
// with no build step: one ES module bundle (esbuild) and THIRD_PARTY_LICENSES.txt with the licence
// text of every npm package the bundle contains. The hand-written page and style sheet (index.html,
// app.css) live only there, not copied from here. Run: bash scripts/build_smart_app.sh
import { build } from "esbuild";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "cds_service", "web", "app");
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src", "app.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "none", // the full licence texts are in THIRD_PARTY_LICENSES.txt
  define: { FHIRCLIENT_PURE: "true", "process.env.NODE_ENV": '"production"' },
  outfile: join(out, "app.js"),
  metafile: true,
  logLevel: "warning",
});

// Every package whose files are in the bundle, with its licence text.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/^(.*node_modules\/)((?:@[^/]+\/)?[^/]+)\//);
  if (!match) continue;
  const dir = join(here, match[1], match[2]);
  if (!packages.has(dir)) packages.set(dir, match[2]);
}
const sections = [];
for (const [dir, name] of [...packages].sort((a, b) => a[1].localeCompare(b[1]))) {
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8").trim() : `(no licence file in the package; declared licence: ${meta.license})`;
  sections.push(`${"=".repeat(78)}\n${name} ${meta.version} — ${meta.license}\n${"=".repeat(78)}\n${text}\n`);
}
writeFileSync(
  join(out, "THIRD_PARTY_LICENSES.txt"),
  `Third-party software bundled in app.js (built by smart_app/build.mjs from smart_app/package-lock.json)\n\n${sections.join("\n")}`,
);
const size = readFileSync(join(out, "app.js")).length;
console.log(`built ${out}/app.js (${(size / 1024).toFixed(0)} KiB) with ${packages.size} packages; licences in THIRD_PARTY_LICENSES.txt`);
if (!existsSync(join(out, "index.html"))) throw new Error("cds_service/web/app/index.html missing");
