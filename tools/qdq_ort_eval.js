#!/usr/bin/env node
// Top-1 of a QDQ model (qvit export --format qdq) in ONNX Runtime on an IDX test set, preprocessed
// exactly as qvit does for the config: u8 / pixel_scale, then (x - mean) / std, every step rounded
// to float32 (torchvision's order; src/data/preprocess.cc). Only configs without resize/crop whose
// input size equals the IDX image size are supported (the bundled Fashion-MNIST models).
// A fixed-batch model runs at its own batch (the last batch zero-padded); a dynamic-batch one
// (qvit's default QDQ export) at --batch (default 50), the last batch as it is.
//
//   node tools/qdq_ort_eval.js --model=M.qdq.onnx --config=configs/deit_fmnist.json
//        [--data=/usr/share/datasets/fashion-mnist] [--split=t10k] [--threads=2] [--limit=N] [--batch=50]
// Prints one JSON line: {"top1": ..., "samples": ..., "correct_top1": ..., "seconds": ...}.
// onnxruntime-node comes from tools/bench/node_modules (installed by tools/qdq_ort_eval.sh).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

function fail(msg) {
  process.stderr.write(`qdq_ort_eval: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = { model: '', config: '', data: '', split: '', threads: 2, limit: -1, batch: 50 };
  for (const a of argv) {
    const m = /^--([a-z]+)=(.*)$/.exec(a);
    if (!m || !(m[1] in o)) fail(`unknown argument '${a}'`);
    o[m[1]] = typeof o[m[1]] === 'number' ? Number(m[2]) : m[2];
  }
  if (!o.model || !o.config) fail('pass --model=M.qdq.onnx --config=CONFIG.json');
  return o;
}

// An IDX file (optionally gzipped): {dims, data: Uint8Array}.
function readIdx(file) {
  let buf = fs.readFileSync(file);
  if (file.endsWith('.gz')) buf = zlib.gunzipSync(buf);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) fail(`${file}: not an unsigned-byte IDX file`);
  const rank = buf[3];
  const dims = [];
  for (let i = 0; i < rank; ++i) dims.push(buf.readUInt32BE(4 + 4 * i));
  const data = buf.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) fail(`${file}: truncated`);
  return { dims, data };
}

function findIdx(dir, split, kind) {
  for (const name of [`${split}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte.gz`, `${split}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte`]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  fail(`${dir}: no ${split} ${kind} IDX file`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const cfg = JSON.parse(fs.readFileSync(o.config, 'utf8'));
  if (cfg.resize || cfg.center_crop || cfg.input.channels !== 1 || cfg.input.layout !== 'NCHW')
    fail(`${o.config}: only 1-channel NCHW configs without resize/crop are supported`);
  const dir = o.data || cfg.default_data;
  const split = o.split || cfg.default_split || 't10k';
  const images = readIdx(findIdx(dir, split, 'images'));
  const labels = readIdx(findIdx(dir, split, 'labels'));
  const [count, h, w] = images.dims;
  if (h !== cfg.input.height || w !== cfg.input.width) fail(`${o.config}: input ${cfg.input.height}x${cfg.input.width}, images ${h}x${w}`);
  const n = o.limit > 0 ? Math.min(o.limit, count) : count;

  // float32 arithmetic as in qvit's Preprocessor: one table for the 256 pixel values.
  const f = Math.fround;
  const scale = f(cfg.pixel_scale), mean = f(cfg.mean[0]), std = f(cfg.std[0]);
  const table = new Float32Array(256);
  for (let u = 0; u < 256; ++u) table[u] = f(f(f(u) / scale - mean) / std);

  const ort = require(path.join(__dirname, 'bench', 'node_modules', 'onnxruntime-node'));
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1,
  });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const shape = session.inputMetadata[0].shape;
  if (!shape || shape.length !== 4) fail(`${o.model}: the input needs an [N,1,H,W] shape`);
  const dynamic = typeof shape[0] !== 'number';
  const batch = dynamic ? Number(o.batch || 50) : shape[0];
  const pixels = h * w;
  let correct = 0;
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const run_rows = dynamic ? rows : batch;
    const x = new Float32Array(run_rows * pixels);  // padded rows stay 0
    for (let i = 0; i < rows * pixels; ++i) x[i] = table[images.data[start * pixels + i]];
    const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [run_rows, 1, h, w]) });
    const logits = out[outputName].data;
    const classes = logits.length / run_rows;
    for (let r = 0; r < rows; ++r) {
      let best = 0;  // first index on ties, as torch.argmax and qvit
      for (let c = 1; c < classes; ++c) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
      if (best === labels.data[start + r]) ++correct;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({
    model: o.model, samples: n, correct_top1: correct, top1: Math.round(1e4 * correct / n) / 100, batch,
    seconds: Math.round(seconds * 1000) / 1000,
  }) + '\n');
}

main().catch((e) => fail(e.message || String(e)));
