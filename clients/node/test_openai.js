// The official OpenAI SDK (openai@4) pointed at the sidecar's HTTP front door, against a real
// sidecar + fake provider started by the ctest driver; one scenario per run.
'use strict';
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const env = (name) => { const v = process.env[name]; assert.ok(v, `${name} is not set`); return v; };
const client = new OpenAI({ baseURL: env('LLMIX_HTTP_BASE'), apiKey: process.env.LLMIX_TOKEN || 'unused', maxRetries: 0 });
const user = (content) => [{ role: 'user', content }];

const scenarios = {
  async chat() {
    const { data, response } = await client.chat.completions
      .create({ model: 'demo/hello', messages: user('sdk chat'), temperature: 0.7, max_tokens: 50, seed: 3, stop: ['END'] })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, 'demo/hello');
    assert.equal(data.choices[0].message.content, 'fake reply');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.prompt_tokens, 7);
    assert.equal(data.usage.completion_tokens, 3);
    assert.equal(response.headers.get('x-llmix-cache'), 'none');
    assert.match(response.headers.get('x-llmix-trace-id'), /^[0-9a-f]{32}$/);
    assert.ok(response.headers.get('x-llmix-config-revision'));
  },
  async raw_model() {
    const r = await client.chat.completions.create({ model: 'openai:gpt-4o-mini', messages: user('sdk raw') });
    assert.equal(r.choices[0].message.content, 'fake reply');
  },
  async tool_call() {
    const r = await client.chat.completions.create({
      model: 'demo/hello',
      messages: user('weather in Paris?'),
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'auto',
    });
    const msg = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.content, null);
    assert.equal(msg.tool_calls.length, 1);
    assert.equal(msg.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), { city: 'Paris' });
  },
  async rate_limited() {  // the driver makes the fake answer 429
    await assert.rejects(client.chat.completions.create({ model: 'demo/hello', messages: user('sdk 429') }), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.error.type, 'rate_limit_error');
      return true;
    });
  },
  async server_error() {  // the driver makes the fake answer 500
    await assert.rejects(client.chat.completions.create({ model: 'demo/hello', messages: user('sdk 500') }), (e) => {
      assert.ok(e instanceof OpenAI.InternalServerError, `got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 500);
      return true;
    });
  },
  async unknown_model() {
    await assert.rejects(client.chat.completions.create({ model: 'nope/missing', messages: user('x') }), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
  },
  async stream() {  // the driver makes the fake stream "Hello wörld ✓" in pieces
    const stream = await client.chat.completions.create({
      model: 'demo/hello', messages: user('sdk stream'), stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      chunks += 1;
      if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
      text += chunk.choices[0].delta.content || '';
      finish = chunk.choices[0].finish_reason || finish;
    }
    assert.equal(text, 'Hello wörld ✓');
    assert.equal(finish, 'stop');
    assert.ok(chunks > 3, `only ${chunks} chunks`);
    assert.deepEqual([usage.prompt_tokens, usage.completion_tokens, usage.total_tokens], [9, 6, 15]);
  },
  async stream_bad_field() {
    await assert.rejects(client.chat.completions.create({ model: 'demo/hello', messages: user('x'), stream: true, stream_options: { include_usage: 'yes' } }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /stream_options.include_usage/);
      return true;
    });
  },
  async cache_hit() {
    const ask = () => client.chat.completions.create({ model: 'demo/hello', messages: user('sdk cached') }).withResponse();
    const first = await ask();
    const second = await ask();
    assert.equal(first.response.headers.get('x-llmix-cache'), 'none');
    assert.equal(second.response.headers.get('x-llmix-cache'), 'l1');
    assert.equal(second.data.choices[0].message.content, first.data.choices[0].message.content);
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['demo/hello', 'demo/reasoning', 'support/triage']);
  },
  async embeddings() {
    // The SDK asks for base64 by default and decodes it; the explicit float answer must agree.
    const model = 'openai:text-embedding-3-small';
    const { data: b64, response } = await client.embeddings.create({ model, input: ['sdk a', 'sdk b'] }).withResponse();
    assert.equal(b64.object, 'list');
    assert.equal(b64.model, model);
    assert.deepEqual(b64.data.map((d) => d.index), [0, 1]);
    assert.equal(b64.data[0].embedding.length, 4);
    assert.ok(b64.usage.prompt_tokens > 0);
    assert.equal(response.headers.get('x-llmix-provider'), 'openai');
    const floats = await client.embeddings.create({ model, input: ['sdk a', 'sdk b'], encoding_format: 'float' });
    assert.deepEqual(floats.data.map((d) => d.embedding), b64.data.map((d) => d.embedding));
    const short = await client.embeddings.create({ model, input: 'sdk a', dimensions: 2, encoding_format: 'float' });
    assert.equal(short.data[0].embedding.length, 2);
    await assert.rejects(client.embeddings.create({ model, input: [] }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.param, 'input');
      return true;
    });
  },
  async unauthenticated() {  // the driver starts the sidecar with --auth-token-file
    const anon = new OpenAI({ baseURL: env('LLMIX_HTTP_BASE'), apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(anon.chat.completions.create({ model: 'demo/hello', messages: user('x') }),
      (e) => e instanceof OpenAI.AuthenticationError);
    const r = await client.chat.completions.create({ model: 'demo/hello', messages: user('sdk authed') });
    assert.equal(r.choices[0].message.content, 'fake reply');
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario "${name}"; one of: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
scenarios[name]().then(() => console.log(`ok ${name}`), (e) => { console.error(e); process.exit(1); });
