/**
 * Kubernetes quantity canonicalization (spec §6.4). Expected values are the spec's own examples, plus a
 * few cases read off apimachinery's parser (cited where used), never produced by running our code.
 */
import { describe, expect, it } from 'vitest';

import { canonicalQuantity, QUANTITY_FORMAT_MESSAGE, QuantityError } from '../../../projections/agentk-states/quantity.js';

describe('canonicalQuantity, the examples of spec §6.4', () => {
  it.each([
    ['2048Mi', '2Gi'],
    ['1.5Gi', '1536Mi'],
    ['1000Mi', '1000Mi'],
    ['0.5Ki', '512'],
    ['0.5', '500m'],
    ['1000', '1k'],
    ['1500m', '1500m'],
    ['500m', '500m'],
    ['1G', '1G'],
    ['1e3', '1e3'],
  ])('%s becomes %s', (input, expected) => {
    expect(canonicalQuantity(input)).toBe(expected);
  });

  it.each(['50Gi', '1000Mi', '512Mi', '256Mi', '500m', '100m'])(
    'the already-canonical golden value %s is unchanged',
    (value) => {
      expect(canonicalQuantity(value)).toBe(value);
    },
  );

  it('prints zero as 0, whatever its spelling', () => {
    expect(canonicalQuantity('0')).toBe('0');
    expect(canonicalQuantity('0Gi')).toBe('0');
    expect(canonicalQuantity('0.000m')).toBe('0');
  });

  it('rounds a value up to a multiple of 10^-9', () => {
    // 0.1n is below the smallest unit: rounded up to 1n, not down to zero.
    expect(canonicalQuantity('0.1n')).toBe('1n');
    expect(canonicalQuantity('1.0000000001')).toBe('1000000001n');
  });

  it('keeps binary form only for whole values of at least 1024, dividing by 1024 while whole', () => {
    expect(canonicalQuantity('1024Ki')).toBe('1Mi');
    expect(canonicalQuantity('1536Ki')).toBe('1536Ki');
    // 1.5Ki = 1536: whole and >= 1024, but not a multiple of 1024, so no binary suffix survives.
    expect(canonicalQuantity('1.5Ki')).toBe('1536');
  });

  it('uses the largest multiple-of-3 exponent leaving a whole mantissa, with SI suffixes', () => {
    expect(canonicalQuantity('1500000')).toBe('1500k');
    expect(canonicalQuantity('2000000000')).toBe('2G');
    expect(canonicalQuantity('0.0015')).toBe('1500u');
    expect(canonicalQuantity('12.5k')).toBe('12500');
  });

  it('prints exponent-form values as <mantissa>e<exponent>', () => {
    expect(canonicalQuantity('15e2')).toBe('1500');
    expect(canonicalQuantity('1.5e3')).toBe('1500');
    expect(canonicalQuantity('1e6')).toBe('1e6');
    expect(canonicalQuantity('10e5')).toBe('1e6');
  });
});

describe("canonicalQuantity, Go's reuse of already-canonical text (apimachinery ParseQuantity fast path)", () => {
  it('returns the input itself when the fast path deems it canonical', () => {
    // Decimal: scale a multiple of 3, digits without "000" suffix or leading "0": the text is reused.
    expect(canonicalQuantity('+1500m')).toBe('+1500m');
    // Binary: a mantissa not divisible by 8 is reused.
    expect(canonicalQuantity('3Gi')).toBe('3Gi');
  });

  it('canonicalizes when the fast path does not reuse the text', () => {
    expect(canonicalQuantity('1000m')).toBe('1');
    expect(canonicalQuantity('8Gi')).toBe('8Gi');
    expect(canonicalQuantity('-2048Mi')).toBe('-2Gi');
  });
});

describe('canonicalQuantity refusals', () => {
  it.each(['', 'abc', '1.2.3', '5i', '1Qi', '1e', '1 Gi', 'Gi1', '1Gi2', '--1', '1e1.5'])(
    '%j fails with the message of spec §6.4',
    (value) => {
      expect(() => canonicalQuantity(value)).toThrow(QuantityError);
      expect(() => canonicalQuantity(value)).toThrow(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      );
    },
  );

  it('exports that exact message', () => {
    expect(QUANTITY_FORMAT_MESSAGE).toBe(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });
});
