// An HTTPS server (Node's own TLS and HTTP stacks) for the transport tests:
// answers every request with 200 and a JSON description of what it received,
// so a test can check the bytes a client sent. Connections it accepted are
// counted in the answer.
//
//   node https_echo.js --key key.pem --cert cert.pem --port-file FILE
//                      [--keep-alive-ms N]
'use strict';
const fs = require('fs');
const https = require('https');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

let connections = 0;
const server = https.createServer({key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert)},
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'), connections,
        alpn: req.socket.alpnProtocol || '',
      });
      res.writeHead(200, {'Content-Type': 'application/json'});
      res.end(body);
    });
  });
server.on('secureConnection', () => { connections += 1; });
if (args['keep-alive-ms']) server.keepAliveTimeout = Number(args['keep-alive-ms']);
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(args['port-file'] + '.tmp', String(server.address().port));
  fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
});
process.on('SIGTERM', () => process.exit(0));
