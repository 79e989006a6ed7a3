// A real OAuth 2.0 / OpenID Connect authorization server (npm `oidc-provider`, certified OpenID
// Connect implementation) configured for SMART App Launch, in front of the Medplum test FHIR server.
// For the end-to-end launch test only: loopback, data in memory, one public client.
//
// Usage: node server.mjs --fhir http://127.0.0.1:P/fhir --redirect-uri http://127.0.0.1:S/app/
//                        [--client-id cds-service-smart-app] [--port 0]
// Prints one line when ready: SMART_AUTH_READY {"issuer":"http://127.0.0.1:PORT","fhir":"http://127.0.0.1:PORT/fhir"}
//
// What it does, as an EHR's SMART server does:
//   GET  /fhir/.well-known/smart-configuration   SMART discovery (PKCE S256, permission-v2, launch-ehr...)
//   /auth, /token, /jwks, /me ...                oidc-provider's endpoints: authorization code + PKCE
//                                                (required for public clients), `state`, id_token with
//                                                `fhirUser`; the token response carries SMART's `patient`
//                                                and CDS Hooks' `appContext` from the launch context
//   POST /_test/launch {patient, appContext}     the EHR registers a launch context; answers {launch}
//   GET  /interaction/:uid                       the EHR's signed-in user approves: checks `launch` and
//                                                `aud`, grants the requested scopes the client may have
//   /fhir/*                                      resource server: a valid access token whose scopes cover
//                                                the resource type, for the launched patient only; then
//                                                proxied to Medplum (its URLs rewritten to this origin)
//   POST /_test/settings {standalonePatient, v2}  the patient the user picks in a standalone launch;
//                                                whether discovery announces SMART v2 permissions
//   GET  /_test/requests                         what the browser asked here (method, path, origin)

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const READ_TYPES = ['Patient', 'MedicationRequest', 'Medication', 'Observation', 'Condition'];
const SCOPES = [
  'openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access',
  ...READ_TYPES.flatMap((t) => [`patient/${t}.rs`, `patient/${t}.read`]),
];

function parseArgs(argv) {
  const options = { port: 0, clientId: 'cds-service-smart-app', fhir: null, redirectUri: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') options.port = Number(argv[++i]);
    else if (argv[i] === '--fhir') options.fhir = argv[++i].replace(/\/+$/, '');
    else if (argv[i] === '--redirect-uri') options.redirectUri = argv[++i];
    else if (argv[i] === '--client-id') options.clientId = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!options.fhir || !options.redirectUri) throw new Error('--fhir and --redirect-uri are required');
  return options;
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 65536) throw new Error('body too large');
  }
  return text ? JSON.parse(text) : {};
}

/** The resource type and patient a FHIR request is about (`Patient/x`, `Type?patient=x`). */
function target(path, searchParams) {
  const [type, id] = path.split('/').filter(Boolean);
  if (type === 'Patient' && id) return { type, patient: id };
  const patient = (searchParams.get('patient') || searchParams.get('subject') || '').replace(/^Patient\//, '');
  return { type, patient: patient || null };
}

function scopeAllows(scopes, type) {
  return scopes.has(`patient/${type}.rs`) || scopes.has(`patient/${type}.read`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const launches = new Map(); // launch id -> {patient, appContext}
  const contexts = new Map(); // grant id -> {patient, appContext}
  const requestLog = [];
  const testSettings = { standalonePatient: null, v2: true };
  const serviceOrigin = new URL(options.redirectUri).origin;

  const server = createServer();
  await new Promise((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const fhirBase = `${issuer}/fhir`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: options.clientId,
      token_endpoint_auth_method: 'none',
      redirect_uris: [options.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      scope: SCOPES.join(' '),
    }],
    scopes: SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    extraParams: ['launch', 'aud'],
    pkce: { required: () => true },
    clientBasedCORS: (ctx, origin) => origin === serviceOrigin,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomUUID()] },
    findAccount: (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, fhirUser: `${fhirBase}/Practitioner/${sub}` }),
    }),
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
  // SMART: the token response names the launch's patient (and CDS Hooks' appContext).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.access_token) {
      const token = await provider.AccessToken.find(ctx.body.access_token);
      const context = token && contexts.get(token.grantId);
      if (context) {
        ctx.body = { ...ctx.body, patient: context.patient, need_patient_banner: false,
          ...(context.appContext ? { appContext: context.appContext } : {}) };
      }
    }
  });
  const oidc = provider.callback();

  async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { params, prompt } = details;
    let result;
    const launch = params.launch ? launches.get(params.launch) : null;
    const scopes = String(params.scope || '').split(' ');
    if (params.aud !== fhirBase) {
      result = { error: 'invalid_request', error_description: 'aud must be this server\'s FHIR base URL' };
    } else if (scopes.includes('launch') && !launch) {
      result = { error: 'invalid_request', error_description: 'unknown launch context' };
    } else if (!launch && !(scopes.includes('launch/patient') && testSettings.standalonePatient)) {
      result = { error: 'access_denied', error_description: 'no patient chosen' };
    } else {
      const accountId = 'test-practitioner';
      const grant = new provider.Grant({ accountId, clientId: params.client_id });
      grant.addOIDCScope(scopes.filter((s) => SCOPES.includes(s)).join(' '));
      grant.addOIDCClaims(['fhirUser']);
      const grantId = await grant.save();
      contexts.set(grantId, launch ?? { patient: testSettings.standalonePatient, appContext: null });
      result = prompt.name === 'login'
        ? { login: { accountId }, consent: { grantId } }
        : { consent: { grantId } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }

  function smartConfiguration() {
    return {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      grant_types_supported: ['authorization_code'],
      response_types_supported: ['code'],
      scopes_supported: SCOPES,
      token_endpoint_auth_methods_supported: ['none'],
      code_challenge_methods_supported: ['S256'],
      capabilities: ['launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient',
        'context-standalone-patient', ...(testSettings.v2 ? ['permission-v2'] : []), 'permission-v1',
        'permission-patient', 'sso-openid-connect'],
    };
  }

  async function fhir(req, res, url) {
    const cors = { 'Access-Control-Allow-Origin': serviceOrigin, 'Vary': 'Origin' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Authorization, Accept, Content-Type',
        'Access-Control-Allow-Methods': 'GET, OPTIONS', 'Access-Control-Max-Age': '600' });
      return res.end();
    }
    const path = url.pathname.slice('/fhir'.length);
    if (path === '/.well-known/smart-configuration') return sendJson(res, 200, smartConfiguration(), cors);
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'read only' }, cors);
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ? await provider.AccessToken.find(bearer) : null;
    const context = token && !token.isExpired ? contexts.get(token.grantId) : null;
    if (path !== '/metadata') {
      if (!context) return sendJson(res, 401, { error: 'invalid_token' }, { ...cors, 'WWW-Authenticate': 'Bearer' });
      const wanted = target(path, url.searchParams);
      const scopes = new Set(String(token.scope).split(' '));
      if (!scopeAllows(scopes, wanted.type) || wanted.patient !== context.patient) {
        return sendJson(res, 403, { error: 'insufficient_scope', type: wanted.type }, cors);
      }
    }
    const upstream = await fetch(`${options.fhir}${path}${url.search}`, { headers: { Accept: 'application/fhir+json' } });
    const text = (await upstream.text()).replaceAll(options.fhir, fhirBase);
    res.writeHead(upstream.status, { ...cors, 'Content-Type': 'application/fhir+json; charset=utf-8' });
    return res.end(text);
  }

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (!url.pathname.startsWith('/_test/')) {
        requestLog.push({
          method: req.method, path: url.pathname, origin: req.headers.origin ?? null,
          params: [...url.searchParams.keys()], code_challenge_method: url.searchParams.get('code_challenge_method'),
          scope: url.pathname === '/auth' ? url.searchParams.get('scope') : undefined,
        });
      }
      if (url.pathname === '/_test/launch' && req.method === 'POST') {
        const body = await readJson(req);
        const launch = randomUUID();
        launches.set(launch, { patient: String(body.patient), appContext: body.appContext ?? null });
        return sendJson(res, 200, { launch });
      }
      if (url.pathname === '/_test/requests') return sendJson(res, 200, requestLog);
      if (url.pathname === '/_test/settings' && req.method === 'POST') {
        Object.assign(testSettings, await readJson(req));
        return sendJson(res, 200, testSettings);
      }
      if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) return await fhir(req, res, url);
      if (url.pathname.startsWith('/interaction/')) return await interaction(req, res);
      return oidc(req, res);
    } catch (err) {
      console.error(`request failed: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.end();
    }
  });

  console.log(`SMART_AUTH_READY ${JSON.stringify({ issuer, fhir: fhirBase })}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(`SMART auth test server failed to start: ${err.message}`);
  process.exit(1);
});
