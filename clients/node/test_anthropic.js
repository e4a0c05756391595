// The official Anthropic SDK (@anthropic-ai/sdk) pointed at the sidecar's POST /v1/messages,
// against a real sidecar + OpenAI-protocol fake provider started by the ctest driver; one
// scenario per run.
'use strict';
const assert = require('node:assert/strict');
const Anthropic = require('@anthropic-ai/sdk');

const env = (name) => { const v = process.env[name]; assert.ok(v, `${name} is not set`); return v; };
// The SDK adds /v1/messages itself.
const baseURL = env('LLMIX_HTTP_BASE').replace(/\/v1\/?$/, '');
const client = new Anthropic({ baseURL, apiKey: process.env.LLMIX_TOKEN || 'unused', maxRetries: 0 });

const tools = [{
  name: 'get_weather',
  description: 'Current weather by city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}];

const scenarios = {
  async message() {
    const { data, response } = await client.messages
      .create({ model: 'demo/hello', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'sdk hello' }] })
      .withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.model, 'demo/hello');
    assert.match(data.id, /^msg_/);
    assert.deepEqual(data.content, [{ type: 'text', text: 'fake reply' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.usage.input_tokens, 7);
    assert.equal(data.usage.output_tokens, 3);
    assert.equal(response.headers.get('x-llmix-provider'), 'openai');
    assert.match(response.headers.get('x-llmix-trace-id'), /^[0-9a-f]{32}$/);
  },
  async tool_round() {  // the driver scripts a tool call reply
    const r = await client.messages.create({
      model: 'demo/hello',
      max_tokens: 64,
      tools,
      tool_choice: { type: 'auto' },
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '18C' }] },
      ],
    });
    assert.equal(r.stop_reason, 'tool_use');
    assert.deepEqual(r.content, [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Rome' } }]);
  },
  async errors() {  // the driver makes the fake answer 429 once
    await assert.rejects(client.messages.create({ model: 'demo/hello', max_tokens: 8, messages: [{ role: 'user', content: 'sdk 429' }] }), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError, `got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'rate_limit_error');
      return true;
    });
    await assert.rejects(client.messages.create({ model: 'demo/hello', max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, `got ${e.constructor.name}: ${e.message}`);
      assert.match(e.error.error.message, /^max_tokens: /);
      return true;
    });
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario "${name}"; one of: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
scenarios[name]().then(() => console.log(`ok ${name}`), (e) => { console.error(e); process.exit(1); });
