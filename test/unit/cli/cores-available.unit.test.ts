import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { coresAvailable, cpuQuota } from '../../../src/cli/cores-available.js';

describe("--workers' default: the cores available", () => {
  it("reads cgroup v2's cpu.max as whole CPUs, and no quota as none", () => {
    expect(cpuQuota('200000 100000\n')).toBe(2);
    expect(cpuQuota('250000 100000')).toBe(2);
    expect(cpuQuota('50000 100000')).toBe(0);
    expect(cpuQuota('max 100000\n')).toBeUndefined();
    expect(cpuQuota(undefined)).toBeUndefined();
    expect(cpuQuota('')).toBeUndefined();
  });

  it("is os.availableParallelism() at most the container's quota, and at least 1", () => {
    expect(coresAvailable(() => undefined)).toBe(availableParallelism());
    expect(coresAvailable(() => 'max 100000')).toBe(availableParallelism());
    expect(coresAvailable(() => '50000 100000')).toBe(1);
    expect(coresAvailable(() => '100000 100000')).toBe(1);
    expect(coresAvailable(() => `${(availableParallelism() + 8) * 100000} 100000`)).toBe(availableParallelism());
  });
});
