'use strict';
// A real SMTP server for the SMTP adapter's tests. Listens on 127.0.0.1 (port
// 0 unless --port), requires AUTH PLAIN/LOGIN with --user/--pass, optionally
// refuses one recipient with 550, and appends one JSON line per received
// message (as parsed by mailparser) to --out. The chosen port is printed and,
// with --port-file, written there (atomically).
//
//   node smtp_sink.js --out msgs.jsonl --port-file port --user u --pass p
//        [--reject-rcpt bad@example.com] [--key key.pem --cert cert.pem]
//        [--secure]        implicit TLS (smtps)
//        [--no-starttls]   do not offer STARTTLS

const fs = require('fs');
const { SMTPServer } = require('smtp-server');
const { simpleParser } = require('mailparser');

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      args[key] = argv[++i];
    } else {
      args[key] = true;
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (!args.out) {
  console.error('usage: smtp_sink.js --out FILE [--port-file FILE] [--user U --pass P] ...');
  process.exit(2);
}

// Header values as they were on the wire, unfolded, keyed by lower-case name.
function rawHeaders(parsed) {
  const out = {};
  for (const { key, line } of parsed.headerLines || []) {
    const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]/g, ' ').trim();
    if (!(key in out)) out[key] = value;
  }
  return out;
}

const options = {
  logger: false,
  secure: Boolean(args.secure),
  authMethods: ['PLAIN', 'LOGIN'],
  allowInsecureAuth: true,
  authOptional: !args.user,
  hideSTARTTLS: Boolean(args['no-starttls']),
  // Real submission servers send RFC 3463 codes ("550 5.1.1 ..."); so do we.
  hideENHANCEDSTATUSCODES: false,
  size: 10 * 1024 * 1024,
  onAuth(auth, session, callback) {
    if (auth.username === args.user && auth.password === String(args.pass)) {
      return callback(null, { user: auth.username });
    }
    const err = new Error('Error: Invalid username or password');
    err.responseCode = 535;
    return callback(err);
  },
  onRcptTo(address, session, callback) {
    if (args['reject-rcpt'] && address.address === args['reject-rcpt']) {
      // smtp-server prefixes the enhanced code (5.1.1 for 550) itself.
      const err = new Error('<' + address.address + '>: Recipient address rejected');
      err.responseCode = 550;
      return callback(err);
    }
    return callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', async () => {
      const raw = Buffer.concat(chunks);
      try {
        const parsed = await simpleParser(raw);
        const headers = rawHeaders(parsed);
        const lines = raw.toString('latin1').split('\r\n');
        const record = {
          from: parsed.from ? parsed.from.value[0] : null,
          to: parsed.to ? parsed.to.text : null,
          subject: parsed.subject,
          text: parsed.text,
          html: parsed.html || null,
          message_id: parsed.messageId,
          envelope: {
            mail_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            rcpt_to: session.envelope.rcptTo.map((r) => r.address),
          },
          user: session.user || null,
          secure: Boolean(session.secure),
          max_line: Math.max(...lines.map((l) => l.length)),
          bare_lf: /[^\r]\n/.test(raw.toString('latin1')),
          headers: {
            'list-unsubscribe': headers['list-unsubscribe'] || null,
            'list-unsubscribe-post': headers['list-unsubscribe-post'] || null,
            'message-id': headers['message-id'] || null,
            date: headers['date'] || null,
            from: headers['from'] || null,
          },
        };
        fs.appendFileSync(args.out, JSON.stringify(record) + '\n');
        callback(null, 'queued');
      } catch (err) {
        err.responseCode = 451;
        callback(err);
      }
    });
  },
};
if (args.key) options.key = fs.readFileSync(args.key);
if (args.cert) options.cert = fs.readFileSync(args.cert);

const server = new SMTPServer(options);
server.on('error', (err) => console.error('smtp_sink:', err.message));
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  const port = server.server.address().port;
  console.log(port);
  if (args['port-file']) {
    fs.writeFileSync(args['port-file'] + '.tmp', String(port));
    fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
  }
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
