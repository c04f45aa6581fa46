"""PyPI `elevenlabs` as an oracle for the Rust tests: one JSON request per line on
stdin, one JSON answer per line on stdout.

- {"op": "verify", "body", "header", "secret"}: the SDK's own webhook verifier
  (`webhooks.construct_event`); answers {"ok": bool, "error"?}.
- {"op": "outbound", "base_url", "api_key", "agent_id", "phone_number_id", "to_number",
  "call_sid"}: place an outbound call with the SDK against `base_url` (a loopback
  stand-in that records what arrives); answers {"ok": bool, "conversation_id"?,
  "call_sid"?, "error"?}.
"""

import json
import sys

from elevenlabs import ElevenLabs


def answer(req):
    if req["op"] == "verify":
        client = ElevenLabs(api_key="unused")
        try:
            client.webhooks.construct_event(req["body"], req["header"], req["secret"])
            return {"ok": True}
        except Exception as e:  # the SDK raises BadRequestError; anything else is a refusal too
            return {"ok": False, "error": str(e)}
    if req["op"] == "outbound":
        client = ElevenLabs(api_key=req["api_key"], base_url=req["base_url"])
        try:
            r = client.conversational_ai.twilio.outbound_call(
                agent_id=req["agent_id"],
                agent_phone_number_id=req["phone_number_id"],
                to_number=req["to_number"],
                conversation_initiation_client_data={"dynamic_variables": {"call_sid": req["call_sid"]}},
            )
            return {"ok": r.success, "conversation_id": r.conversation_id, "call_sid": r.call_sid}
        except Exception as e:
            return {"ok": False, "error": str(e)}
    return {"ok": False, "error": "unknown op " + req["op"]}


for line in sys.stdin:
    print(json.dumps(answer(json.loads(line))), flush=True)
