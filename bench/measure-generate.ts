/**
 * (c) The CPU side's limit: the generator alone, in this process, once per workspace on its final state
 * (`generateDesiredConfig` and the `JSON.stringify` the projection does for the sink: the minimum work any
 * engine must do to produce N rows). Inputs are built outside the timed sections, chunk by chunk.
 *
 * As a by-product (untimed) it writes the rows as COPY CSV to `copyFile` for (b), so that (b) measures
 * PostgreSQL alone, on exactly the rows the engine should produce.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { generateDesiredConfig } from '../projections/agentk-states/generate.js';
import type { GeneratorInput } from '../projections/agentk-states/inputs.js';
import { csvField } from './load-postgres.js';
import { benchAgents, planWorkspace, type DevfileSource, type WorkloadSpec } from './workload.js';

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

export function measureGenerate(spec: WorkloadSpec, copyFile: string, devfiles: boolean | DevfileSource = true): GenerateResult {
  const agents = benchAgents();
  const result: GenerateResult = { elapsedMs: 0, generateMs: 0, stringifyMs: 0, workspaces: 0, failures: 0, outputBytes: 0, copyFileBytes: 0 };
  const fd = openSync(copyFile, 'w');
  try {
    for (let start = 1; start <= spec.n; start += CHUNK) {
      const inputs: { input: GeneratorInput; projectId: number }[] = [];
      for (let id = start; id < Math.min(spec.n + 1, start + CHUNK); id++) {
        const plan = planWorkspace(spec, agents, id, devfiles);
        inputs.push({ input: { workspace: plan.final, agentConfig: plan.agent.config, projectPath: plan.projectPath }, projectId: plan.final.project_id });
      }
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
