// A small llmix-sidecar gRPC client for Node (@grpc/grpc-js + @grpc/proto-loader).
//   node client.js <target> <preset> <text>
// <target> is "127.0.0.1:7070" or "unix:/path/llmix.sock".
'use strict';
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.LLMIX_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');

function createClient(target) {
  const def = loader.loadSync('llmix/sidecar/v1/sidecar.proto', {
    includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true,
  });
  const { Llmix } = grpc.loadPackageDefinition(def).llmix.sidecar.v1;
  return new Llmix(target, grpc.credentials.createInsecure());
}

// One Call. options: deadlineMs, traceparent, token (shared bearer token), signal (AbortSignal).
function call(client, request, options = {}) {
  const md = new grpc.Metadata();
  if (options.traceparent) md.set('traceparent', options.traceparent);
  if (options.token) md.set('authorization', `Bearer ${options.token}`);
  const callOptions = {};
  if (options.deadlineMs) callOptions.deadline = new Date(Date.now() + options.deadlineMs);
  return new Promise((resolve, reject) => {
    const rpc = client.Call(request, md, callOptions, (err, response) => (err ? reject(err) : resolve(response)));
    if (options.signal) options.signal.addEventListener('abort', () => rpc.cancel(), { once: true });
  });
}

module.exports = { createClient, call, grpc };

if (require.main === module) {
  const [target, preset, text] = process.argv.slice(2);
  if (!target || !preset || !text) {
    console.error('usage: node client.js <target> <preset> <text>');
    process.exit(2);
  }
  const client = createClient(target);
  call(client, { preset, messages: [{ role: 'user', text }] }, { deadlineMs: 30000 })
    .then((r) => { console.log(r.success ? r.content : `error: ${r.error.message}`); client.close(); })
    .catch((e) => { console.error(`${grpc.status[e.code]}: ${e.details}`); process.exit(1); });
}
