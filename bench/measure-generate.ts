/**
 * (c) The CPU side's limit: the generator alone, in this process, once per workspace on its final state
 * (`generateDesiredConfig` and the `JSON.stringify` the projection does for the sink: the minimum work any
 * engine must do to produce N rows). Inputs are built outside the timed sections, chunk by chunk.
 *
 * As a by-product (untimed) it writes the rows as COPY CSV to `copyFile` for (b), so that (b) measures
 * PostgreSQL alone, on exactly the rows the engine should produce.
 *
 * measureWorkerGeneration: the same N final states through the engine's Generator (createGenerator with
 * 1 worker: this thread; 2: a pool of worker threads), timed over its project() calls, so the time
 * includes handing inputs to the workers and the rows back (what `--workers N` costs the engine).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { generateDesiredConfig } from '../projections/agentk-states/generate.js';
import type { GenerationJob } from '../src/engine/generation/generator.js';
import { withGenerator } from '../src/engine/generation/worker-pool.js';
import type { WorkerGeneration } from './report.js';
import { csvField } from './load-postgres.js';
import { benchAgents, planWorkspace, type BenchAgent, type DevfileSource, type WorkloadSpec } from './workload.js';

const CHUNK = 1000;
/** created_at/updated_at of the copied rows (any constant: COPY cannot call now()). */
const COPY_TIMESTAMP = '2025-09-01T00:00:00.000Z';

export interface GenerateResult {
  /** Generation + serialization, summed over the timed sections. */
  elapsedMs: number;
  generateMs: number;
  stringifyMs: number;
  workspaces: number;
  failures: number;
  /** UTF-8 bytes of the serialized desired configs. */
  outputBytes: number;
  /** Bytes of the COPY file written for (b). */
  copyFileBytes: number;
}

/** The generator's inputs of workspaces [start, end), built outside the timed sections. */
function finalInputs(spec: WorkloadSpec, agents: readonly BenchAgent[], start: number, end: number, devfiles: boolean | DevfileSource): GenerationJob[] {
  const jobs: GenerationJob[] = [];
  for (let id = start; id < end; id++) {
    const plan = planWorkspace(spec, agents, id, devfiles);
    jobs.push({ input: { workspace: plan.final, agentConfig: plan.agent.config, projectPath: plan.projectPath }, projectId: plan.final.project_id });
  }
  return jobs;
}

export function measureGenerate(spec: WorkloadSpec, copyFile: string, devfiles: boolean | DevfileSource = true): GenerateResult {
  const agents = benchAgents();
  const result: GenerateResult = { elapsedMs: 0, generateMs: 0, stringifyMs: 0, workspaces: 0, failures: 0, outputBytes: 0, copyFileBytes: 0 };
  const fd = openSync(copyFile, 'w');
  try {
    for (let start = 1; start <= spec.n; start += CHUNK) {
      const inputs = finalInputs(spec, agents, start, Math.min(spec.n + 1, start + CHUNK), devfiles);
      const outputs: string[] = [];
      const t0 = performance.now();
      let generated = 0;
      for (const { input } of inputs) {
        try {
          const before = performance.now();
          const config = generateDesiredConfig(input);
          const between = performance.now();
          outputs.push(JSON.stringify(config));
          const after = performance.now();
          result.generateMs += between - before;
          result.stringifyMs += after - between;
          generated++;
        } catch {
          outputs.push('');
          result.failures++;
        }
      }
      result.elapsedMs += performance.now() - t0;
      result.workspaces += generated;

      // One Buffer per row: a 17 MB string built with += costs more in GC than the generation it follows.
      const rows: Buffer[] = [];
      inputs.forEach(({ input, projectId }, i) => {
        const json = outputs[i]!;
        if (json === '') return;
        const row = Buffer.from(`${input.workspace.id},${projectId},${csvField(json)},${COPY_TIMESTAMP},${COPY_TIMESTAMP}\n`);
        result.outputBytes += Buffer.byteLength(json);
        rows.push(row);
      });
      const buffer = Buffer.concat(rows);
      writeSync(fd, buffer);
      result.copyFileBytes += buffer.length;
    }
  } finally {
    closeSync(fd);
  }
  return result;
}

export async function measureWorkerGeneration(spec: WorkloadSpec, workers: number, devfiles: boolean | DevfileSource = true): Promise<WorkerGeneration> {
  const agents = benchAgents();
  return withGenerator({ workers }, async (generator) => {
    const result: WorkerGeneration = { workers: generator.workers, elapsedMs: 0, workspaces: 0 };
    for (let start = 1; start <= spec.n; start += CHUNK) {
      const jobs = finalInputs(spec, agents, start, Math.min(spec.n + 1, start + CHUNK), devfiles);
      const t0 = performance.now();
      const rows = await generator.project(jobs);
      result.elapsedMs += performance.now() - t0;
      result.workspaces += rows.filter((row) => row.ok).length;
    }
    return result;
  });
}
