/**
 * vitest globalSetup: starts (or reuses, see KAFKA_BROKERS) a real Kafka broker once per run and
 * hands its address to the tests via `inject('kafkaBrokers')`.
 */
import type { TestProject } from 'vitest/node';
import { startKafkaForTests } from './kafka-broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const kafka = await startKafkaForTests();
  console.log(`[kafka-setup] Kafka ready at ${kafka.brokers} in ${Date.now() - started} ms`);
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    await kafka.stop();
  };
}
