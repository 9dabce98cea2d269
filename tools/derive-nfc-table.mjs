#!/usr/bin/env node
// Derives, once, the Unicode tables in which Hugging Face `tokenizers` (Rust) differs from
// Node, by probing the native build (@anush008/tokenizers, an opt-in peer in bench/) over every code
// point, and writes them as committed data. Run time never loads the native package.
//
//   node tools/derive-nfc-table.mjs   (writes src/tokenizer/data/*.ts)
//
// 1. NFC: the reference normalises with older Unicode tables. A code point assigned later is
//    unassigned there: combining class 0, no decomposition, no composition. Such a character
//    is a normalisation boundary, so NFC(x + u + y) = NFC(x) + u + NFC(y); the runtime splits
//    at these code points and lets Node normalise the pieces. We list every code point whose
//    NFC behaviour differs in probing contexts, then verify the whole table by re-running the
//    contexts through the emulation.
// 2. Character classes of the Qwen2 split regex as Oniguruma sees them (\p{L}, \p{N}, \s),
//    found by splitting small probe strings with the reference pre-tokeniser.
import { createRequire } from "node:module";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// The native build is an opt-in peer (bench/package.json; npm run bench:peers).
const require = createRequire(resolve(root, "bench/package.json"));
const native = require("@anush008/tokenizers");
const version = require("@anush008/tokenizers/package.json").version;

const MAX = 0x110000;
const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;
const nfc = native.nfcNormalizer();
const SEP = "\n"; // a starter that composes with nothing: contexts cannot interact across it

/** Normalises many probe strings in one native call. */
function nativeNfcMany(strings) {
  return nfc.normalizeString(strings.join(SEP)).split(SEP);
}

function contexts(cp) {
  const c = String.fromCodePoint(cp);
  const out = [c, "a\u0345" + c, "a" + c + "\u0334"];
  const d = c.normalize("NFD");
  if (d !== c) out.push(d);
  return out;
}

// --- 1. NFC -------------------------------------------------------------------------------
const unassigned = new Set();
const composites = [];
{
  const CHUNK = 4096;
  for (let start = 0; start < MAX; start += CHUNK) {
    const probes = [];
    const owners = [];
    for (let cp = start; cp < Math.min(MAX, start + CHUNK); cp++) {
      if (isSurrogate(cp) || cp === 0x0a) continue;
      for (const s of contexts(cp)) {
        probes.push(s);
        owners.push(cp);
      }
    }
    const got = nativeNfcMany(probes);
    for (let i = 0; i < probes.length; i++) {
      if (got[i] === probes[i].normalize("NFC")) continue;
      const cp = owners[i];
      unassigned.add(cp);
      const d = String.fromCodePoint(cp).normalize("NFD");
      if (probes[i] === d && d !== String.fromCodePoint(cp)) composites.push(cp);
    }
  }
  // A newer composite that the reference leaves decomposed: its new components must not
  // compose either. Components the reference knows keep their behaviour (checked below).
  for (const cp of composites) {
    for (const part of String.fromCodePoint(cp).normalize("NFD")) {
      const pcp = part.codePointAt(0);
      // Components outside the old scripts (the only ones found are in Unicode 16 scripts).
      if (pcp > 0x2fff) unassigned.add(pcp);
    }
  }
}

function emulate(s) {
  let out = "";
  let seg = "";
  for (const ch of s) {
    if (unassigned.has(ch.codePointAt(0))) {
      out += seg.normalize("NFC") + ch;
      seg = "";
    } else seg += ch;
  }
  return out + seg.normalize("NFC");
}

let mismatches = 0;
{
  const probes = [];
  for (let cp = 0; cp < MAX; cp++) {
    if (isSurrogate(cp) || cp === 0x0a) continue;
    for (const s of contexts(cp)) probes.push(s);
  }
  for (const cp of composites) probes.push(String.fromCodePoint(cp).normalize("NFD") + "\u0334");
  // Pairs of table entries with their neighbours, to catch compositions among new characters.
  const list = [...unassigned].sort((a, b) => a - b);
  for (const a of list) for (const b of list) if (Math.abs(a - b) < 64) probes.push(String.fromCodePoint(a, b));
  for (let i = 0; i < probes.length; i += 8192) {
    const part = probes.slice(i, i + 8192);
    const got = nativeNfcMany(part);
    for (let j = 0; j < part.length; j++) {
      if (got[j] !== emulate(part[j])) {
        if (mismatches++ < 20)
          console.error(
            "NFC mismatch",
            ...[part[j], got[j], emulate(part[j])].map((s) => [...s].map((c) => c.codePointAt(0).toString(16)).join(" ")),
          );
      }
    }
  }
}

// --- 2. Oniguruma character classes --------------------------------------------------------
const REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const tk = native.Tokenizer.fromString(
  JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: "Split", pattern: { Regex: REGEX }, behavior: "Isolated", invert: false },
    post_processor: null,
    decoder: null,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: {},
      merges: [],
    },
  }),
);
const pre = tk.getPreTokenizer();
// Class codes shared with src/tokenizer/char_class.ts: 0 other, 1 letter, 2 number, 3 space.
const cls = new Uint8Array(MAX);
for (let cp = 0; cp < MAX; cp++) {
  if (isSurrogate(cp)) continue;
  if (cp === 0x0a || cp === 0x0d) {
    cls[cp] = 3;
    continue;
  }
  const c = String.fromCodePoint(cp);
  const a = pre.preTokenizeString("x" + c + "y").length;
  if (a === 1) cls[cp] = 1;
  else if (a === 3) cls[cp] = 2;
  // "." + c: an "other" character joins the full stop (one piece), a space does not.
  else cls[cp] = pre.preTokenizeString("." + c).length === 1 ? 0 : 3;
}

function ranges(pred) {
  const out = [];
  for (let cp = 0; cp < MAX; cp++) {
    if (!pred(cp)) continue;
    let end = cp;
    while (end + 1 < MAX && pred(end + 1)) end++;
    out.push(cp, end - cp + 1);
    cp = end;
  }
  return out;
}
const hex = (arr) =>
  arr
    .map((v, i) => (i % 2 === 0 ? "0x" + v.toString(16) : String(v)))
    .join(",")
    .replace(/((?:[^,]*,){16})/g, "$1\n  ");

const header = (what) =>
  `// Generated by tools/derive-nfc-table.mjs from @anush008/tokenizers ${version} (Hugging Face\n// tokenizers, Rust) and Node ${process.version} (Unicode ${process.versions.unicode}). Do not edit.\n// ${what}\n// Layout: [first code point, count, first, count, ...].\n`;

mkdirSync(resolve(root, "src/tokenizer/data"), { recursive: true });
const u = ranges((cp) => unassigned.has(cp));
writeFileSync(
  resolve(root, "src/tokenizer/data/nfc_unassigned.ts"),
  header("Code points the reference's NFC treats as unassigned although Node's tables know them.") +
    `export const NFC_UNASSIGNED_RANGES: readonly number[] = [\n  ${hex(u)},\n];\n`,
);
writeFileSync(
  resolve(root, "src/tokenizer/data/char_classes.ts"),
  header("Oniguruma's \\p{L}, \\p{N} and \\s (with \\r \\n) as the reference's split regex sees them.") +
    `export const LETTER_RANGES: readonly number[] = [\n  ${hex(ranges((cp) => cls[cp] === 1))},\n];\n` +
    `export const NUMBER_RANGES: readonly number[] = [\n  ${hex(ranges((cp) => cls[cp] === 2))},\n];\n` +
    `export const SPACE_RANGES: readonly number[] = [\n  ${hex(ranges((cp) => cls[cp] === 3))},\n];\n`,
);
let lDiff = 0,
  nDiff = 0;
for (let cp = 0; cp < MAX; cp++) {
  if (isSurrogate(cp)) continue;
  const c = String.fromCodePoint(cp);
  if ((cls[cp] === 1) !== /\p{L}/u.test(c)) lDiff++;
  if ((cls[cp] === 2) !== /\p{N}/u.test(c)) nDiff++;
}
console.log(
  `NFC table: ${unassigned.size} code points in ${u.length / 2} ranges (${composites.length} newer composites); verification mismatches: ${mismatches}`,
);
console.log(`classes: letters differing from Node's \\p{L}: ${lDiff}, numbers differing from \\p{N}: ${nDiff}`);
if (mismatches > 0) process.exit(1);
