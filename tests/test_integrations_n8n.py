"""The n8n examples: importable workflows whose Code node accepts our webhooks.

The signature check of ``examples/n8n/receive_odoo_webhook.json`` is run with
Node.js (the runtime of n8n's Code node) against messages signed by the suite.
"""

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from saas_workflow_integrations.lib import body, signing

EXAMPLES = Path(__file__).resolve().parent.parent / "saas_workflow_integrations" / "examples" / "n8n"
NODE = shutil.which("node") or shutil.which("nodejs")

# Runs the Code node's script with what n8n gives it: $input, $env and this.helpers.
HARNESS = """
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const raw = Buffer.from(input.body_b64, 'base64');
const $input = { first: () => ({ json: { headers: input.headers, body: {} } }) };
const $env = { ODOO_WEBHOOK_SECRET: input.secret };
const ctx = { helpers: { getBinaryDataBuffer: async (index, name) => {
  if (index !== 0 || name !== 'data') throw new Error('unexpected binary property');
  return raw;
} } };
const run = new Function('$input', '$env', 'require',
  'return (async function () {' + input.code + '\\n}).call(this);');
run.call(ctx, $input, $env, require).then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (err) => { process.stderr.write(String(err)); process.exit(1); });
"""


def _workflow(name):
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _code_node():
    nodes = _workflow("receive_odoo_webhook.json")["nodes"]
    return next(node for node in nodes if node["type"] == "n8n-nodes-base.code")


def _message(msg_id="evt_0123456789abcdef0123456789abcdef"):
    envelope = body.envelope(
        msg_id, "sale.order.confirmed", 1, "2025-11-03T20:26:10.344522Z",
        {"database": "prod", "company_id": 1, "base_url": "https://erp.example.com"},
        {"object": {"model": "sale.order", "id": 42}, "amount_total": "1250.00", "note": "Zoë €"},
    )
    return msg_id, body.dumps(envelope)


def _verify(headers, raw, secret):
    payload = {
        "code": _code_node()["parameters"]["jsCode"],
        "headers": {k.lower(): v for k, v in headers.items()},
        "body_b64": base64.b64encode(raw).decode(),
        "secret": secret,
    }
    proc = subprocess.run(
        [NODE, "-e", HARNESS], input=json.dumps(payload), capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    return item["json"]


def test_workflows_are_importable_n8n_json():
    for name in ("receive_odoo_webhook.json", "write_back_to_odoo.json"):
        workflow = _workflow(name)
        names = {node["name"] for node in workflow["nodes"]}
        assert workflow["name"] and workflow["nodes"]
        for node in workflow["nodes"]:
            assert node["type"].startswith("n8n-nodes-base.") and node["typeVersion"]
        for source, outputs in workflow["connections"].items():
            assert source in names
            for branch in outputs["main"]:
                assert all(link["node"] in names for link in branch)
    # The stand-alone script is the one embedded in the workflow.
    assert (EXAMPLES / "verify_signature.js").read_text(encoding="utf-8") == _code_node()["parameters"]["jsCode"]
    webhook = next(n for n in _workflow("receive_odoo_webhook.json")["nodes"] if n["type"].endswith(".webhook"))
    assert webhook["parameters"]["options"]["rawBody"] is True


def test_write_back_uses_an_api_key_not_a_password():
    text = (EXAMPLES / "write_back_to_odoo.json").read_text(encoding="utf-8")
    assert "$env.ODOO_API_KEY" in text and "/jsonrpc" in text and "execute_kw" in text
    assert "password" not in text.lower()


@pytest.mark.skipif(not NODE, reason="Node.js is not installed")
def test_code_node_accepts_our_signature_and_rejects_tampering():
    secret = signing.generate_secret()
    msg_id, raw = _message()
    headers = signing.build_headers([secret], msg_id, raw)
    result = _verify(headers, raw, secret)
    assert result["valid"] is True, result
    assert result["webhookId"] == msg_id
    assert result["event"]["data"]["note"] == "Zoë €"

    tampered = raw.replace(b"1250.00", b"9250.00")
    assert _verify(headers, tampered, secret) == {
        "valid": False, "reason": "invalid signature", "webhookId": msg_id, "event": None
    }
    assert _verify(headers, raw, signing.generate_secret())["reason"] == "invalid signature"
    stale = signing.build_headers([secret], msg_id, raw, timestamp=time.time() - 600)
    assert _verify(stale, raw, secret)["reason"] == "stale timestamp"
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
    assert _verify(unsigned, raw, secret)["reason"] == "missing webhook headers"


@pytest.mark.skipif(not NODE, reason="Node.js is not installed")
def test_code_node_keeps_working_during_a_rotation():
    old, new = signing.generate_secret(), signing.generate_secret()
    msg_id, raw = _message()
    headers = signing.build_headers([new, old], msg_id, raw)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert _verify(headers, raw, old)["valid"] is True
    assert _verify(headers, raw, new)["valid"] is True
    after_overlap = signing.build_headers([new], msg_id, raw)
    assert _verify(after_overlap, raw, old)["valid"] is False
