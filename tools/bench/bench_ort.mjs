#!/usr/bin/env node
// ONNX Runtime FP32 side of qvit's float forward benchmark (docs/benchmarks.md).
// Loads an ONNX model with onnxruntime-node on the CPU execution provider, runs batch 1 and 8
// (random input, shape [B,3,224,224] unless --size says otherwise), warmup then a timed loop,
// and prints one JSON line: {"batch1_ips": ..., "batch8_ips": ..., ...}.
//
//   node tools/bench/bench_ort.mjs --model=PATH [--threads=2] [--batches=1,8] [--min-time=3]
//        [--warmup=2] [--size=224]
// Install first (local, no GPU bits): cd tools/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install
import ort from 'onnxruntime-node';
import fs from 'node:fs';
import { createRequire } from 'node:module';

function parseArgs(argv) {
  const opts = { model: process.env.QVIT_BENCH_MODEL || '', threads: 2, batches: [1, 8], minTime: 3, warmup: 2, size: 224 };
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bench_ort: unknown argument '${a}'`);
    const [, k, v] = m;
    if (k === 'model') opts.model = v;
    else if (k === 'threads') opts.threads = Number(v);
    else if (k === 'batches') opts.batches = v.split(',').map(Number);
    else if (k === 'min-time') opts.minTime = Number(v);
    else if (k === 'warmup') opts.warmup = Number(v);
    else if (k === 'size') opts.size = Number(v);
    else throw new Error(`bench_ort: unknown option --${k}`);
  }
  if (!opts.model) throw new Error('bench_ort: pass --model=PATH (or set QVIT_BENCH_MODEL)');
  if (!fs.existsSync(opts.model)) throw new Error(`bench_ort: ${opts.model}: no such file`);
  return opts;
}

// Deterministic pseudo-random input in [-1, 1) (xorshift32), so every run feeds the same data.
function randomInput(n, seed = 12345) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const inputName = session.inputNames[0];
  const result = { engine: 'onnxruntime', threads: opts.threads };
  try {
    const require = createRequire(import.meta.url);
    result.version = require('onnxruntime-node/package.json').version;
  } catch { /* version is informational */ }
  for (const b of opts.batches) {
    const shape = [b, 3, opts.size, opts.size];
    const feeds = { [inputName]: new ort.Tensor('float32', randomInput(b * 3 * opts.size * opts.size), shape) };
    for (let i = 0; i < opts.warmup; ++i) await session.run(feeds);
    // Timed loop: at least min-time seconds and at least 5 iterations; per-iteration times kept
    // so the median can be reported next to the mean.
    const times = [];
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (;;) {
      const s = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - s) / 1e9);
      if (times.length >= 5 && Number(process.hrtime.bigint() - t0) / 1e9 >= opts.minTime) break;
    }
    const cpu = process.cpuUsage(cpu0);  // user + system CPU of all threads, in µs
    const total = times.reduce((x, y) => x + y, 0);
    const sorted = [...times].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)];
    result[`batch${b}_ips`] = (b * times.length) / total;
    result[`batch${b}_median_ips`] = b / median;
    result[`batch${b}_iters`] = times.length;
    result[`batch${b}_cpu_s_per_image`] = (cpu.user + cpu.system) / 1e6 / (b * times.length);
  }
  await session.release?.();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.message || e}\n`);
  process.exit(1);
});
