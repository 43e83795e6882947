'use strict';
// Checks VAPID (RFC 8292) artefacts with Node's own crypto and the web-push
// library, independent of our implementation.
//
//   node vapid_verify.js [input.json]
//     Input {"jwt": ..., "public_key": 65-byte point, base64url} from the file
//     or stdin. Prints "ok" when the JWT is an ES256 JWS (raw r||s signature)
//     that the key verifies, else "bad signature" or "error: ..." (exit 1).
//   node vapid_verify.js --generate-keys
//     Prints web-push's generateVAPIDKeys() result as JSON.
const crypto = require('crypto');
const fs = require('fs');

function verify(input) {
  const point = Buffer.from(input.public_key, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw new Error('public_key is not an uncompressed point');
  const key = crypto.createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const parts = input.jwt.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  if (header.alg !== 'ES256' || header.typ !== 'JWT') throw new Error('unexpected JWS header');
  JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  const signature = Buffer.from(parts[2], 'base64url');
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
                           {key, dsaEncoding: 'ieee-p1363'}, signature);
  return ok ? 'ok' : 'bad signature';
}

try {
  if (process.argv[2] === '--generate-keys') {
    process.stdout.write(JSON.stringify(require('web-push').generateVAPIDKeys()));
  } else {
    const result = verify(JSON.parse(fs.readFileSync(process.argv[2] || 0, 'utf8')));
    process.stdout.write(result);
    if (result !== 'ok') process.exitCode = 1;
  }
} catch (e) {
  process.stdout.write(`error: ${e.message}`);
  process.exitCode = 1;
}
