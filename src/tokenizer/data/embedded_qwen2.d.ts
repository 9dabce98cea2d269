// The data module scripts/build-tokenizer-data.mjs writes to dist/ at build time (generated
// from assets/tokenizers/, not kept in the source tree); these are its types.
/** The 256 byte-level characters, in id order (ids 0-255). */
export declare const byteTokens: string;
/** base64 of each merge's [left id, right id], 3 bytes little-endian each; merge r makes id 256 + r. */
export declare const mergePairsBase64: string;
/** Each embedded tokenizer's tokenizer_config.json text, by name. */
export declare const configs: Readonly<Record<string, string>>;
