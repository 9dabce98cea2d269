#!/usr/bin/env node
// Packs a byte-level BPE tokenizer folder (tokenizer.json, or vocab.json + merges.txt) into
// the layout assets/tokenizers/ keeps (scripts/build-tokenizer-data.mjs turns it into the embedded data module): vocab.txt
// (tokens in id order, one per line) and merges.bin (int32 LE [left, right, merged] per
// rank), which load without JSON parsing or string lookups.
//
//   node tools/pack-tokenizer.mjs SOURCE_DIR OUT_DIR
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error("usage: node tools/pack-tokenizer.mjs SOURCE_DIR OUT_DIR");
  process.exit(2);
}
let vocab, merges;
if (existsSync(join(src, "tokenizer.json"))) {
  const j = JSON.parse(readFileSync(join(src, "tokenizer.json"), "utf8"));
  vocab = j.model.vocab;
  merges = j.model.merges.map((m) => (typeof m === "string" ? m.split(" ") : m));
} else {
  vocab = JSON.parse(readFileSync(join(src, "vocab.json"), "utf8"));
  merges = readFileSync(join(src, "merges.txt"), "utf8")
    .split("\n")
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith("#version")))
    .map((l) => l.split(" "));
}
const tokens = [];
for (const [tok, id] of Object.entries(vocab)) {
  if (tok.includes("\n")) throw new Error(`token ${JSON.stringify(tok)} holds a newline`);
  if (tokens[id] !== undefined) throw new Error(`id ${id} used twice`);
  tokens[id] = tok;
}
for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) throw new Error(`id ${i} has no token (ids must be contiguous)`);
const ids = new Map(tokens.map((t, i) => [t, i]));
const triples = new Int32Array(merges.length * 3);
merges.forEach(([a, b], rank) => {
  const ia = ids.get(a),
    ib = ids.get(b),
    im = ids.get(a + b);
  if (ia === undefined || ib === undefined || im === undefined) throw new Error(`merge ${rank} (${a} ${b}) is not in the vocabulary`);
  triples.set([ia, ib, im], rank * 3);
});
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "vocab.txt"), tokens.join("\n") + "\n");
writeFileSync(join(out, "merges.bin"), new Uint8Array(triples.buffer));
console.log(`${out}: ${tokens.length} tokens, ${merges.length} merges`);
