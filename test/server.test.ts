import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import sharp from 'sharp';
import { EXPRESSIONS } from '../src/core/labels.js';
import { createServer, QueueFullError, WorkQueue, type MienServer } from '../src/server/index.js';
import { runCli, startCli } from './helpers/cli.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';

const PHOTO = 'test/fixtures/dnn-face.jpg';

/** A multipart/form-data body with one file field, as a browser or `curl -F` sends it. */
async function multipartBody(fields: Record<string, Blob | string>): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, `${name}.jpg`);
  }
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), headers: { 'content-type': request.headers.get('content-type')! } };
}

const postImage = (server: MienServer, payload: Buffer, type = 'image/jpeg', query = '') =>
  server.fastify.inject({ method: 'POST', url: `/v1/recognize${query}`, headers: { 'content-type': type }, payload });

describe('mien serve', () => {
  let dir: string;
  let model: string;
  let photo: Buffer;
  /** The photo scaled up 2.5×: a recognition long enough that requests sent together overlap. */
  let bigPhoto: Buffer;
  let server: MienServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-serve-'));
    model = join(dir, 'band.onnx');
    await writeFile(model, bandClassifierOnnx());
    photo = await readFile(PHOTO);
    bigPhoto = await sharp(photo).resize(1200, 900).jpeg().toBuffer();
    server = await createServer({ model, bodyLimit: 200_000, maxPixels: 1_000_000 });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a raw JPEG body gets the faces exactly as `mien predict --json` prints them', async () => {
    const [response, predicted] = await Promise.all([postImage(server, photo), runCli(['predict', PHOTO, '--json', '--model', model])]);
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const { file, ...expected } = JSON.parse(predicted.stdout);
    assert.equal(file, PHOTO);
    // the same bytes, keys in the same order
    assert.equal(response.body, JSON.stringify(expected));
    const body = response.json();
    assert.deepEqual([body.width, body.height, body.faces.length], [480, 360, 1]);
    assert.deepEqual(Object.keys(body.faces[0].probabilities), [...EXPRESSIONS]);
  });

  test('a multipart upload and an octet-stream body give the same answer as the raw JPEG', async () => {
    const raw = (await postImage(server, photo)).body;
    const form = await multipartBody({ note: 'fields before the file are skipped', image: new Blob([photo], { type: 'image/jpeg' }) });
    const multipart = await server.fastify.inject({ method: 'POST', url: '/v1/recognize', ...form });
    assert.equal(multipart.statusCode, 200, multipart.body);
    assert.equal(multipart.body, raw);
    const octets = await postImage(server, photo, 'application/octet-stream');
    assert.equal(octets.body, raw);
  });

  test('query options work as in mien predict, and bad ones are 400', async () => {
    const whole = (await postImage(server, photo, 'image/jpeg', '?detector=none')).json();
    assert.deepEqual(
      whole.faces.map((f: { box: unknown }) => f.box),
      [{ x: 0, y: 0, width: 480, height: 360 }],
    );
    assert.equal(whole.faces[0].landmarks, undefined);
    const tooBig = (await postImage(server, photo, 'image/jpeg', '?min-face=400&tta=true')).json();
    assert.deepEqual(tooBig.faces, [], 'a 400-px minimum leaves out the ~150-px face');
    for (const [query, message] of [
      ['?detector=mtcnn', /^detector must be one of dnn, haar, none, got "mtcnn"$/],
      ['?min-face=0', /^min-face must be at least 1, got "0"$/],
      ['?min-face=8', /^minFaceSize must be at least 16 px with the dnn detector/],
      ['?min-face=20&detector=haar', /^minFaceSize must be at least 24 px with the haar detector/],
      ['?min-face=4.5', /^min-face must be a whole number, got "4.5"$/],
      ['?max-faces=0', /^max-faces must be at least 1, got "0"$/],
      ['?min-confidence=1', /^min-confidence must be below 1, got "1"$/],
      ['?tta=maybe', /^tta must be one of false, true, mirror, zoom, got "maybe"$/],
      ['?minface=40', /^unknown query parameter 'minface': use detector, min-face, min-confidence, max-faces, tta$/],
    ] as const) {
      const r = await postImage(server, photo, 'image/jpeg', query);
      assert.equal(r.statusCode, 400, query);
      assert.equal(r.json().error, 'bad_request', query);
      assert.match(r.json().message, message);
    }
  });

  test('each bad request gets its status and a JSON {error, message}', async () => {
    const truncated = photo.subarray(0, photo.length / 2);
    const huge = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    assert.ok(huge.length < 200_000, 'the 2-megapixel PNG is under the body limit, so the pixel limit is what stops it');
    const oversized = Buffer.concat([photo, Buffer.alloc(200_000)]);
    // multipart bodies written by hand: one file part, or the parts given
    const filePart = (boundary: string, name: string) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
        ),
        photo,
        Buffer.from('\r\n'),
      ]);
    const multipart = (type: string, payload: Buffer): InjectOptions => ({
      method: 'POST',
      url: '/v1/recognize',
      headers: { 'content-type': type },
      payload,
    });
    const closing = Buffer.from('--x--\r\n');
    const cases: { name: string; request: InjectOptions; status: number; error: string; message: RegExp }[] = [
      {
        name: 'body over the limit',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/jpeg' }, payload: oversized },
        status: 413,
        error: 'body_too_large',
        message: /over the 0\.2 MiB body limit/,
      },
      {
        name: 'multipart file over the limit',
        request: { method: 'POST', url: '/v1/recognize', ...(await multipartBody({ image: new Blob([oversized]) })) },
        status: 413,
        error: 'body_too_large',
        message: /body limit/,
      },
      {
        name: 'JSON body',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'application/json' }, payload: '{"image":"x"}' },
        status: 415,
        error: 'unsupported_media_type',
        message: /image\/jpeg.*multipart\/form-data/,
      },
      {
        name: 'text body',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'text/plain' }, payload: 'hello' },
        status: 415,
        error: 'unsupported_media_type',
        message: /Content-Type/,
      },
      {
        name: 'no body',
        request: { method: 'POST', url: '/v1/recognize' },
        status: 415,
        error: 'unsupported_media_type',
        message: /Content-Type/,
      },
      {
        name: 'multipart without a file',
        request: { method: 'POST', url: '/v1/recognize', ...(await multipartBody({ note: 'no file here' })) },
        status: 400,
        error: 'no_file',
        message: /file field/,
      },
      {
        name: 'multipart without a boundary',
        request: multipart('multipart/form-data', Buffer.concat([filePart('x', 'image'), closing])),
        status: 400,
        error: 'bad_multipart',
        message: /^malformed multipart\/form-data body: Multipart: Boundary not found$/,
      },
      {
        name: 'multipart with the wrong boundary',
        request: multipart('multipart/form-data; boundary=y', Buffer.concat([filePart('x', 'image'), closing])),
        status: 400,
        error: 'bad_multipart',
        message: /^malformed multipart\/form-data body: /,
      },
      {
        name: 'multipart cut off inside the file',
        request: multipart('multipart/form-data; boundary=x', filePart('x', 'image').subarray(0, 500)),
        status: 400,
        error: 'bad_multipart',
        message: /^malformed multipart\/form-data body: /,
      },
      {
        name: 'multipart with two files',
        request: multipart('multipart/form-data; boundary=x', Buffer.concat([filePart('x', 'a'), filePart('x', 'b'), closing])),
        status: 413,
        error: 'too_many_files',
        message: /one image per request/,
      },
      {
        name: 'not an image',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/png' }, payload: 'not an image at all' },
        status: 400,
        error: 'bad_image',
        message: /not an image/,
      },
      {
        name: 'truncated JPEG',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/jpeg' }, payload: truncated },
        status: 400,
        error: 'bad_image',
        message: /cannot decode|not an image/,
      },
      {
        name: 'empty image',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/jpeg' }, payload: Buffer.alloc(0) },
        status: 400,
        error: 'bad_image',
        message: /empty/,
      },
      {
        name: 'over the pixel limit',
        request: { method: 'POST', url: '/v1/recognize', headers: { 'content-type': 'image/png' }, payload: huge },
        status: 413,
        error: 'too_many_pixels',
        message: /2\.0 megapixels is over the 1 megapixel limit/,
      },
      {
        name: 'unknown path',
        request: { method: 'GET', url: '/v2/recognize' },
        status: 404,
        error: 'not_found',
        message: /no GET \/v2\/recognize/,
      },
      {
        name: 'known path, wrong method',
        request: { method: 'GET', url: '/v1/recognize?tta=true' },
        status: 405,
        error: 'method_not_allowed',
        message: /^\/v1\/recognize takes POST, not GET$/,
      },
    ];
    for (const c of cases) {
      const r = await server.fastify.inject(c.request);
      assert.equal(r.statusCode, c.status, `${c.name}: ${r.body}`);
      assert.match(String(r.headers['content-type']), /^application\/json/, c.name);
      assert.deepEqual(Object.keys(r.json()), ['error', 'message'], c.name);
      assert.equal(r.json().error, c.error, c.name);
      assert.match(r.json().message, c.message, c.name);
    }
    const wrongMethod = await server.fastify.inject({ method: 'DELETE', url: '/healthz' });
    assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  });

  test('CORS is off unless asked for; with a list, only those origins get the header, preflights included', async () => {
    const origin = 'https://app.example';
    const plain = await server.fastify.inject({ method: 'GET', url: '/healthz', headers: { origin } });
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    const open = await createServer({ model, cors: [origin] });
    try {
      const allowed = await open.fastify.inject({ method: 'GET', url: '/healthz', headers: { origin } });
      assert.equal(allowed.headers['access-control-allow-origin'], origin);
      const other = await open.fastify.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      const preflight = await open.fastify.inject({
        method: 'OPTIONS',
        url: '/v1/recognize',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.statusCode, 204);
      assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    } finally {
      await open.close();
    }
  });

  test('GET /v1/models describes the model from its file and metadata; GET /healthz says it is up', async () => {
    const models = await server.fastify.inject({ method: 'GET', url: '/v1/models' });
    assert.equal(models.statusCode, 200);
    const version = createHash('sha256')
      .update(await readFile(model))
      .digest('hex')
      .slice(0, 12);
    assert.deepEqual(models.json(), {
      models: [
        { name: 'band', version, architecture: 'linear-test', classes: [...EXPRESSIONS], input: { width: 48, height: 48, channels: 1 } },
      ],
    });
    const health = await server.fastify.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual(health.json(), { status: 'ok', model: 'band', queue: { running: 0, waiting: 0, concurrency: 1, maxWaiting: 32 } });
  });

  test('the OpenAPI description and its UI are served at /docs, with no file from the network', async () => {
    const page = await server.fastify.inject({ method: 'GET', url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /Swagger UI/);
    const scripts = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0 && scripts.every((s) => !/^(https?:)?\/\//.test(s)), `every asset is local: ${scripts.join(' ')}`);
    for (const asset of scripts.filter((s) => s.endsWith('.js'))) {
      const r = await server.fastify.inject({ method: 'GET', url: new URL(asset, 'http://localhost/docs/').pathname });
      assert.equal(r.statusCode, 200, asset);
    }
    const spec = (await server.fastify.inject({ method: 'GET', url: '/docs/json' })).json();
    assert.match(spec.openapi, /^3\./);
    assert.deepEqual(Object.keys(spec.paths).sort(), ['/healthz', '/v1/models', '/v1/recognize']);
    const recognize = spec.paths['/v1/recognize'].post;
    assert.ok(recognize.requestBody.content['image/jpeg'] && recognize.requestBody.content['multipart/form-data']);
    assert.deepEqual(recognize.parameters.map((p: { name: string }) => p.name).sort(), [
      'detector',
      'max-faces',
      'min-confidence',
      'min-face',
      'tta',
    ]);
    assert.deepEqual(Object.keys(recognize.responses).sort(), ['200', '400', '408', '413', '415', '503']);
  });

  test('a full queue answers 503 with Retry-After at once; the requests it took are all answered', async () => {
    const busy = await createServer({ model, concurrency: 1, maxQueue: 1 });
    try {
      // sent together: one runs, one waits, three find the queue full
      const responses = await Promise.all(Array.from({ length: 5 }, () => postImage(busy, bigPhoto)));
      assert.deepEqual(responses.map((r) => r.statusCode).sort(), [200, 200, 503, 503, 503]);
      for (const r of responses.filter((r) => r.statusCode === 503)) {
        assert.equal(r.json().error, 'busy');
        assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
      }
      for (const r of responses.filter((r) => r.statusCode === 200)) assert.equal(r.json().faces.length, 1);
    } finally {
      await busy.close();
    }
  });

  test('over its memory cap the server answers 503 busy with Retry-After, and /healthz still answers', async () => {
    // a cap below what any server process takes: every request after the first memory sample is over it
    const capped = await createServer({ model, detector: 'none', maxMemory: 32 * 1024 * 1024 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const r = await postImage(capped, photo);
      assert.equal(r.statusCode, 503, r.body);
      assert.equal(r.headers['retry-after'], '5');
      assert.equal(r.json().error, 'over_memory_cap');
      assert.match(r.json().message, /^the server is over its memory cap \([\d.]+ MiB of 32 MiB\): retry after 5 s$/);
      assert.equal((await capped.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await capped.close();
    }
    await assert.rejects(createServer({ model, maxMemory: -1 }), /maxMemory must be a positive number/);
    await assert.rejects(createServer({ model, maxPixels: 2e8 }), /maxPixels must be positive and at most 100 megapixels/);
  });

  test('a request still waiting for a slot when its time is up gets 503 timeout', async () => {
    const slow = await createServer({ model, concurrency: 1, maxQueue: 4, timeoutMs: 10 });
    try {
      // the first starts at once and finishes (a started recognition is never cut off); the second waits behind it
      // for far longer than 10 ms: decoding and searching the 1200×900 photo alone take more
      const [first, second] = await Promise.all([postImage(slow, bigPhoto), postImage(slow, bigPhoto)]);
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(second.statusCode, 503, second.body);
      assert.equal(second.json().error, 'timeout');
      assert.match(second.json().message, /no recognition slot came free within 0\.01 s/);
      assert.ok(Number(second.headers['retry-after']) >= 1);
    } finally {
      await slow.close();
    }
  });

  test('requests Node answers before fastify sees them get JSON too: too slow 408, headers too large 431, not HTTP 400', async () => {
    const impatient = await createServer({ model, timeoutMs: 300 });
    try {
      const url = new URL(await impatient.listen({ port: 0 }));
      /** Sends raw bytes and reads the answer until the server closes the connection. */
      const exchange = async (...chunks: (string | Buffer)[]) => {
        const socket = connect(Number(url.port), url.hostname);
        let response = '';
        socket.on('data', (b: Buffer) => (response += b));
        for (const chunk of chunks) socket.write(chunk);
        await once(socket, 'close');
        return { status: response.slice(0, response.indexOf('\r\n')), body: JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) };
      };
      const headers = `POST /v1/recognize HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: image/jpeg\r\nContent-Length: ${photo.length}\r\n\r\n`;
      // a third of the body, and never the rest
      assert.deepEqual(await exchange(headers, photo.subarray(0, 1000)), {
        status: 'HTTP/1.1 408 Request Timeout',
        body: { error: 'request_timeout', message: 'the request did not arrive within 0.3 s' },
      });
      assert.deepEqual(await exchange(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\nX-Padding: ${'x'.repeat(20_000)}\r\n\r\n`), {
        status: 'HTTP/1.1 431 Request Header Fields Too Large',
        body: { error: 'headers_too_large', message: 'the request headers are too large' },
      });
      assert.deepEqual(await exchange('HELLO\r\n\r\n'), {
        status: 'HTTP/1.1 400 Bad Request',
        body: { error: 'bad_request', message: 'malformed HTTP request' },
      });
    } finally {
      await impatient.close();
    }
  });

  test('SIGTERM: no new connection is taken, the request in flight is answered, then the process exits', async () => {
    const child = startCli(['serve', '--model', model, '--port', '0']);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b));
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    const exited = once(child, 'close');
    while (!/serving/.test(stdout)) {
      if (child.exitCode !== null) assert.fail(`mien serve stopped: ${stderr}`);
      await once(child.stdout!, 'data');
    }
    const url = new URL(/(http:\/\/\S+) /.exec(stdout)![1]!);
    assert.match(
      stdout,
      /^mien: serving band on http:\/\/127\.0\.0\.1:\d+ \(detector dnn\); API docs at http:\/\/127\.0\.0\.1:\d+\/docs\n$/,
    );

    // a request whose body is half sent when the signal comes
    const socket = connect(Number(url.port), url.hostname);
    let response = '';
    socket.on('data', (b: Buffer) => (response += b));
    const answered = once(socket, 'close');
    socket.write(`POST /v1/recognize HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: image/jpeg\r\nContent-Length: ${photo.length}\r\n\r\n`);
    socket.write(photo.subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGTERM');
    while (!/SIGTERM/.test(stderr)) await once(child.stderr!, 'data');
    assert.match(stderr, /SIGTERM: finishing 1 request in flight/);
    // refused once the listening socket is closed; reset if it connected in the instant before (a busy machine)
    await assert.rejects(fetch(new URL('/healthz', url)), (err: Error & { cause?: { code?: string } }) =>
      ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(err.cause?.code ?? ''),
    );

    // (write, not end: an HTTP client that half-closes its side has its request dropped by Node)
    socket.write(photo.subarray(1000));
    await answered;
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.equal(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).faces.length, 1);
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /mien: stopped\n$/);
  });

  test('a port in use is one line, not a stack trace', async () => {
    const other = createTcpServer().listen(0, '127.0.0.1');
    await once(other, 'listening');
    const port = (other.address() as AddressInfo).port;
    try {
      const r = await runCli(['serve', '--model', model, '--port', String(port)]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `mien: port ${port} on 127.0.0.1 is in use by another program: stop it or pass --port\n`);
    } finally {
      other.close();
    }
  });
});

describe('work queue', () => {
  /** A task that runs until `finish` is called, recording when it started. */
  function task(log: string[], name: string) {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    return { run: async () => (log.push(name), await done, name), finish };
  }

  test('runs tasks in arrival order within its concurrency, refuses one too many, and drops aborted waiters', async () => {
    const queue = new WorkQueue({ concurrency: 2, maxWaiting: 2 });
    const log: string[] = [];
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((n) => task(log, n));
    const abort = new AbortController();
    const running = [queue.run(a!.run), queue.run(b!.run), queue.run(c!.run, abort.signal), queue.run(d!.run)];
    assert.deepEqual([queue.running, queue.waiting], [2, 2]);
    await assert.rejects(queue.run(e!.run), (err) => err instanceof QueueFullError && err.retryAfterSeconds >= 1);

    abort.abort(new Error('client gone'));
    await assert.rejects(running[2]!, /client gone/);
    assert.deepEqual([queue.running, queue.waiting], [2, 1]);
    b!.finish();
    await running[1];
    assert.deepEqual(log, ['a', 'b', 'd'], 'd takes the slot b freed; aborted c never ran');
    a!.finish();
    d!.finish();
    assert.deepEqual(await Promise.all([running[0], running[3]]), ['a', 'd']);
    await queue.idle();
    assert.deepEqual([queue.running, queue.waiting], [0, 0]);
  });
});
