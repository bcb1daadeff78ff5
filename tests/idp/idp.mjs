// The OpenID Provider Gatehouse's tests sign in against: the npm package
// oidc-provider (OpenID-certified), started by the Rust test harness with a
// JSON configuration in IDP_CONFIG. It prints one line, `listening <issuer>`,
// once it accepts requests.
//
// Besides the standard endpoints it has:
//   GET  /interaction/:uid          a small sign-in form (consent is granted automatically)
//   POST /interaction/:uid/login    login=<account id>
//   POST /interaction/:uid/abort    the user cancels: error=access_denied
//   POST /__test/misbehave          {"mode", "client_id"?, "times"?}: tamper with the next token/userinfo responses
//   POST /__test/reset              no misbehaviour, keys as at start
//   POST /__test/rotate             {"drop_old"?, "every_login"?}: sign ID tokens with a new key, published in
//                                   the JWKS (every_login: a new key for every token response, old ones kept)
//   POST /__test/logout_token       {"client_id", "sub"?, "sid"?, "tamper"?, "alg"?}: a signed back-channel logout
//                                   token (alg "ES256": signed with the EC key, published with "ec_key" in the config)
//   POST /__test/fail               {"path", "status", "times"?, "delay_ms"?}: answer requests to path with an
//                                   error status (after delay_ms: a hanging endpoint)
//   GET  /__test/hits?path=P        when requests to P arrived (ms since the epoch) and when they were answered
//   GET  /__test/requests           the authorization and end-session requests seen, with their query
//   POST /__test/userinfo_claims    {"account", "claims"}: change an account's claims
//   POST /__test/sign               {"claims", "tamper"?, "key"?}: a JWT signed with the IdP's key (iss, iat,
//                                   exp default; a claim set to null is left out); tamper: alg_none,
//                                   bad_signature, hs256, foreign_key; key "pem": the extra key below
//   POST /__test/claim_sources      {"account", "aggregated"?: {claims}, "distributed"?: {claims}, "host"?, "as_json"?}:
//                                   userinfo for the account points to aggregated claims (a JWT signed by the
//                                   IdP) and distributed claims (served at /__test/distributed/<account> on
//                                   "host", default the issuer's, with an access token of its own)
//   GET  /__test/distributed/<acct> the distributed claims (Authorization: Bearer <that token>), a signed JWT
//                                   or, with as_json, a JSON object
//   GET  /__test/pem                the public half (SPKI PEM) of an extra ES256 key, not in the JWKS
//
// With "ec_key": true in the configuration, the JWKS also publishes an ES256
// key (kid "ec-1") that signs nothing unless asked to.
//
// With "resource" in the configuration, client_credentials grants with that
// resource indicator get JWT access tokens (aud = the resource), carrying the
// "tokenClaims" configured for the client.
//
// Misbehaviour modes (ID token unless noted): wrong_iss, wrong_aud, multi_aud_no_azp,
// azp_mismatch, expired, future, bad_signature, alg_none, missing_kid,
// wrong_nonce, bad_at_hash, good_at_hash, hs256_client_secret, hs256_wrong_secret, no_iat, no_sub,
// unknown_kid, userinfo_sub_mismatch (userinfo), no_id_token (token response).

import http from 'node:http';
import crypto from 'node:crypto';
import { Provider } from 'oidc-provider';
import * as jose from 'jose';

const cfg = JSON.parse(process.env.IDP_CONFIG || '{}');

const defaultAccounts = {
  alice: {
    email: 'alice@example.com', email_verified: true, given_name: 'Alice', family_name: 'Liddell',
    name: 'Alice Liddell', groups: ['eng', 'admins'], department: 'R&D', level: 3,
        projects: ['apollo', 'gemini'], address: { locality: 'Porto', country: 'PT' }, is_admin: true,
    hd: 'example.com',
  },
  bob: { email: 'bob@example.com', email_verified: true, family_name: 'Builder', groups: ['eng'] },
  carol: { email: 'carol@example.com', email_verified: false, given_name: 'Carol', family_name: 'Danvers' },
  dave: { email: 'dave@example.com', email_verified: true, given_name: 'Dave', family_name: 'Grohl' },
};
const accounts = { ...defaultAccounts, ...(cfg.accounts || {}) };

async function newKey(kid, alg = 'RS256') {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid, alg, use: 'sig' };
}

const initialKeys = [];
for (let i = 0; i < (cfg.keys || 1); i += 1) initialKeys.push(await newKey(`k${i + 1}`));
const ecKey = await newKey('ec-1', 'ES256');
let extraKeys = [];      // published after a rotation
let signingKey = null;   // the key ID tokens are re-signed with after a rotation
let dropOld = false;
let rotateEveryLogin = false;
const hits = {};         // path -> [{ at, done }]
const claimSources = {}; // account -> { aggregated, distributed, host, as_json, token }

const publicJwk = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

// A key outside the JWKS, for bearer tokens checked with a configured PEM.
const pemKeyPair = await jose.generateKeyPair('ES256', { extractable: true });
const pemPublic = await jose.exportSPKI(pemKeyPair.publicKey);

const switches = { global: [], byClient: {} };
const failures = [];
const seen = [];

function takeMode(clientId, kinds) {
  const lists = [switches.byClient[clientId] || [], switches.global];
  for (const list of lists) {
    const i = list.findIndex((s) => kinds.includes(s.mode));
    if (i >= 0) {
      const s = list[i];
      s.times -= 1;
      if (s.times <= 0) list.splice(i, 1);
      return s.mode;
    }
  }
  return null;
}

const TOKEN_MODES = ['wrong_iss', 'wrong_aud', 'multi_aud_no_azp', 'azp_mismatch', 'expired', 'future',
  'bad_signature', 'alg_none', 'missing_kid', 'wrong_nonce', 'bad_at_hash', 'good_at_hash',
  'hs256_client_secret', 'hs256_wrong_secret', 'unknown_kid', 'no_id_token', 'no_iat', 'no_sub'];

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function atHash(accessToken) {
  const digest = crypto.createHash('sha256').update(accessToken).digest();
  return b64u(digest.subarray(0, digest.length / 2));
}

async function sign(payload, header, jwk) {
  const key = await jose.importJWK(jwk, header.alg);
  return new jose.SignJWT(payload).setProtectedHeader(header).sign(key);
}

async function tamperIdToken(idToken, mode, client, accessToken) {
  const header = jose.decodeProtectedHeader(idToken);
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  const key = signingKey || initialKeys.find((k) => k.kid === header.kid) || initialKeys[0];
  const resign = (c, h = { alg: key.alg, kid: key.kid }) => sign(c, h, key);
  switch (mode) {
    case 'wrong_iss': return resign({ ...claims, iss: 'https://evil.example' });
    case 'wrong_aud': return resign({ ...claims, aud: 'someone-else' });
    case 'multi_aud_no_azp': { const { azp, ...c } = claims; return resign({ ...c, aud: [client.clientId, 'someone-else'] }); }
    case 'azp_mismatch': return resign({ ...claims, aud: [client.clientId, 'someone-else'], azp: 'someone-else' });
    case 'expired': return resign({ ...claims, iat: now - 7200, exp: now - 3600 });
    case 'future': return resign({ ...claims, iat: now + 3600, nbf: now + 3600, exp: now + 7200 });
    case 'bad_signature': {
      const [h, p, s] = (await resign(claims)).split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[0] ^= 0xff;
      return [h, p, b64u(sig)].join('.');
    }
    case 'alg_none': return `${b64u(JSON.stringify({ alg: 'none' }))}.${b64u(JSON.stringify(claims))}.`;
    case 'missing_kid': return resign(claims, { alg: key.alg });
    case 'no_iat': { const { iat, ...c } = claims; return resign(c); }
    case 'no_sub': { const { sub, ...c } = claims; return resign(c); }
    case 'unknown_kid': return resign(claims, { alg: key.alg, kid: 'nobody-knows-this-kid' });
    case 'wrong_nonce': return resign({ ...claims, nonce: 'not-the-nonce' });
    case 'bad_at_hash': return resign({ ...claims, at_hash: atHash(`${accessToken}x`) });
    case 'good_at_hash': return resign({ ...claims, at_hash: atHash(accessToken) });
    case 'hs256_client_secret':
      return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(client.clientSecret));
    case 'hs256_wrong_secret':
      return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('not-the-client-secret-at-all-00000'));
    default: return idToken;
  }
}

// oidc-provider's default in-memory adapter is an LRU of 1000 entries: a
// benchmark's thousands of sign-ins would evict live grants. Tests keep everything.
const storage = new Map();
class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    storage.set(this.key(id), { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : null });
    if (payload.grantId) {
      const g = `grant:${payload.grantId}`;
      storage.set(g, [...(storage.get(g) || []), this.key(id)]);
    }
    if (payload.userCode) storage.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) storage.set(`uid:${payload.uid}`, id);
  }
  async find(id) {
    const e = storage.get(this.key(id));
    if (!e || (e.expires && e.expires < Date.now())) return undefined;
    return e.payload;
  }
  async findByUserCode(code) { const id = storage.get(`userCode:${code}`); return id && this.find(id); }
  async findByUid(uid) { const id = storage.get(`uid:${uid}`); return id && this.find(id); }
  async consume(id) { const e = storage.get(this.key(id)); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { storage.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const k of storage.get(`grant:${grantId}`) || []) storage.delete(k);
    storage.delete(`grant:${grantId}`);
  }
}

let issuer = cfg.issuer;
let provider;
function makeProvider() {
provider = new Provider(issuer, {
    adapter: MapAdapter,
  clients: cfg.clients || [],
  jwks: { keys: initialKeys },
  findAccount: async (ctx, id) => (accounts[id] ? {
    accountId: id,
    claims: async () => ({ sub: id, ...accounts[id] }),
  } : undefined),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
        profile: ['name', 'given_name', 'family_name', 'hd'],
    groups: ['groups'],
    custom: ['department', 'level', 'projects', 'address', 'is_admin'],
  },
  conformIdTokenClaims: cfg.conformIdTokenClaims ?? true,
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // Confirm at once (tests follow redirects; no button to press).
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><body>${form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>')}
          <script>document.forms[0].submit()</script></body></html>`;
      },
      postLogoutSuccessSource: async (ctx) => { ctx.body = '<!DOCTYPE html><p>Signed out of the test IdP.</p>'; },
    },
    jwtUserinfo: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    ...(cfg.resource ? {
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== cfg.resource) throw new Error(`unknown resource ${indicator}`);
          return { scope: 'api', audience: indicator, accessTokenFormat: 'jwt', accessTokenTTL: 300 };
        },
      },
    } : {}),
  },
  extraTokenClaims: async (ctx, token) => (cfg.tokenClaims || {})[token.clientId],
    pkce: { required: () => true },
  // Back-channel logout and client jwks_uri requests go to Gatehouse on
  // *.localhost, which Node does not resolve; and oidc-provider's SSRF guard
  // (rightly, in production) refuses loopback. Tests only: send those to 127.0.0.1.
  fetch: (url, options) => {
    const u = new URL(url);
    if (u.hostname === 'localhost' || u.hostname.endsWith('.localhost')) return loopbackFetch(u, options);
    return globalThis.fetch(url, options);
  },
  cookies: { keys: ['gatehouse-test-idp-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: cfg.accessTokenTtl || 3600,
    IdToken: cfg.idTokenTtl || 3600,
    RefreshToken: 86400,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
    AuthorizationCode: 60,
    ClientCredentials: 600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><h1>IdP error</h1><pre>${Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')}</pre>`;
  },
});
provider.proxy = false;
for (const event of ['grant.error', 'server_error', 'backchannel.error', 'userinfo.error']) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    console.error(`test IdP ${event}: ${err ? `${err.message} ${err.error_detail || ''}` : ''}`);
  });
}

provider.use(async (ctx, next) => {
  const hit = { at: Date.now(), done: null };
  (hits[ctx.path] ||= []).push(hit);
  if (hits[ctx.path].length > 1000) hits[ctx.path].shift();
  try {
    await handle(ctx, next);
  } finally {
    hit.done = Date.now();
  }
});

async function handle(ctx, next) {
  const f = failures.find((x) => x.path === ctx.path);
  if (f) {
    f.times -= 1;
    if (f.times <= 0) failures.splice(failures.indexOf(f), 1);
    if (f.delay_ms) await new Promise((r) => { setTimeout(r, f.delay_ms); });
    ctx.status = f.status;
    ctx.body = { error: 'server_error', error_description: 'test IdP told to fail' };
    return;
  }
  if (ctx.path === '/auth' || ctx.path === '/session/end') {
    seen.push({ path: ctx.path, method: ctx.method, query: Object.fromEntries(new URL(ctx.href).searchParams) });
  }
  await next();
  if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const client = ctx.oidc && ctx.oidc.client;
    if (rotateEveryLogin) {
      const key = await newKey(`rotated-${extraKeys.length + 1}`);
      extraKeys.push(key);
      signingKey = key;
    }
    const mode = client && takeMode(client.clientId, TOKEN_MODES);
    if (mode === 'no_id_token') {
      delete ctx.body.id_token;
    } else if (mode || signingKey) {
      ctx.body.id_token = await tamperIdToken(ctx.body.id_token, mode || 'resign', client, ctx.body.access_token);
      if (!mode) ctx.body.id_token = await tamperIdToken(ctx.body.id_token, 'good_at_hash', client, ctx.body.access_token);
    }
  }
  if (ctx.path === '/me' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    const client = ctx.oidc && ctx.oidc.client;
    if (client && takeMode(client.clientId, ['userinfo_sub_mismatch'])) ctx.body = { ...ctx.body, sub: 'someone-else' };
    const cs = claimSources[ctx.body.sub];
    if (cs) {
      const names = {};
      const sources = {};
      if (cs.aggregated) {
        for (const k of Object.keys(cs.aggregated)) names[k] = 'src1';
        const key = signingKey || initialKeys[0];
        sources.src1 = { JWT: await sign({ iss: issuer, sub: ctx.body.sub, ...cs.aggregated }, { alg: key.alg, kid: key.kid }, key) };
      }
      if (cs.distributed) {
        for (const k of Object.keys(cs.distributed)) names[k] = 'src2';
        const base = cs.host ? `http://${cs.host}` : issuer;
        sources.src2 = { endpoint: `${base}/__test/distributed/${encodeURIComponent(ctx.body.sub)}`, access_token: cs.token };
      }
      ctx.body = { ...ctx.body, _claim_names: names, _claim_sources: sources };
    }
  }
  if (ctx.path === '/jwks' && ctx.status === 200 && ctx.body && Array.isArray(ctx.body.keys)) {
    const base = dropOld ? [] : ctx.body.keys;
    ctx.body = { keys: [...base, ...extraKeys.map(publicJwk), ...(cfg.ec_key ? [publicJwk(ecKey)] : [])] };
  }
}
}

function loopbackFetch(u, options) {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(options.headers || {}));
    let body;
    if (options.body instanceof URLSearchParams) {
      body = options.body.toString();
      headers['content-type'] ||= 'application/x-www-form-urlencoded';
    } else if (options.body) {
      body = String(options.body);
    }
    if (body) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request({
      host: '127.0.0.1',
      port: u.port || 80,
      path: u.pathname + u.search,
      method: options.method || 'GET',
      headers: { ...headers, host: u.host },
      signal: options.signal,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const nullBody = [101, 204, 205, 304].includes(res.statusCode);
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : String(v));
        resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res, status, body, type = 'application/json') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId, error) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1><p>Sign in to <strong>${esc(clientId)}</strong></p>
${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Account <input id="login" name="login" autofocus></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button id="cancel" type="submit">Cancel</button></form>
</body></html>`;
}

async function interaction(req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean); // ['interaction', uid, action?]
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (req.method === 'GET' && parts.length === 2) {
    if (prompt.name === 'login') return send(res, 200, loginPage(details.uid, params.client_id), 'text/html');
    if (prompt.name === 'consent') {
      const grant = grantId ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      if (prompt.details.missingResourceScopes) {
        for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes)) {
          grant.addResourceScope(indicator, scope.join(' '));
        }
      }
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    }
    return send(res, 501, { error: `prompt ${prompt.name} not implemented` });
  }
  if (req.method === 'POST' && parts[2] === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') || '';
    if (!accounts[login]) return send(res, 200, loginPage(details.uid, params.client_id, 'Unknown account'), 'text/html');
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && parts[2] === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled the sign-in' }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, { error: 'not found' });
}

async function control(req, res, url) {
  const body = req.method === 'POST' ? JSON.parse((await readBody(req)) || '{}') : {};
  switch (url.pathname) {
    case '/__test/misbehave': {
      const s = { mode: body.mode, times: body.times || 1 };
      if (body.client_id) (switches.byClient[body.client_id] ||= []).push(s);
      else switches.global.push(s);
      return send(res, 200, { ok: true });
    }
    case '/__test/reset':
      switches.global = []; switches.byClient = {}; extraKeys = []; signingKey = null; dropOld = false; failures.length = 0;
      rotateEveryLogin = false;
      return send(res, 200, { ok: true });
    case '/__test/rotate': {
      const key = await newKey(`rotated-${extraKeys.length + 1}`);
      extraKeys.push(key);
      signingKey = key;
      dropOld = !!body.drop_old;
      rotateEveryLogin = !!body.every_login;
      return send(res, 200, { kid: key.kid });
    }
    case '/__test/fail':
      failures.push({ path: body.path, status: body.status || 500, times: body.times || 1, delay_ms: body.delay_ms || 0 });
      return send(res, 200, { ok: true });
    case '/__test/hits':
      return send(res, 200, hits[url.searchParams.get('path')] || []);
    case '/__test/requests':
      return send(res, 200, seen);
    case '/__test/userinfo_claims':
      accounts[body.account] = body.claims;
      return send(res, 200, { ok: true });
    case '/__test/logout_token': {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: issuer, aud: body.client_id, iat: now, exp: now + 120, jti: body.jti || crypto.randomUUID(),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      };
      if (body.sub) claims.sub = body.sub;
      if (body.sid) claims.sid = body.sid;
      const key = body.alg === 'ES256' ? ecKey : (signingKey || initialKeys[0]);
      let header = { alg: key.alg, kid: key.kid, typ: 'logout+jwt' };
      let signWith = key;
      switch (body.tamper) {
        case 'nonce': claims.nonce = 'n'; break;
        case 'no_events': delete claims.events; break;
        case 'wrong_aud': claims.aud = 'someone-else'; break;
        case 'wrong_iss': claims.iss = 'https://evil.example'; break;
        case 'old_iat': claims.iat = now - 3600; claims.exp = now - 3000; break;
        case 'no_sub_no_sid': delete claims.sub; delete claims.sid; break;
        case 'forged': signWith = await newKey(key.kid); break;
        case 'alg_none':
          return send(res, 200, { logout_token: `${b64u(JSON.stringify({ alg: 'none' }))}.${b64u(JSON.stringify(claims))}.` });
        default: break;
      }
      return send(res, 200, { logout_token: await sign(claims, header, signWith), jti: claims.jti });
    }
    case '/__test/claim_sources':
      claimSources[body.account] = { ...body, token: crypto.randomUUID() };
      return send(res, 200, { ok: true });
    case '/__test/pem':
      return send(res, 200, { pem: pemPublic });
    case '/__test/sign': {
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: issuer, iat: now, exp: now + 300, ...(body.claims || {}) };
      for (const [k, v] of Object.entries(claims)) if (v === null) delete claims[k];
      const key = signingKey || initialKeys[0];
      let token;
      switch (body.tamper) {
        case 'alg_none':
          token = `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}.`;
          break;
        case 'hs256':
          token = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.kid })
            .sign(new TextEncoder().encode('a-shared-secret-nobody-configured-000'));
          break;
        case 'foreign_key':
          token = await sign(claims, { alg: key.alg, kid: key.kid }, await newKey(key.kid));
          break;
        case 'bad_signature': {
          // A valid signature over other claims: the payload is swapped after signing.
          const [h, , sig] = (await sign(claims, { alg: key.alg, kid: key.kid }, key)).split('.');
          token = [h, b64u(JSON.stringify({ ...claims, sub: 'someone-else' })), sig].join('.');
          break;
        }
        default:
          token = body.key === 'pem'
            ? await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(pemKeyPair.privateKey)
            : await sign(claims, { alg: key.alg, kid: key.kid, typ: 'JWT' }, key);
      }
      return send(res, 200, { token });
    }
    default: {
      const m = url.pathname.match(/^\/__test\/distributed\/(.+)$/);
      if (m) {
        const account = decodeURIComponent(m[1]);
        const cs = claimSources[account];
        if (!cs || req.headers.authorization !== `Bearer ${cs.token}`) return send(res, 401, { error: 'invalid_token' });
        if (cs.as_json) return send(res, 200, cs.distributed);
        const key = signingKey || initialKeys[0];
        return send(res, 200, await sign({ iss: issuer, sub: account, ...cs.distributed }, { alg: key.alg, kid: key.kid }, key), 'application/jwt');
      }
      return send(res, 404, { error: 'unknown control' });
    }
  }
}

let providerCallback;
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (url.pathname.startsWith('/__test/')) return await control(req, res, url);
    return providerCallback(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: 'test_idp_error', message: String(e && e.message) });
    else res.end();
  }
});

server.listen(cfg.port || 0, '127.0.0.1', () => {
  // The issuer needs the port, which is known only now.
  issuer ||= `http://127.0.0.1:${server.address().port}${cfg.issuer_path || ''}`;
  makeProvider();
  providerCallback = provider.callback();
  process.stdout.write(`listening ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
