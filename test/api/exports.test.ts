/**
 * The public API, name by name. Each package entry is imported the way a user imports it
 * (by package name, resolved through package.json `exports`: Node's self-reference), and its
 * exported values and types are compared with the lists below. A change to a list is a change
 * to the public API: make it on purpose, and say so in the commit message.
 *
 * Values come from the imported module itself. Type-only exports leave no trace at run time,
 * so they are read from the entry's emitted declaration file (following `export *`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { declaredExports } from "../support/declared_exports.js";
import { repoRoot } from "../support/paths.js";

interface Entry {
  /** What users import. */
  specifier: string;
  /** The entry's subpath in package.json `exports`. */
  subpath: string;
  values: string[];
  types: string[];
}

// @api-lists-begin (the current lists as JSON: npm run build && node dist/test/api/exports.test.js --print)
const ENTRIES: Entry[] = [
  {
    specifier: "qwen2-ts",
    subpath: ".",
    values: [
      "AutoModel",
      "ChatTemplateError",
      "ContextOverflowError",
      "DEFAULT_CACHE_NAME",
      "DEFAULT_MAX_NEW_TOKENS",
      "FormatError",
      "InvalidArgumentError",
      "JsonConstraint",
      "LoraAdapter",
      "QWEN_RERANKER_TEMPLATE",
      "Qwen2ForCausalLM",
      "Qwen2ForQuestionAnswering",
      "Qwen2ForSequenceClassification",
      "Qwen2ForTokenClassification",
      "Qwen2Model",
      "ReferenceBackend",
      "SchemaError",
      "SchemaLimitError",
      "SequenceGenerator",
      "Tokenizer",
      "ToolCallConstraint",
      "UnsupportedError",
      "WasmBackend",
      "WebGPUBackend",
      "WorkerEngine",
      "blobFiles",
      "blobSource",
      "compileSchema",
      "compileSchemaAsync",
      "createWasmBackend",
      "deleteCachedModel",
      "fromPretrained",
      "generate",
      "listCachedModels",
      "loadAdapter",
      "memoryFiles",
      "memorySource",
      "relaxedSimdAvailable",
      "rerankPairIds",
      "resolveGenerationOptions",
      "responseFormatConstraint",
      "stepBatch",
      "stream",
      "urlFiles",
      "withAdapters",
    ],
    types: [
      "AdapterChoice",
      "AdapterLoadOptions",
      "AdapterSource",
      "AnswerSpan",
      "Backend",
      "BackendName",
      "ByteSource",
      "CacheOptions",
      "CachedModel",
      "CausalLM",
      "ChatMessage",
      "ChatTemplateOptions",
      "ClassifyOptions",
      "CompileOptions",
      "ConstraintLimits",
      "DecodeOptions",
      "EncodeOptions",
      "EngineInfo",
      "EngineLoadProgress",
      "EngineModelSource",
      "EngineTokenEvent",
      "FetchLike",
      "FinishReason",
      "ForcedTool",
      "ForwardItem",
      "ForwardOptions",
      "GenerateInput",
      "GenerationConfig",
      "GenerationDefaults",
      "GenerationOptions",
      "GenerationOverrides",
      "GenerationResult",
      "GenerationTimings",
      "GenerationUsage",
      "LabelScore",
      "LoadOptions",
      "LoadProgress",
      "LoadedModel",
      "LogitsProcessor",
      "MergeAdapterSpec",
      "ModelFiles",
      "ModelSource",
      "PaddedInput",
      "ProblemType",
      "ProcessorContext",
      "QuestionAnswer",
      "QuestionAnsweringLogits",
      "Qwen2Architecture",
      "Qwen2Config",
      "Qwen2LoadOptions",
      "Qwen2Pretrained",
      "Qwen2Source",
      "RerankFormat",
      "RerankOptions",
      "RerankResult",
      "ResponseFormat",
      "SamplingOptions",
      "SchemaNode",
      "ScoreFunction",
      "SequenceCache",
      "SequenceClassification",
      "SpanOptions",
      "StreamDecoder",
      "TextInput",
      "TextTokenizer",
      "TokenClassification",
      "TokenEvent",
      "TokenLabel",
      "TokenLogprob",
      "TokenLogprobs",
      "WasmBackendOptions",
      "WebGPUBackendOptions",
      "WorkerEngineOptions",
      "WorkerGenerateOptions",
    ],
  },
  {
    specifier: "qwen2-ts/formats",
    subpath: "./formats",
    values: [
      "GGUFFile",
      "GGUFValueType",
      "GGUFWriter",
      "GGUF_EXPORT_TYPES",
      "MAX_HEADER_BYTES",
      "QUANT_LAYOUT",
      "QUANT_PRESETS",
      "RANDOM_PRESETS",
      "SafetensorsFile",
      "ShardedSafetensors",
      "bitsPerWeight",
      "buildQwen2GGUF",
      "dequantize",
      "dequantizeQ4_0",
      "dequantizeQ8_0",
      "isGGUF",
      "layerWindows",
      "loadGenerationConfig",
      "loadModelFolder",
      "loadQwen2Config",
      "mergeLoraWeights",
      "openGGUF",
      "openPeftAdapter",
      "openSafetensorsWeights",
      "parseGenerationConfig",
      "parseLoraConfig",
      "parseQwen2Config",
      "presetTensorType",
      "quantize",
      "quantizeQ4_0",
      "quantizeQ8_0",
      "qwen2ExpectedTensors",
      "randomModel",
      "resolveLoraModules",
      "safetensorsChunks",
      "safetensorsHeader",
      "tensorReader",
      "validateQwen2Weights",
      "weightToFloat32",
    ],
    types: [
      "BlockLayout",
      "DType",
      "FloatDType",
      "GGMLType",
      "GGUFAddedToken",
      "GGUFEntry",
      "GGUFExportType",
      "GGUFTensorInfo",
      "GGUFTokenizerData",
      "GGUFValue",
      "GenerationConfig",
      "HostTensor",
      "LayerType",
      "LoraConfig",
      "LoraModuleSpec",
      "MergedAdapter",
      "ModelFolder",
      "PeftAdapter",
      "PresetModel",
      "QuantDType",
      "QuantPreset",
      "Qwen2Config",
      "Qwen2GGUF",
      "Qwen2GGUFBuild",
      "Qwen2GGUFExportInput",
      "RandomModel",
      "RandomModelOptions",
      "RandomPreset",
      "RopeScaling",
      "RopeType",
      "TensorBytes",
      "TensorInfo",
      "TensorReader",
      "TensorToWrite",
      "UploadSource",
      "WeightDType",
      "WeightSource",
    ],
  },
  {
    specifier: "qwen2-ts/node",
    subpath: "./node",
    values: [
      "createRandomModel",
      "fileSource",
      "folderFiles",
      "loadTokenizer",
      "writeFileAtomic",
      "writeGGUF",
      "writeQwen2GGUF",
      "writeSafetensors",
      "writeTextAtomic",
    ],
    types: ["Qwen2GGUFExportSummary", "RandomModelResult", "TensorProgress"],
  },
  {
    specifier: "qwen2-ts/server",
    subpath: "./server",
    values: ["ApiError", "DEFAULT_LIMITS", "QwenServer", "createServer", "noLanguageModel"],
    types: ["SchedulerStats", "ServedAdapter", "ServedClassifier", "ServerLimits", "ServerOptions"],
  },
];
// @api-lists-end

type ExportMap = Record<string, string | Record<string, string>>;

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { name: string; exports: ExportMap };

/** The entries package.json `exports` names: every subpath but wildcards and package.json itself. */
function packageEntries(): Pick<Entry, "specifier" | "subpath">[] {
  return Object.keys(pkg.exports)
    .filter((subpath) => !subpath.includes("*") && subpath !== "./package.json")
    .map((subpath) => ({ subpath, specifier: pkg.name + subpath.slice(1) }));
}

/** The declaration file package.json `exports` gives for a subpath. */
function typesFile(subpath: string): string {
  const target = pkg.exports[subpath];
  assert.ok(target !== undefined, `package.json exports has no "${subpath}"`);
  const types = typeof target === "string" ? target.replace(/\.js$/, ".d.ts") : target.types;
  assert.ok(types, `package.json exports["${subpath}"] names no types`);
  return resolve(repoRoot, types);
}

async function actual(entry: Pick<Entry, "specifier" | "subpath">): Promise<{ values: string[]; types: string[] }> {
  const specifier: string = entry.specifier; // a variable, so the compiler does not need the built package
  const mod = (await import(specifier)) as Record<string, unknown>;
  const values = Object.keys(mod).sort();
  const types = [...declaredExports(typesFile(entry.subpath))].filter((n) => !(n in mod)).sort();
  return { values, types };
}

if (process.argv.includes("--print")) {
  const out: Entry[] = [];
  for (const e of packageEntries()) out.push({ specifier: e.specifier, subpath: e.subpath, ...(await actual(e)) });
  console.log(JSON.stringify(out, null, 2));
} else {
  test("package.json exports exactly the entries listed here", () => {
    assert.deepEqual(
      packageEntries()
        .map((e) => e.specifier)
        .sort(),
      ENTRIES.map((e) => e.specifier).sort(),
    );
  });
  test("qwen2-ts/internal/* reaches a compiled module, and is not listed as public API", async () => {
    const specifier: string = `${pkg.name}/internal/errors`;
    const mod = (await import(specifier)) as Record<string, unknown>;
    assert.equal(typeof mod.FormatError, "function");
  });
  for (const entry of ENTRIES) {
    test(`${entry.specifier}: exported values and types are the listed ones`, async () => {
      const got = await actual(entry);
      assert.deepEqual(got.values, [...entry.values].sort(), `${entry.specifier}: exported values changed`);
      assert.deepEqual(got.types, [...entry.types].sort(), `${entry.specifier}: exported types changed`);
    });
  }
}
