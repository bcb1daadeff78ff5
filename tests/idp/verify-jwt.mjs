// An independent check of Gatehouse's X-Gatehouse-Assertion with the npm
// package jose, as an upstream application would do it:
//
//   node verify-jwt.mjs <jwks-url> <issuer> <audience>   (tokens on stdin, one per line)
//
// Prints one JSON line per token: {"ok": true, "kid", "payload"} or
// {"ok": false, "code", "message"}.

import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';

const [jwksUrl, issuer, audience] = process.argv.slice(2);
if (!jwksUrl || !issuer || !audience) {
  console.error('usage: verify-jwt.mjs <jwks-url> <issuer> <audience> < tokens');
  process.exit(2);
}
const jwks = createRemoteJWKSet(new URL(jwksUrl));
let input = '';
for await (const chunk of process.stdin) input += chunk;
for (const token of input.split('\n').map((l) => l.trim()).filter(Boolean)) {
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['ES256'] });
    console.log(JSON.stringify({ ok: true, kid: decodeProtectedHeader(token).kid, payload }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, code: e.code || e.name, message: e.message }));
  }
}
