// Wire test through Python's imaplib (a second, independent client implementation).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from './harness.js';

function python(script: string, port: number): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('python3', ['-c', script, String(port)]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

const SCRIPT = String.raw`
import imaplib, sys, time, json
port = int(sys.argv[1])
out = {}
M = imaplib.IMAP4('127.0.0.1', port)
out['caps'] = sorted(M.capabilities)
M.login('alice', 'alice-pw')
def enc(s):
    # modified UTF-7 by hand (imaplib does not encode)
    import base64
    res, buf = [], []
    def flush():
        if buf:
            b = ''.join(buf).encode('utf-16-be')
            res.append('&' + base64.b64encode(b).decode().rstrip('=').replace('/', ',') + '-')
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            res.append('&-' if ch == '&' else ch)
        else:
            buf.append(ch)
    flush()
    return ''.join(res)
name = enc('Reçus')
out['create'] = M.create(name)[0]
out['rename'] = M.rename(name, '"' + enc('Reçus 2024') + '"')[0]
typ, data = M.list('""', '*')
out['list'] = sorted(x.decode() for x in data)
msg = b'From: py@example.test\r\nSubject: from python\r\n\r\nsnake body\r\n'
out['append'] = M.append('"' + enc('Reçus 2024') + '"', '(\\Flagged)', imaplib.Time2Internaldate(time.mktime((2024, 5, 6, 7, 8, 9, 0, 0, -1))), msg)[1][0].decode()
typ, data = M.select('"' + enc('Reçus 2024') + '"')
out['exists'] = data[0].decode()
typ, data = M.fetch('1', '(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[TEXT])')
out['fetch'] = [x.decode('latin1') if isinstance(x, bytes) else [y.decode('latin1') for y in x] for x in data]
typ, data = M.fetch('1', '(FLAGS)')
out['flags_after'] = data[0].decode()
out['search'] = M.search(None, 'BODY', 'snake')[1][0].decode()
out['uidsearch'] = M.uid('SEARCH', 'FLAGGED')[1][0].decode()
out['store'] = M.store('1', '+FLAGS', '(\\Deleted)')[1][0].decode()
out['expunge'] = [x.decode() for x in M.expunge()[1]]
out['status'] = M.status('INBOX', '(MESSAGES UIDNEXT)')[1][0].decode()
M.close()
out['delete'] = M.delete('"' + enc('Reçus 2024') + '"')[0]
M.logout()
print(json.dumps(out))
`;

describe('Python imaplib', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(async () => srv.close());

  it('creates/renames non-ASCII folders, appends, fetches, searches, stores, expunges', async () => {
    const r = await python(SCRIPT, srv.port);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.ok(out.caps.includes('IMAP4REV1'));
    assert.equal(out.create, 'OK');
    assert.equal(out.rename, 'OK');
    assert.deepEqual(out.list, ['(\\HasNoChildren) "." "Re&AOc-us 2024"', '(\\HasNoChildren) "." INBOX']);
    assert.match(out.append, /^\[APPENDUID \d+ 1\] Append completed\.$/);
    assert.equal(out.exists, '1');
    assert.equal(out.fetch[0][0], '1 (FLAGS (\\Flagged \\Seen \\Recent) RFC822.SIZE 59 BODY[HEADER.FIELDS (SUBJECT)] {24}');
    assert.equal(out.fetch[0][1], 'Subject: from python\r\n\r\n');
    assert.equal(out.fetch[1][0], ' BODY[TEXT] {12}');
    assert.equal(out.fetch[1][1], 'snake body\r\n');
    assert.equal(out.flags_after, '1 (FLAGS (\\Flagged \\Seen \\Recent))');
    assert.equal(out.search, '1');
    assert.equal(out.uidsearch, '1');
    assert.equal(out.store, '1 (FLAGS (\\Flagged \\Deleted \\Seen \\Recent))');
    assert.deepEqual(out.expunge, ['1']);
    assert.equal(out.status, 'INBOX (MESSAGES 0 UIDNEXT 1)');
    assert.equal(out.delete, 'OK');
  });
});
