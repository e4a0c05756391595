#!/usr/bin/env node
// Offline validation of Kubernetes manifests (multi-document YAML or JSON, from files or stdin):
// 1. every document is a known kind, checked against its OpenAPI schema by kubernetes-models
//    (types, enums, required fields);
// 2. every field name is known to that schema. kubernetes-models ignores unknown properties, so
//    each property is probed: replaced by a value no schema accepts (a function), a known field
//    must then fail validation at exactly its path; one that still validates is unknown
//    (a misspelling, or a field that does not exist at that place).
// Prints one line per problem and exits 1 if there is any.
'use strict';
const fs = require('fs');
const YAML = require('yaml');

function modelFor(apiVersion, kind) {
  for (const prefix of ['kubernetes-models/', '@kubernetes-models/cert-manager/']) {
    let mod;
    try {
      mod = require(prefix + apiVersion);
    } catch (e) {
      continue;
    }
    if (typeof mod[kind] === 'function') return mod[kind];
  }
  return null;
}

function validationErrors(Model, obj) {
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    return e.errors;
  }
}

const pointer = (path) => path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

// Every [path-to-property] below `value` (object keys; array items are walked through).
function propertyPaths(value, path, out) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => propertyPaths(v, path.concat(i), out));
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) {
      out.push(path.concat(k));
      propertyPaths(value[k], path.concat(k), out);
    }
  }
  return out;
}

function unknownFields(Model, doc) {
  const unknown = [];
  const sentinel = () => 0;
  for (const path of propertyPaths(doc, [], [])) {
    if (path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind')) continue;
    const probe = structuredClone(doc);
    let parent = probe;
    for (const k of path.slice(0, -1)) parent = parent[k];
    parent[path[path.length - 1]] = sentinel;
    const where = pointer(path);
    const hit = validationErrors(Model, probe).some(
      (e) => e.instancePath === where || e.instancePath.startsWith(where + '/'));
    if (!hit) unknown.push(where);
  }
  return unknown;
}

function validateDoc(doc, label) {
  const problems = [];
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return [`${label}: not an object`];
  const Model = modelFor(doc.apiVersion, doc.kind);
  if (!Model) return [`${label}: unknown kind ${doc.apiVersion}/${doc.kind}`];
  const name = doc.metadata && doc.metadata.name;
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) {
    problems.push(`${label}: metadata.name: missing or not a DNS name (${JSON.stringify(name)})`);
  }
  for (const e of validationErrors(Model, doc)) {
    problems.push(`${label}: ${e.instancePath || '/'} ${e.message}`);
  }
  for (const where of unknownFields(Model, doc)) problems.push(`${label}: ${where}: unknown field`);
  return problems;
}

function main() {
  const inputs = process.argv.slice(2);
  const texts = inputs.length ? inputs.map((f) => [f, fs.readFileSync(f, 'utf8')]) : [['stdin', fs.readFileSync(0, 'utf8')]];
  const problems = [];
  let count = 0;
  for (const [file, text] of texts) {
    YAML.parseAllDocuments(text).forEach((d, i) => {
      if (d.errors.length) {
        problems.push(`${file}#${i}: YAML: ${d.errors[0].message}`);
        return;
      }
      const doc = d.toJS();
      if (doc === null || doc === undefined) return;  // an empty document between separators
      count++;
      const label = `${file}#${i} ${doc.kind || '?'}/${(doc.metadata && doc.metadata.name) || '?'}`;
      problems.push(...validateDoc(doc, label));
    });
  }
  if (count === 0) problems.push('no documents');
  for (const p of problems) console.log(p);
  console.log(`validated ${count} document(s), ${problems.length} problem(s)`);
  process.exit(problems.length ? 1 : 0);
}

main();
