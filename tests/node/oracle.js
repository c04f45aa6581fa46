// Vendors' own code as an oracle: reads one JSON request per line on stdin, answers one
// JSON line each. Used by the Rust tests; see package.json.
'use strict';
const readline = require('readline');
const twilio = require('twilio');
// SignalWire's compatibility library exposes its validators on RestClient.
const signalwire = require('@signalwire/compatibility-api').RestClient;

const libs = { twilio, signalwire };

// TwiML through twilio's VoiceResponse: each node is {name, attrs, text, children}; the
// builder method is the element name with a lower-case first letter.
function build(parent, node) {
  const method = node.name[0].toLowerCase() + node.name.slice(1);
  const child = node.text === undefined ? parent[method](node.attrs || {}) : parent[method](node.attrs || {}, node.text);
  for (const c of node.children || []) build(child, c);
}

function answer(req) {
  const lib = libs[req.lib || 'twilio'];
  switch (req.op) {
    case 'sign':
      return { signature: lib.getExpectedTwilioSignature(req.token, req.url, req.params || {}) };
    case 'validate':
      return { valid: lib.validateRequest(req.token, req.signature, req.url, req.params || {}) };
    case 'validate_body':
      return { valid: lib.validateRequestWithBody(req.token, req.signature, req.url, req.body) };
    case 'twiml': {
      const response = new twilio.twiml.VoiceResponse();
      for (const v of req.verbs) build(response, v);
      return { xml: response.toString() };
    }
    default:
      return { error: `unknown op ${req.op}` };
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let out;
  try {
    out = answer(JSON.parse(line));
  } catch (e) {
    out = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
