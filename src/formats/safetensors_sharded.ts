/**
 * A sharded safetensors model: `model.safetensors.index.json` maps each tensor name to the
 * shard file holding it (`weight_map`). Shards are opened (header only) when the index is
 * loaded, so every inconsistency between index and shards is reported up front, naming the
 * index, the shard and the tensor.
 */
import { FormatError } from "../errors.js";
import { joinName, parseJson, type ModelFiles } from "../io/byte_source.js";
import { SafetensorsFile, type SafetensorsEntry } from "./safetensors.js";
import type { HostTensor, WeightSource } from "./weights.js";

export const SAFETENSORS_INDEX = "model.safetensors.index.json";

export class ShardedSafetensors implements WeightSource {
  readonly location: string;
  /** Shard file name → open shard. */
  readonly shards: ReadonlyMap<string, SafetensorsFile>;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  private readonly owner: Map<string, SafetensorsFile>;

  private constructor(
    location: string,
    shards: Map<string, SafetensorsFile>,
    owner: Map<string, SafetensorsFile>,
    metadata: Record<string, unknown> | null,
  ) {
    this.location = location;
    this.shards = shards;
    this.owner = owner;
    this.metadata = metadata;
  }

  /** Opens the index file of a folder and every shard it names (headers only). */
  static async open(files: ModelFiles, indexName = SAFETENSORS_INDEX, signal?: AbortSignal): Promise<ShardedSafetensors> {
    const indexPath = joinName(files.location, indexName);
    const text = await files.text(indexName);
    if (text === null) throw new FormatError(indexPath, "file not found");
    const raw = parseJson(text, indexPath);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new FormatError(indexPath, "must be a JSON object");
    const { weight_map: weightMap, metadata } = raw as Record<string, unknown>;
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new FormatError(indexPath, "weight_map: missing, or not an object of tensor name → shard file");
    }
    const shards = new Map<string, SafetensorsFile>();
    const owner = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shardName] of Object.entries(weightMap as Record<string, unknown>)) {
        if (typeof shardName !== "string" || shardName === "") {
          throw new FormatError(indexPath, `weight_map['${name}']: shard must be a file name, got ${JSON.stringify(shardName)}`);
        }
        // A shard must live in the model folder: refuse paths that climb out of it.
        if (!isPlainFileName(shardName)) {
          throw new FormatError(indexPath, `weight_map['${name}']: shard '${shardName}' is outside the model folder`);
        }
        let shard = shards.get(shardName);
        if (!shard) {
          signal?.throwIfAborted();
          const source = await files.open(shardName);
          if (source === null) throw new FormatError(joinName(files.location, shardName), `file not found (named by ${indexName})`);
          shard = await SafetensorsFile.open(source, signal);
          shards.set(shardName, shard);
        }
        if (!shard.has(name)) {
          throw new FormatError(indexPath, `weight_map['${name}'] names shard '${shardName}', which has no tensor '${name}'`);
        }
        owner.set(name, shard);
      }
      // Tensors present in a shard but absent from the index: loaders that follow the index
      // would never see them, and a duplicate in two shards is ambiguous.
      for (const [shardName, shard] of shards) {
        for (const name of shard.names()) {
          const o = owner.get(name);
          if (o === undefined) throw new FormatError(indexPath, `tensor '${name}' is in shard '${shardName}' but missing from weight_map`);
          if (o !== shard)
            throw new FormatError(indexPath, `tensor '${name}' is stored in two shards: '${shardNameOf(shards, o)}' and '${shardName}'`);
        }
      }
    } catch (err) {
      for (const s of shards.values()) s.close();
      throw err;
    }
    const meta =
      typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : null;
    return new ShardedSafetensors(indexPath, shards, owner, meta);
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  private shardOf(name: string): SafetensorsFile {
    const s = this.owner.get(name);
    if (!s) throw new FormatError(this.location, `tensor '${name}' not found in weight_map`);
    return s;
  }

  info(name: string): SafetensorsEntry {
    return this.shardOf(name).info(name);
  }

  read(name: string): Promise<HostTensor> {
    return this.shardOf(name).read(name);
  }

  readInto(name: string, dest: Uint8Array, offset = 0, signal?: AbortSignal): Promise<void> {
    return this.shardOf(name).readInto(name, dest, offset, signal);
  }

  /** The file a tensor is stored in (for `inspect`). */
  fileOf(name: string): string {
    return this.shardOf(name).location;
  }

  close(): void {
    for (const s of this.shards.values()) s.close();
  }
}

/** A name inside the folder: not absolute, no drive letter, no `..` segment. */
function isPlainFileName(name: string): boolean {
  if (name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name)) return false;
  return !name.split(/[\\/]/).includes("..");
}

function shardNameOf(shards: ReadonlyMap<string, SafetensorsFile>, file: SafetensorsFile): string {
  for (const [name, s] of shards) if (s === file) return name;
  return file.location;
}
