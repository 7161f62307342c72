// http.js — the listener shared by all simulated services.
//
// For every request: read the body, let the service classify it (verb,
// resource, ...), apply "before" faults, run the service handler, apply
// "after" faults, answer, and write one journal entry. Plain HTTP/1.1, or
// with TLS HTTP/2 plus HTTP/1.1 through ALPN. Always on 127.0.0.1.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { faultRecord } from './faults.js';

const MAX_BODY = 8 * 1024 * 1024;

function sleep(ms)
{
	return new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(req)
{
	return new Promise((resolve, reject) =>
	{
		const chunks = [];
		let size = 0;
		req.on('data', (c) =>
		{
			size += c.length;
			if (size > MAX_BODY)
			{
				reject(new Error('request body too large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

function resetConnection(req, res)
{
	if (req.httpVersionMajor === 2 && req.stream)
	{
		req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
		return;
	}
	const sock = req.socket;
	if (sock && typeof sock.resetAndDestroy === 'function')
		sock.resetAndDestroy();
	else if (sock)
		sock.destroy();
	else
		res.destroy();
}

export function sendResult(res, result)
{
	const headers = { ...(result.headers || {}) };
	let body = result.body;
	if (body !== undefined && body !== null && !Buffer.isBuffer(body) && typeof body !== 'string')
	{
		body = JSON.stringify(body);
		if (!headers['content-type'])
			headers['content-type'] = 'application/json';
	}
	if (body === undefined || body === null)
		body = '';
	headers['content-length'] = Buffer.byteLength(body);
	res.writeHead(result.status, headers);
	res.end(body);
}

// Node's HTTP/1 parser rejects methods it does not know, and Vault's
// clients send "LIST". For such listeners, connections go through a shim
// that rewrites "LIST <path>" request lines to GET plus a header carrying
// the real method. (Over HTTP/2 the method is a header and passes as is.)
const EXTRA_METHODS = /(^|\n)(LIST) (\S+) HTTP\/1\.1\r\n/g;

function methodShim(socket)
{
	const shim = new Duplex({
		read()
		{
			socket.resume();
		},
		write(chunk, enc, cb)
		{
			socket.write(chunk, cb);
		},
		final(cb)
		{
			socket.end(cb);
		},
		destroy(err, cb)
		{
			socket.destroy();
			cb(err);
		},
	});
	socket.on('data', (chunk) =>
	{
		let text = chunk.toString('latin1');
		if (text.includes('LIST '))
		{
			text = text.replace(EXTRA_METHODS, (m, pre, method, target) => `${pre}GET ${target} HTTP/1.1\r\nx-sim-method: ${method}\r\n`);
			chunk = Buffer.from(text, 'latin1');
		}
		if (!shim.push(chunk))
			socket.pause();
	});
	socket.on('end', () => shim.push(null));
	socket.on('close', () => shim.destroy());
	socket.on('error', (e) => shim.destroy(e));
	shim.resetAndDestroy = () => socket.resetAndDestroy();
	shim.remoteAddress = socket.remoteAddress;
	shim.setTimeout = (...a) => socket.setTimeout(...a);
	shim.setNoDelay = (...a) => socket.setNoDelay(...a);
	shim.setKeepAlive = (...a) => socket.setKeepAlive(...a);
	return shim;
}

// service: {name, classify(ctx), handle(ctx), faultResult(rule), extraMethods?}
export class Listener
{
	constructor(sim, service, tlsOptions)
	{
		this.sim = sim;
		this.service = service;
		this.hanging = new Set();
		this.sockets = new Set();
		const handler = (req, res) => this.onRequest(req, res).catch((err) =>
		{
			sim.log(`${service.name}: internal error: ${err.stack}`);
			if (!res.headersSent)
				sendResult(res, { status: 500, body: { message: String(err.message) } });
		});
		// One front server accepts connections: plain TCP, or TLS offering
		// h2 and http/1.1 by ALPN. h2 connections go to an HTTP/2 server,
		// the others to an HTTP/1.1 server (through the LIST shim when the
		// service needs it).
		this.tls = !!tlsOptions;
		this.server = http.createServer(handler);
		this.server.keepAliveTimeout = 30000;
		this.h2 = tlsOptions ? http2.createServer(handler) : null;
		const track = (sock) =>
		{
			this.sockets.add(sock);
			sock.on('close', () => this.sockets.delete(sock));
		};
		const toHttp1 = (sock) => this.server.emit('connection', service.extraMethods ? methodShim(sock) : sock);
		if (tlsOptions)
		{
			this.front = tls.createServer({ ...tlsOptions, ALPNProtocols: ['h2', 'http/1.1'] }, (sock) =>
			{
				track(sock);
				if (sock.alpnProtocol === 'h2')
					this.h2.emit('connection', sock);
				else
					toHttp1(sock);
			});
			this.front.on('tlsClientError', () => {});
		}
		else
		{
			this.front = net.createServer((sock) =>
			{
				track(sock);
				toHttp1(sock);
			});
		}
	}

	listen()
	{
		return new Promise((resolve, reject) =>
		{
			const srv = this.front;
			srv.once('error', reject);
			srv.listen(0, '127.0.0.1', () =>
			{
				this.port = srv.address().port;
				this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
				resolve(this.url);
			});
		});
	}

	close()
	{
		for (const res of this.hanging)
			res.destroy?.();
		this.hanging.clear();
		for (const s of this.sockets)
			s.destroy();
		const srv = this.front;
		return new Promise((resolve) => srv.close(() => resolve()));
	}

	async onRequest(req, res)
	{
		const start = process.hrtime.bigint();
		const url = new URL(req.url, 'http://localhost');
		const body = await readBody(req);
		const ctx = {
			service: this.service.name,
			method: (this.service.extraMethods && req.headers['x-sim-method']) || req.method,
			path: decodeURIComponent(url.pathname),
			rawPath: url.pathname,
			query: url.searchParams,
			headers: req.headers,
			body,
			req,
			res,
			info: {},
			sim: this.sim,
		};
		this.service.classify(ctx);
		const journal = (status, extra) =>
		{
			const query = {};
			for (const [k, v] of url.searchParams)
				query[k] = v;
			const entry = {
				time: new Date().toISOString(),
				service: this.service.name,
				method: ctx.method,
				path: ctx.path,
				query,
				status,
				contentType: req.headers['content-type'] || null,
				body: ctx.info.body,
				durationMs: Number(process.hrtime.bigint() - start) / 1e6,
				principal: this.service.principal ? this.service.principal(ctx) : null,
				...ctx.info.fields,
				...extra,
			};
			if (this.service.name !== 'control')
				this.sim.journal.add(entry);
		};

		// Faults decided before the handler: the request never reaches it.
		// The control API is never faulted (Faults.decide knows only the
		// three services), so that a test can always clear its faults.
		const before = this.sim.faults.decide(this.service.name, ctx.method, ctx.path, 'before');
		if (before.latencyMs)
			await sleep(before.latencyMs);
		if (before.fault)
			return this.injectFault(req, res, before.fault, before.latencyMs, 'before', journal);

		const result = await this.service.handle(ctx);

		// Faults after the handler: the change happened, the answer is lost.
		const after = this.sim.faults.decide(this.service.name, ctx.method, ctx.path, 'after');
		if (after.fault && !result.stream)
			return this.injectFault(req, res, after.fault, before.latencyMs, 'after', journal);

		const extra = before.latencyMs ? { fault: faultRecord(null, before.latencyMs, 'before') } : {};
		if (result.stream)
		{
			journal(result.status, extra);
			result.stream(res);
			return;
		}
		journal(result.status, extra);
		sendResult(res, result);
	}

	injectFault(req, res, rule, latencyMs, phase, journal)
	{
		const fault = faultRecord(rule, latencyMs, phase);
		switch (rule.kind)
		{
			case 'reset':
				journal(null, { fault });
				resetConnection(req, res);
				return;
			case 'hang':
				journal(null, { fault });
				this.hanging.add(res);
				res.on('close', () => this.hanging.delete(res));
				return;
			default:
				{
					const result = this.service.faultResult(rule);
					if (rule.kind === 'retry-after')
						result.headers = { ...(result.headers || {}), 'retry-after': String(rule.retryAfter) };
					journal(result.status, { fault });
					sendResult(res, result);
				}
		}
	}
}
