/**
 * Page code for test/browser/worker_engine.test.ts: a WorkerEngine driven from the page's
 * main thread, which keeps running timers while the model loads and generates in the worker.
 */
import { WorkerEngine } from "../../../src/runtime/worker_engine/engine.js";

export interface EngineJob {
  readonly modelUrl: string;
  /** The folder's file names, fetched into File objects for a second engine (a dropped folder). */
  readonly files: readonly string[];
  readonly missingUrl: string;
  readonly ids: readonly number[];
  readonly maxNewTokens: number;
  readonly threads: number;
}

export interface EngineReport {
  readonly backend: string;
  readonly progressEvents: number;
  readonly ids: number[];
  readonly finishReason: string;
  /** Timer callbacks that ran on this thread between the first and the last streamed piece. */
  readonly ticksWhileGenerating: number;
  readonly abortedFinish: string;
  readonly abortedTokens: number;
  readonly missing: { readonly name: string; readonly message: string };
  /** The greedy ids of an engine loaded from File objects. */
  readonly fromFiles: number[];
}

export async function runEngine(job: EngineJob): Promise<EngineReport> {
  let progressEvents = 0;
  const engine = await WorkerEngine.create({ model: job.modelUrl, threads: job.threads, onProgress: () => progressEvents++ });
  try {
    let ticks = 0;
    let generating = true;
    const tick = (): void => {
      if (!generating) return;
      ticks++;
      setTimeout(tick, 0);
    };
    const it = engine.stream({ ids: job.ids }, { maxNewTokens: job.maxNewTokens, temperature: 0 });
    let step = await it.next();
    setTimeout(tick, 0);
    while (!step.done) step = await it.next();
    generating = false;
    const result = step.value;

    const controller = new AbortController();
    const long = engine.stream({ ids: job.ids }, { maxNewTokens: 400, ignoreEos: true, temperature: 0, signal: controller.signal });
    let s = await long.next();
    controller.abort();
    while (!s.done) s = await long.next();

    const files = await Promise.all(job.files.map(async (name) => new File([await (await fetch(job.modelUrl + name)).blob()], name)));
    const dropped = await WorkerEngine.create({ model: files, threads: job.threads });
    const fromFiles = (await dropped.generate({ ids: job.ids }, { maxNewTokens: job.maxNewTokens, temperature: 0 })).ids;
    dropped.dispose();

    let missing = { name: "", message: "" };
    try {
      (await WorkerEngine.create({ model: job.missingUrl })).dispose();
    } catch (err) {
      missing = { name: (err as Error).name, message: (err as Error).message };
    }
    return {
      backend: engine.info.backend,
      progressEvents,
      ids: result.ids,
      finishReason: result.finishReason,
      ticksWhileGenerating: ticks,
      abortedFinish: s.value.finishReason,
      abortedTokens: s.value.ids.length,
      missing,
      fromFiles,
    };
  } finally {
    engine.dispose();
  }
}
