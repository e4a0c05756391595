#!/usr/bin/env node
// Multi-document YAML on stdin -> one JSON array of the (non-empty) documents on stdout, so the
// C++ tests can read helm's output with nlohmann::json.
'use strict';
const YAML = require('yaml');
const docs = YAML.parseAllDocuments(require('fs').readFileSync(0, 'utf8'));
const bad = docs.find((d) => d.errors.length);
if (bad) {
  console.error(bad.errors[0].message);
  process.exit(1);
}
process.stdout.write(JSON.stringify(docs.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined)));
