import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { LogContext, Logger } from '../../../src/ops/logger.js';
import { logKafkaEntry } from '../../../src/sources/kafka/kafka-client.js';

function recording() {
  const lines: [string, string, LogContext][] = [];
  const at = (level: string) => (message: string, context: LogContext = {}) => lines.push([level, message, context]);
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

describe("kafkajs' log entries through our logger", () => {
  it('one line per entry at its level, with the namespace and kafkajs fields as context, without its timestamp, logger and stack', () => {
    const { logger, lines } = recording();
    logKafkaEntry(logger, {
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: { timestamp: '2026-12-02T00:00:00Z', logger: 'kafkajs', message: 'Connection error:\n connect ECONNREFUSED', broker: '127.0.0.1:1', clientId: 'rebuild-projection', stack: 'Error: …\n  at x' },
    });
    logKafkaEntry(logger, { namespace: 'Runner', level: logLevel.WARN, label: 'WARN', log: { timestamp: 't', message: 'The group is rebalancing, re-joining', groupId: 'g', error: 'The coordinator is not aware of this member' } });
    expect(lines).toEqual([
      ['error', 'kafka Connection: Connection error: connect ECONNREFUSED', { kafkajs: 'Connection', broker: '127.0.0.1:1', clientId: 'rebuild-projection' }],
      ['warn', 'kafka Runner: The group is rebalancing, re-joining: The coordinator is not aware of this member', { kafkajs: 'Runner', groupId: 'g', error: 'The coordinator is not aware of this member' }],
    ]);
  });

  it('leaves out the entries that only echo a failure the replayer reports itself', () => {
    const { logger, lines } = recording();
    logKafkaEntry(logger, { namespace: 'Runner', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Error when calling eachBatch', error: 'x' } });
    logKafkaEntry(logger, { namespace: 'Consumer', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Crash: KafkaJSNonRetriableError: x' } });
    expect(lines).toEqual([]);
  });

  it("keeps a broker's retriable error answer (retried by kafkajs) at debug, and any other error answer at error", () => {
    const { logger, lines } = recording();
    // What a consumer's first FindCoordinator gets from a broker that has not yet made its offsets topic.
    const answer = (error: string) =>
      logKafkaEntry(logger, { namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Response GroupCoordinator(key: 10, version: 2)', broker: 'b:9092', error, correlationId: 1, size: 50 } });
    answer('The group coordinator is not available');
    answer('Not authorized to access group');
    logKafkaEntry(logger, { namespace: 'Runner', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', message: 'Response x', error: 'The group coordinator is not available' } });
    expect(lines.map(([level, message]) => [level, message])).toEqual([
      ['debug', 'kafka Connection: Response GroupCoordinator(key: 10, version: 2): The group coordinator is not available'],
      ['error', 'kafka Connection: Response GroupCoordinator(key: 10, version: 2): Not authorized to access group'],
      ['error', 'kafka Runner: Response x: The group coordinator is not available'],
    ]);
  });
});
