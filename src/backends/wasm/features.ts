/**
 * Which kernel build to use. Relaxed SIMD is standard in V8 11.4+ (Node >= 22, Chromium,
 * Deno, Bun); Node 20 has it only behind a V8 flag, which bin/qwen2.js sets at start-up.
 * Availability is only the first test: the backend also self-tests the build it picks.
 */
import { environmentVariable } from "#platform";
import { InvalidArgumentError } from "../../errors.js";
import { wasm } from "./wasm_api.js";
import { readKernelBytes } from "./kernels.js";

/** The Node 20 flag that enables relaxed SIMD (pass it to `node`, or in NODE_OPTIONS). */
export const RELAXED_SIMD_NODE_FLAG = "--experimental-wasm-relaxed-simd";

/**
 * Environment variable that chooses the build when the caller's options do not: "0" the
 * baseline SIMD build (even where relaxed SIMD is on by default, as on Node >= 22), "1" the
 * relaxed build or an error; unset: relaxed when it validates and passes the self-test.
 */
export const RELAXED_SIMD_ENV = "QWEN2_RELAXED_SIMD";

let relaxedCache: boolean | undefined;

/** Whether this engine accepts the relaxed-SIMD kernel build (validation only; see the self-test). */
export function relaxedSimdAvailable(): boolean {
  if (relaxedCache === undefined) relaxedCache = wasm.validate(readKernelBytes("relaxed"));
  return relaxedCache;
}

/** The build preference QWEN2_RELAXED_SIMD asks for ("auto" when unset). */
export function relaxedPreference(): boolean | "auto" {
  const value = environmentVariable(RELAXED_SIMD_ENV);
  if (value === undefined || value === "") return "auto";
  if (value === "0") return false;
  if (value === "1") return true;
  throw new InvalidArgumentError(
    `${RELAXED_SIMD_ENV} must be 0 (baseline SIMD build) or 1 (relaxed SIMD build), got ${JSON.stringify(value)}`,
  );
}
