// Load TF.js layers models from folders with @tensorflow/tfjs's own loader and print their predictions.
// usage: node tfjs_predict.js <jobs.json: list of {folder, inputs: list of {shape, data, dtype}}>
// stdout: a JSON list, one {outputs: [{shape, data}], weights: [names]} or {error} per job
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = [];
  for (const job of jobs) {
    try {
      results.push(await run(job.folder, job.inputs));
    } catch (e) {
      results.push({error: String(e && e.message || e)});
    }
  }
  process.stdout.write(JSON.stringify(results));
}

async function run(folder, inputArrays) {
  const doc = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of doc.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(folder, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  // the browser loader's handler for file contents held in memory (file:// needs tfjs-node's native addon)
  const handler = {load: async () => ({modelTopology: doc.modelTopology, weightSpecs, weightData, format: doc.format})};
  const model = await tf.loadLayersModel(handler);
  const inputs = inputArrays.map(
      (a) => tf.tensor(a.data, a.shape, a.dtype || 'float32'));
  let out = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  if (!Array.isArray(out)) out = [out];
  return {outputs: out.map((t) => ({shape: t.shape, data: Array.from(t.dataSync())})),
          weights: model.weights.map((w) => w.originalName)};
}
main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
