// Reconnect backoff: exponential ceiling with full jitter, from an injected random source.

import assert from "node:assert/strict";
import { BACKOFF_DEFAULTS, backoffCeiling, backoffDelay, shouldRetry } from "../../modules/mqtt/backoff.js";
import { prng } from "./fakes.js";

describe("backoff", () => {
  it("defaults to 1 s initial, 60 s max, factor 2, retry forever", () => {
    assert.deepEqual(BACKOFF_DEFAULTS, { initialMs: 1000, maxMs: 60_000, factor: 2, maxAttempts: 0 });
  });

  it("backoffCeiling grows by the factor per attempt up to maxMs", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffCeiling(n)), [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    const o = { initialMs: 100, maxMs: 1000, factor: 3 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffCeiling(n, o)), [100, 300, 900, 1000, 1000]);
    assert.equal(backoffCeiling(0), 1000, "attempt 0 is treated as the first");
    assert.equal(backoffCeiling(5, { factor: 1 }), 1000, "factor 1: constant");
    assert.equal(backoffCeiling(1, { initialMs: 5000, maxMs: 2000 }), 2000, "maxMs caps even the first ceiling");
  });

  it("backoffDelay is floor(random * ceiling): 0 -> 0, 0.999 -> just under the ceiling", () => {
    assert.equal(backoffDelay(1, {}, () => 0), 0);
    assert.equal(backoffDelay(1, {}, () => 0.999), 999);
    assert.equal(backoffDelay(3, {}, () => 0.999), 3996);
    assert.equal(backoffDelay(20, {}, () => 0.999), 59_940);
    assert.equal(backoffDelay(2, {}, () => 0.5), 1000);
    assert.equal(backoffDelay(1, { initialMs: 10 }, () => 0.9999999), 9);
  });

  it("full jitter with a seeded PRNG stays in [0, ceiling), integral, and covers the range", () => {
    const rand = prng(42);
    for (const attempt of [1, 2, 4, 8, 30]) {
      const ceiling = backoffCeiling(attempt);
      const samples = Array.from({ length: 2000 }, () => backoffDelay(attempt, {}, rand));
      for (const d of samples) {
        assert.ok(Number.isInteger(d) && d >= 0 && d < ceiling, `${d} in [0, ${ceiling})`);
      }
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      assert.ok(Math.abs(mean / ceiling - 0.5) < 0.05, `mean ${mean} near half of ${ceiling}`);
      assert.ok(Math.min(...samples) < ceiling * 0.05 && Math.max(...samples) > ceiling * 0.95, "uses the whole range");
    }
  });

  it("is deterministic for a given random source", () => {
    const a = prng(7), b = prng(7);
    const xs = Array.from({ length: 20 }, (_, i) => backoffDelay(i + 1, {}, a));
    const ys = Array.from({ length: 20 }, (_, i) => backoffDelay(i + 1, {}, b));
    assert.deepEqual(xs, ys);
  });

  it("shouldRetry: maxAttempts 0 retries forever; 3 allows attempts 0..2 and stops after 3", () => {
    for (const n of [0, 1, 10, 1e6, Number.MAX_SAFE_INTEGER]) assert.equal(shouldRetry(n), true);
    for (const n of [0, 1, 1e9]) assert.equal(shouldRetry(n, { maxAttempts: 0 }), true);
    assert.deepEqual([0, 1, 2, 3, 4, 100].map((n) => shouldRetry(n, { maxAttempts: 3 })), [true, true, true, false, false, false]);
    assert.deepEqual([0, 1].map((n) => shouldRetry(n, { maxAttempts: 1 })), [true, false]);
  });

  it("huge attempt numbers do not overflow to NaN or Infinity", () => {
    for (const attempt of [1024, 1025, 10_000, 1e9, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity]) {
      const c = backoffCeiling(attempt);
      assert.equal(c, 60_000, `ceiling for attempt ${attempt}`);
      const d = backoffDelay(attempt, {}, () => 0.999);
      assert.ok(Number.isFinite(d) && d === 59_940, `delay for attempt ${attempt} is ${d}`);
    }
    assert.equal(backoffCeiling(5000, { factor: 10, maxMs: 123 }), 123);
    assert.ok(Number.isFinite(backoffCeiling(NaN)), "a NaN attempt still gives a finite ceiling");
  });
});
