/** LoRA test helpers: the shared fixtures' paths and seeded random PEFT adapter folders in memory. */
import { join } from "node:path";
import type { Qwen2Config } from "../../src/formats/config.js";
import { safetensorsChunks } from "../../src/formats/safetensors_writer.js";
import { memoryFiles, type ModelFiles } from "../../src/io/byte_source.js";
import { randomWeightBytes } from "../../src/tensor/random.js";
import { loraFixturesDir } from "./paths.js";

/** A LoRA fixture's base model folder and adapter folder. */
export function loraFixture(name: string): { model: string; adapter: string } {
  return { model: join(loraFixturesDir, "models", `${name}_base`), adapter: join(loraFixturesDir, "adapters", name) };
}

/** A safetensors file's bytes, in memory. */
export async function safetensorsBytes(tensors: Parameters<typeof safetensorsChunks>[0]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of safetensorsChunks(tensors)) chunks.push(c);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const PROJ: Record<string, (c: Qwen2Config) => [inF: number, outF: number]> = {
  "self_attn.q_proj": (c) => [c.hidden_size, c.num_attention_heads * c.head_dim],
  "self_attn.v_proj": (c) => [c.hidden_size, c.num_key_value_heads * c.head_dim],
  "mlp.up_proj": (c) => [c.hidden_size, c.intermediate_size],
  "mlp.down_proj": (c) => [c.intermediate_size, c.hidden_size],
};

/** A PEFT adapter folder in memory: q_proj, v_proj, up_proj and down_proj of every layer, random A and B (f32). */
export async function randomAdapterFiles(config: Qwen2Config, seed: number, r = 4, alpha = 8, std = 0.3): Promise<ModelFiles> {
  const tensors: Parameters<typeof safetensorsChunks>[0][number][] = [];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    for (const [module, dims] of Object.entries(PROJ)) {
      const [inF, outF] = dims(config);
      const key = `base_model.model.model.layers.${l}.${module}`;
      tensors.push({
        name: `${key}.lora_A.weight`,
        dtype: "f32",
        shape: [r, inF],
        data: randomWeightBytes(`${key}A`, r * inF, "f32", seed, std),
      });
      tensors.push({
        name: `${key}.lora_B.weight`,
        dtype: "f32",
        shape: [outF, r],
        data: randomWeightBytes(`${key}B`, outF * r, "f32", seed, std),
      });
    }
  }
  return memoryFiles(
    {
      "adapter_config.json": JSON.stringify({
        peft_type: "LORA",
        r,
        lora_alpha: alpha,
        target_modules: ["q_proj", "v_proj", "up_proj", "down_proj"],
        bias: "none",
      }),
      "adapter_model.safetensors": await safetensorsBytes(tensors),
    },
    `random-adapter-${seed}`,
  );
}
