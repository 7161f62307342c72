// helpers.js — start a simulator in this process and talk to it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Simulator } from '../src/main.js';

export const HERE = path.dirname(new URL(import.meta.url).pathname);
export const ROOT = path.resolve(HERE, '..');

export async function startSim(options = {})
{
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenancy-sim-test-'));
	const sim = new Simulator({
		dir, tls: false, helmReadyDelayMs: 50, namespaceDeleteDelayMs: 50, podStartDelayMs: 10, vaultMount: 'secret', ...options,
	});
	const logs = [];
	sim.log = (m) => logs.push(m);
	await sim.start();
	const e = sim.endpoints;
	const tokens = sim.adminTokens;

	async function call(base, method, p, body, headers = {})
	{
		const h = { ...headers };
		let payload;
		if (body !== undefined)
		{
			payload = typeof body === 'string' ? body : JSON.stringify(body);
			if (!h['content-type'])
				h['content-type'] = 'application/json';
		}
		const res = await fetch(base + p, { method, headers: h, body: payload });
		const text = await res.text();
		let json;
		try
		{
			json = text ? JSON.parse(text) : undefined;
		}
		catch (err)
		{
			json = undefined;
		}
		return { status: res.status, headers: res.headers, body: json, text };
	}

	const k8s = (method, p, body, opts = {}) => call(e.kubernetes, method, p, body, {
		...(opts.token === null ? {} : { authorization: `Bearer ${opts.token || tokens.kubernetes}` }),
		...(opts.contentType ? { 'content-type': opts.contentType } : {}),
		...(opts.headers || {}),
	});
	const vault = (method, p, body, opts = {}) => call(e.vault, method, p, body, {
		...(opts.token === null ? {} : { 'x-vault-token': opts.token || tokens.vault }),
		...(opts.contentType ? { 'content-type': opts.contentType } : {}),
	});
	const grafana = (method, p, body, opts = {}) => call(e.grafana, method, p, body, {
		...(opts.token === null ? {} : { authorization: `Bearer ${opts.token || tokens.grafana}` }),
	});
	const control = (method, p, body) => call(e.control, method, p, body);

	return {
		sim, dir, endpoints: e, tokens, k8s, vault, grafana, control, logs,
		async stop()
		{
			await sim.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

export function sleep(ms)
{
	return new Promise((r) => setTimeout(r, ms));
}

// Poll fn until it returns a truthy value (or time out).
export async function eventually(fn, timeoutMs = 3000, stepMs = 20)
{
	const end = Date.now() + timeoutMs;
	let last;
	while (Date.now() < end)
	{
		last = await fn();
		if (last)
			return last;
		await sleep(stepMs);
	}
	throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

export const ns = (name, labels) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } });
export const cm = (name, data, extra = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data });
