// LiveKit's own server SDK (npm livekit-server-sdk) as an oracle for our tokens and for
// webhook signatures: one JSON request per line on stdin, one JSON answer per line, in
// order (the SDK's calls are async, so answers are chained).
'use strict';
const readline = require('readline');
const { AccessToken, TokenVerifier, WebhookReceiver } = require('livekit-server-sdk');
const crypto = require('crypto');

async function answer(req) {
  switch (req.op) {
    // Verify a token with the SDK; answer its claims.
    case 'lk_verify': {
      const claims = await new TokenVerifier(req.key, req.secret).verify(req.token);
      return claims;
    }
    // The Authorization value LiveKit puts on a webhook: a token from the API key whose
    // sha256 claim is base64(SHA-256(body)), valid for ttl seconds (negative: already
    // expired, which the SDK mints as asked).
    case 'lk_webhook_auth': {
      const at = new AccessToken(req.key, req.secret, { ttl: req.ttl });
      at.sha256 = crypto.createHash('sha256').update(req.body).digest('base64');
      return { authorization: await at.toJwt() };
    }
    // The SDK's own webhook receiver on a body and header.
    case 'lk_webhook_receive': {
      const ev = await new WebhookReceiver(req.key, req.secret).receive(req.body, req.authorization);
      return { event: ev.event };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let out;
    try {
      out = await answer(JSON.parse(line));
    } catch (e) {
      out = { error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
