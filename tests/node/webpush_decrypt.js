'use strict';
// Plays the browser for the Web Push tests: decrypts an RFC 8291 (aes128gcm)
// message body with the http_ece library, independent of our implementation.
//
// Input: JSON from the file named by the first argument, or from stdin:
//   {"body_b64url": ..., "ua_private": raw 32-byte d, "ua_public": 65-byte point,
//    "auth": 16-byte secret}   (all base64url)
// Output: the plaintext bytes, nothing else. Exit status 1 on failure.
const crypto = require('crypto');
const fs = require('fs');
const ece = require('http_ece');

const b64 = (s) => Buffer.from(s, 'base64url');

try {
  const input = JSON.parse(fs.readFileSync(process.argv[2] || 0, 'utf8'));
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(b64(input.ua_private));
  if (!ecdh.getPublicKey().equals(b64(input.ua_public))) {
    throw new Error('ua_public does not belong to ua_private');
  }
  const body = b64(input.body_b64url);
  // The sender's public key travels as the keyid of the aes128gcm header.
  const asPublic = body.subarray(21, 21 + body[20]);
  const plaintext = ece.decrypt(body, {
    version: 'aes128gcm',
    privateKey: ecdh,
    dh: asPublic,
    authSecret: b64(input.auth),
  });
  process.stdout.write(plaintext);
} catch (e) {
  console.error(`webpush_decrypt: ${e.message}`);
  process.stdout.write(`error: ${e.message}`);
  process.exitCode = 1;
}
