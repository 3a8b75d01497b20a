/**
 * The cores this process may use, for --workers' default. Node 20's `os.availableParallelism()` (libuv 1.46)
 * counts the CPUs the process may be scheduled on but ignores a container's CPU quota (libuv takes it into
 * account from 1.49): a pod limited to 1 CPU on a 32-core node would start 32 generation workers, about
 * 50 MB each, and be throttled and killed for memory.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** cgroup v2's quota of this process's container (its own cgroup, through the cgroup namespace). */
const CGROUP_CPU_MAX = '/sys/fs/cgroup/cpu.max';

/** `os.availableParallelism()`, at most the whole CPUs of the cgroup quota; at least 1. */
export function coresAvailable(cpuMax: () => string | undefined = readCpuMax): number {
  return Math.max(1, Math.min(availableParallelism(), cpuQuota(cpuMax()) ?? Number.POSITIVE_INFINITY));
}

/** The whole CPUs of a `cpu.max` text (`200000 100000` → 2; `max 100000`: no quota → undefined). */
export function cpuQuota(text: string | undefined): number | undefined {
  const [max, period] = text?.trim().split(/\s+/) ?? [];
  const cpus = Number(max) / Number(period);
  return Number.isFinite(cpus) && cpus > 0 ? Math.floor(cpus) : undefined;
}

/** Undefined outside a cgroup v2 container (no such file at the root of the host's hierarchy). */
function readCpuMax(): string | undefined {
  try {
    return readFileSync(CGROUP_CPU_MAX, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
