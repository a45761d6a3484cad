// Builds ../static/wallet.js: src/main.js and the npm packages it imports, bundled by esbuild
// into one minified script, followed by the licence of every package that went into it (read
// from the packages themselves, so the list follows the lockfile).
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";

const result = await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "iife",
  target: "es2022",
  minify: true,
  charset: "utf8",
  legalComments: "none",
  metafile: true,
  write: false,
  logLevel: "warning",
});

const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(m[1]);
}
let notices = "";
for (const name of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"));
  const licence = readFileSync(`node_modules/${name}/LICENSE`, "utf8").replaceAll("*/", "* /");
  notices += `\n${name}@${pkg.version} (${pkg.license}):\n\n${licence.trim()}\n`;
}
const script = result.outputFiles[0].text;
writeFileSync("../static/wallet.js", `${script}/*! The Commons wallet bundles these packages:\n${notices}*/\n`);
console.log(`../static/wallet.js: ${(script.length / 1024).toFixed(1)} KB of script, ${packages.size} packages: ${[...packages].sort().join(", ")}`);
