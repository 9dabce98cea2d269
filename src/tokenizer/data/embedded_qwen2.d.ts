// The data module scripts/build-tokenizer-data.mjs writes to dist/ at build time (generated
// from assets/tokenizers/, not kept in the source tree); these are its types.
/** vocab.txt of the packed layout: the byte-level tokens in id order, one per line. */
export declare const vocabText: string;
/** merges.bin of the packed layout, base64: int32 LE [left, right, merged] per rank. */
export declare const mergesBase64: string;
/** Each embedded tokenizer's tokenizer_config.json text, by name. */
export declare const configs: Readonly<Record<string, string>>;
