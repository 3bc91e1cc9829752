// Verifies a Standard Webhooks signature sent by Odoo (SaaS Workflow Integrations).
// Needs NODE_FUNCTION_ALLOW_BUILTIN=crypto and the endpoint secret in ODOO_WEBHOOK_SECRET.
const crypto = require('crypto');
const TOLERANCE = 300; // seconds
const item = $input.first();
const headers = item.json.headers || {};
const secret = ($env.ODOO_WEBHOOK_SECRET || '').replace(/^whsec_/, '');
// The raw body exactly as received (Webhook node option "Raw Body").
const raw = await this.helpers.getBinaryDataBuffer(0, 'data');
const id = headers['webhook-id'];
const ts = headers['webhook-timestamp'];
const offered = (headers['webhook-signature'] || '').split(' ');
const now = Math.floor(Date.now() / 1000);
let valid = false;
let reason = '';
if (!secret) {
  reason = 'ODOO_WEBHOOK_SECRET is not set';
} else if (!id || !ts || offered[0] === '') {
  reason = 'missing webhook headers';
} else if (!/^\d+$/.test(ts) || Math.abs(now - Number(ts)) > TOLERANCE) {
  reason = 'stale timestamp';
} else {
  const key = Buffer.from(secret, 'base64');
  const expected = crypto.createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${ts}.`, 'utf8'), raw]))
    .digest();
  valid = offered.some((sig) => {
    const [version, value] = sig.split(',');
    if (version !== 'v1' || !value) return false;
    const got = Buffer.from(value, 'base64');
    return got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
  reason = valid ? '' : 'invalid signature';
}
return [{ json: { valid, reason, webhookId: id || null, event: valid ? JSON.parse(raw.toString('utf8')) : null } }];
