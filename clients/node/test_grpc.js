// Test of client.js against a real sidecar + fake provider started by the ctest driver
// (tests/clients/clients_test.cc), one scenario per run: node test_grpc.js <scenario>.
'use strict';
const assert = require('node:assert/strict');
const { createClient, call, grpc } = require('./client');

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const env = (name) => { const v = process.env[name]; assert.ok(v, `${name} is not set`); return v; };
const hello = (text) => ({ preset: 'demo/hello', messages: [{ role: 'user', text }] });

const scenarios = {
  async success() {
    for (const target of [env('LLMIX_GRPC_TCP'), env('LLMIX_GRPC_UNIX')]) {
      const client = createClient(target);
      const r = await call(client, hello(`node success via ${target}`), { deadlineMs: 10000, traceparent: TRACEPARENT });
      assert.equal(r.success, true, JSON.stringify(r.error));
      assert.equal(r.content, 'fake reply');
      assert.equal(r.model, 'gpt-4o-mini');
      assert.equal(r.trace_id, TRACE_ID);
      assert.equal(r.cache_hit, 'CACHE_TIER_NONE');
      client.close();
    }
  },
  async invalid_argument() {
    const client = createClient(env('LLMIX_GRPC_TCP'));
    await assert.rejects(call(client, { preset: 'demo/hello', messages: [] }, { deadlineMs: 10000 }), (e) => {
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /messages/);
      return true;
    });
    client.close();
  },
  async deadline_exceeded() {  // the driver holds the fake provider
    const client = createClient(env('LLMIX_GRPC_TCP'));
    // The sidecar runs the call under the caller's deadline: whichever side notices first, the
    // call ends at the deadline, as DEADLINE_EXCEEDED or as the sidecar's UPSTREAM_TIMEOUT answer.
    const started = Date.now();
    try {
      const r = await call(client, hello('node slow'), { deadlineMs: 300 });
      assert.equal(r.success, false);
      assert.equal(r.error.code, 'ERROR_CODE_UPSTREAM_TIMEOUT');
    } catch (e) {
      assert.equal(e.code, grpc.status.DEADLINE_EXCEEDED, e.message);
    }
    assert.ok(Date.now() - started < 2000);
    client.close();
  },
  async cancel() {  // the driver holds the fake provider
    const client = createClient(env('LLMIX_GRPC_TCP'));
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    await assert.rejects(call(client, hello('node cancelled'), { signal: abort.signal }), (e) => {
      assert.equal(e.code, grpc.status.CANCELLED);
      return true;
    });
    client.close();
  },
  async unauthenticated() {  // the driver starts the sidecar with --auth-token-file
    const client = createClient(env('LLMIX_GRPC_TCP'));
    await assert.rejects(call(client, hello('node no token'), { deadlineMs: 10000 }),
      (e) => e.code === grpc.status.UNAUTHENTICATED);
    const r = await call(client, hello('node with token'), { deadlineMs: 10000, token: env('LLMIX_TOKEN') });
    assert.equal(r.success, true);
    client.close();
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario "${name}"; one of: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
scenarios[name]().then(() => console.log(`ok ${name}`), (e) => { console.error(e); process.exit(1); });
