'use strict';
// Signs delivery-receipt webhooks the way the providers do, with code that is
// not ours: the twilio package (Twilio's own request validator), Node's crypto
// for SendGrid's ECDSA and the HMACs of Viber and generic providers, and
// @sendgrid/eventwebhook (SendGrid's own verifier) as a second opinion on
// every SendGrid signature.
//
//   node receipt_sign.js [jobs.json]
//     Input from the file or stdin: a JSON array of jobs, output a JSON array
//     of results in the same order. Exit status 1 on any failure.
//       {"kind": "twilio", "auth_token", "url", "params": [[name, value], ...]}
//         -> {"signature": getExpectedTwilioSignature(...),
//             "valid": validateRequest(...) with that signature}
//       {"kind": "sendgrid", "timestamp", "body", "private_key"?}
//         Signs timestamp + body with ECDSA P-256 / SHA-256 (DER). Without a
//         private_key (base64 PKCS#8 DER) a fresh key pair is made.
//         -> {"signature": base64 DER, "public_key": base64 SPKI DER,
//             "private_key": base64 PKCS#8 DER, "eventwebhook_valid": bool}
//       {"kind": "viber", "auth_token", "body"}
//         -> {"signature": lower-case hex HMAC-SHA256(auth_token, body)}
//       {"kind": "hmac", "algorithm": "sha256"|"sha1", "encoding": "hex"|"base64",
//        "secret", "body"}
//         -> {"signature": HMAC(secret, body) in that encoding}
//         (a generic provider's receipts, signed as its `receipts.signature` says)
//   node receipt_sign.js --check
//     Exits 0 when every module this script needs loads.
const crypto = require('crypto');
const fs = require('fs');

function twilio(job) {
  const {getExpectedTwilioSignature, validateRequest} = require('twilio');
  // Twilio's helpers take the form as an object; a repeated name is an array.
  const params = {};
  for (const [name, value] of job.params) {
    if (!(name in params)) {
      params[name] = value;
    } else if (Array.isArray(params[name])) {
      params[name].push(value);
    } else {
      params[name] = [params[name], value];
    }
  }
  const signature = getExpectedTwilioSignature(job.auth_token, job.url, params);
  return {signature, valid: validateRequest(job.auth_token, signature, job.url, params)};
}

function sendgrid(job) {
  let privateKey;
  if (job.private_key) {
    privateKey = crypto.createPrivateKey({
      key: Buffer.from(job.private_key, 'base64'), format: 'der', type: 'pkcs8'});
  } else {
    privateKey = crypto.generateKeyPairSync('ec', {namedCurve: 'prime256v1'}).privateKey;
  }
  const publicKey = crypto.createPublicKey(privateKey);
  const signed = Buffer.concat([Buffer.from(String(job.timestamp), 'utf8'),
                                Buffer.from(job.body, 'utf8')]);
  const signature = crypto.sign('sha256', signed, {key: privateKey, dsaEncoding: 'der'});
  const publicB64 = publicKey.export({format: 'der', type: 'spki'}).toString('base64');
  const {EventWebhook} = require('@sendgrid/eventwebhook');
  const ew = new EventWebhook();
  return {
    signature: signature.toString('base64'),
    public_key: publicB64,
    private_key: privateKey.export({format: 'der', type: 'pkcs8'}).toString('base64'),
    eventwebhook_valid: ew.verifySignature(ew.convertPublicKeyToECDSA(publicB64), job.body,
                                           signature.toString('base64'), String(job.timestamp)),
  };
}

function viber(job) {
  return {signature: crypto.createHmac('sha256', job.auth_token).update(job.body, 'utf8')
                         .digest('hex')};
}

function hmac(job) {
  if (!['sha256', 'sha1'].includes(job.algorithm)) {
    throw new Error(`unknown hmac algorithm ${job.algorithm}`);
  }
  if (!['hex', 'base64'].includes(job.encoding)) {
    throw new Error(`unknown hmac encoding ${job.encoding}`);
  }
  return {signature: crypto.createHmac(job.algorithm, job.secret).update(job.body, 'utf8')
                         .digest(job.encoding)};
}

try {
  if (process.argv[2] === '--check') {
    require('twilio');
    require('@sendgrid/eventwebhook');
  } else {
    const jobs = JSON.parse(fs.readFileSync(process.argv[2] || 0, 'utf8'));
    const kinds = {twilio, sendgrid, viber, hmac};
    process.stdout.write(JSON.stringify(jobs.map((job) => {
      if (!kinds[job.kind]) throw new Error(`unknown job kind ${job.kind}`);
      return kinds[job.kind](job);
    })));
  }
} catch (e) {
  console.error(`receipt_sign: ${e.message}`);
  process.exitCode = 1;
}
