// Fault injection, the journal and the state dump.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startSim, ns, cm } from './helpers.js';

let s;
before(async () =>
{
	s = await startSim();
});
after(async () => s.stop());
beforeEach(async () =>
{
	await s.control('DELETE', '/__sim/faults');
});

// Raw request that reports transport errors instead of throwing.
function raw(url, { method = 'GET', headers = {}, timeoutMs = 2000 } = {})
{
	return new Promise((resolve) =>
	{
		const req = http.request(url, { method, headers }, (res) =>
		{
			let body = '';
			res.on('data', (c) => (body += c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
			res.on('error', (e) => resolve({ error: e.code || e.message }));
		});
		req.setTimeout(timeoutMs, () =>
		{
			req.destroy(new Error('timeout'));
		});
		req.on('error', (e) => resolve({ error: e.code || e.message }));
		req.end();
	});
}

test('fault rules are validated', async () =>
{
	assert.equal((await s.control('POST', '/__sim/faults', { rules: [{ kind: 'explode' }] })).status, 400);
	assert.equal((await s.control('POST', '/__sim/faults', { rules: [{ path: '(' }] })).status, 400);
	assert.equal((await s.control('POST', '/__sim/faults', { rules: [{ rate: 2 }] })).status, 400);
	assert.equal((await s.control('POST', '/__sim/faults', { rules: [{ kind: 'latency' }] })).status, 400);
	const okr = await s.control('POST', '/__sim/faults', { seed: 7, rules: [{ service: 'vault', status: 500 }] });
	assert.equal(okr.status, 200);
	assert.equal(okr.body.rules[0].kind, 'status');
});

test('5xx at a rate is deterministic for a seed, and recorded in the journal', async () =>
{
	const run = async () =>
	{
		await s.control('POST', '/__sim/faults', { seed: 42, rules: [{ service: 'kubernetes', method: 'GET', path: '^/api/v1/namespaces$', status: 503, rate: 0.5 }] });
		const out = [];
		for (let i = 0; i < 20; i++)
			out.push((await s.k8s('GET', '/api/v1/namespaces')).status);
		return out;
	};
	const a = await run();
	const b = await run();
	assert.deepEqual(a, b);
	assert.ok(a.includes(503) && a.includes(200), a.join(','));
	const r503 = await s.k8s('GET', '/api/v1/namespaces/default');
	assert.equal(r503.status, 200, 'other paths are not affected');
	const j = (await s.control('GET', '/__sim/journal')).body.filter((e) => e.fault);
	assert.ok(j.length > 0);
	assert.deepEqual(j[0].fault, { kind: 'status', when: 'before', status: 503 });
	assert.equal(j[0].status, 503);
	const desc = (await s.control('GET', '/__sim/faults')).body;
	assert.equal(desc.rules[0].matched, 20);
});

test('503 body is a Kubernetes Status; 429 carries Retry-After', async () =>
{
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'kubernetes', path: '/configmaps', kind: 'retry-after', status: 429, retryAfter: 2, count: 1 }, { service: 'vault', status: 503 }] });
	const r = await s.k8s('GET', '/api/v1/namespaces/default/configmaps');
	assert.equal(r.status, 429);
	assert.equal(r.headers.get('retry-after'), '2');
	assert.equal(r.body.reason, 'TooManyRequests');
	assert.equal(r.body.details.retryAfterSeconds, 2);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/default/configmaps')).status, 200, 'count: 1 limits it to one');
	const v = await s.vault('GET', '/v1/secret/data/x');
	assert.equal(v.status, 503);
	assert.ok(Array.isArray(v.body.errors));
});

test('latency, reset and hang', async () =>
{
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'grafana', kind: 'latency', ms: 150 }] });
	const t0 = Date.now();
	assert.equal((await s.grafana('GET', '/api/health')).status, 200);
	assert.ok(Date.now() - t0 >= 140);
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'grafana', path: '^/api/health$', kind: 'reset' }] });
	const reset = await raw(`${s.endpoints.grafana}/api/health`);
	assert.ok(reset.error, JSON.stringify(reset));
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'grafana', path: '^/api/health$', kind: 'hang' }] });
	const hang = await raw(`${s.endpoints.grafana}/api/health`, { timeoutMs: 200 });
	assert.equal(hang.error, 'timeout');
	const j = (await s.control('GET', '/__sim/journal')).body.filter((e) => e.service === 'grafana' && e.fault);
	assert.deepEqual(j.slice(-3).map((e) => e.fault.kind), ['latency', 'reset', 'hang']);
	assert.ok(j.slice(-3)[0].fault.latencyMs >= 150);
});

test('"after" faults: the write happens, the answer is lost', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-after'));
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'kubernetes', method: 'POST', path: 'configmaps', kind: 'reset', when: 'after', count: 1 }] });
	const first = await raw(`${s.endpoints.kubernetes}/api/v1/namespaces/t-after/configmaps`, { method: 'POST' });
	assert.ok(first.error || first.status === 400);
	const created = await fetch(`${s.endpoints.kubernetes}/api/v1/namespaces/t-after/configmaps`, { method: 'POST', headers: { authorization: `Bearer ${s.tokens.kubernetes}`, 'content-type': 'application/json' }, body: JSON.stringify(cm('lost', {})) }).catch((e) => ({ status: 'reset' }));
	assert.equal(created.status, 201, 'count 1 was used by the first request');
	await s.control('POST', '/__sim/faults', { rules: [{ service: 'kubernetes', method: 'POST', path: 'configmaps', status: 500, when: 'after', count: 1 }] });
	const r = await s.k8s('POST', '/api/v1/namespaces/t-after/configmaps', cm('twice', {}));
	assert.equal(r.status, 500);
	const retry = await s.k8s('POST', '/api/v1/namespaces/t-after/configmaps', cm('twice', {}));
	assert.equal(retry.status, 409, 'the first attempt did create it');
});

test('journal: fields, since, masking, reset; state dump masks secrets', async () =>
{
	await s.control('DELETE', '/__sim/journal');
	const start = (await s.control('GET', '/__sim/journal')).body;
	assert.deepEqual(start, []);
	await s.k8s('POST', '/api/v1/namespaces', ns('t-journal'));
	await s.k8s('POST', '/api/v1/namespaces/t-journal/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'hunter2' } });
	await s.k8s('PATCH', '/api/v1/namespaces/t-journal/secrets/db?fieldManager=t&force=true', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: Buffer.from('x').toString('base64') } }, { contentType: 'application/apply-patch+yaml' });
	await s.k8s('GET', '/api/v1/namespaces/t-journal/secrets');
	await s.k8s('GET', '/api/v1/namespaces/t-journal/secrets?watch=1&timeoutSeconds=0').catch(() => {});
	await s.k8s('DELETE', '/api/v1/namespaces/t-journal/secrets/db');
	await s.k8s('PATCH', '/api/v1/namespaces/t-journal/configmaps/new?fieldManager=t', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new' } }, { contentType: 'application/apply-patch+yaml' });
	const j = (await s.control('GET', '/__sim/journal')).body;
	assert.deepEqual(j.map((e) => [e.verb, e.resource, e.namespace, e.name, e.status]), [
		['create', 'namespaces', null, null, 201],
		['create', 'secrets', 't-journal', null, 201],
		['patch', 'secrets', 't-journal', 'db', 200],
		['list', 'secrets', 't-journal', null, 200],
		['watch', 'secrets', 't-journal', null, 200],
		['delete', 'secrets', 't-journal', 'db', 200],
		['patch', 'configmaps', 't-journal', 'new', 201],
	]);
	assert.deepEqual(j[1].body.stringData, { password: '***' });
	assert.deepEqual(j[2].body.data, { password: '***' });
	assert.deepEqual(j[6].impliedVerbs, ['create']);
	for (const e of j)
	{
		assert.equal(typeof e.seq, 'number');
		assert.equal(e.service, 'kubernetes');
		assert.ok(e.time && typeof e.durationMs === 'number');
		assert.equal(typeof e.query, 'object');
	}
	assert.equal(j[1].contentType, 'application/json');
	assert.ok(!JSON.stringify(j).includes('hunter2'));
	const since = (await s.control('GET', `/__sim/journal?since=${j[4].seq}`)).body;
	assert.deepEqual(since.map((e) => e.seq), [j[5].seq, j[6].seq]);
	const state = (await s.control('GET', '/__sim/state')).body;
	assert.ok(state.kubernetes.objects['namespaces/t-journal']);
	assert.ok(!JSON.stringify(state).includes(Buffer.from('hunter2').toString('base64')));
	assert.ok('vault' in state && 'grafana' in state);
	assert.equal((await s.control('GET', '/__sim/nope')).status, 404);
});

test('journal: each entry names who made the request, never the token', async () =>
{
	const k8sToken = 'worker-k8s-token-0123456789';
	const vaultToken = 'hvs.worker-vault-token-0123456789';
	assert.equal((await s.control('POST', '/__sim/tokens', { token: k8sToken, user: 'system:serviceaccount:platform:tenancy', rules: [{ verbs: ['get'], resources: ['namespaces'] }] })).status, 201);
	assert.equal((await s.control('POST', '/__sim/vault-tokens', { token: vaultToken, name: 'tenancy-worker', policies: [{ path: 'secret/data/w/*', capabilities: ['read'] }] })).status, 201);
	assert.equal((await s.control('POST', '/__sim/vault-tokens', { token: 'hvs.badname-0123456789', name: 'a b', policies: [] })).status, 400);
	await s.control('DELETE', '/__sim/journal');
	await s.k8s('GET', '/api/v1/namespaces/default');
	await s.k8s('GET', '/api/v1/namespaces/default', undefined, { token: k8sToken });
	await s.k8s('GET', '/api/v1/namespaces/kube-system/secrets', undefined, { token: k8sToken });
	await s.k8s('GET', '/api/v1/namespaces/default', undefined, { token: 'not-a-known-token' });
	await s.k8s('GET', '/api/v1/namespaces/default', undefined, { token: s.sim.saJwt });
	await s.vault('GET', '/v1/secret/data/w/x');
	await s.vault('GET', '/v1/secret/data/w/x', undefined, { token: vaultToken });
	const login = await s.vault('POST', '/v1/auth/kubernetes/login', { role: 'tenancy', jwt: s.sim.saJwt }, { token: null });
	await s.vault('GET', '/v1/secret/data/w/x', undefined, { token: login.body.auth.client_token });
	await s.grafana('GET', '/api/search');
	await s.grafana('GET', '/api/search', undefined, { token: 'glsa_unknown' });
	const j = (await s.control('GET', '/__sim/journal')).body;
	assert.deepEqual(j.map((e) => [e.service, e.status, e.principal]), [
		['kubernetes', 200, 'kubernetes-admin'],
		['kubernetes', 200, 'system:serviceaccount:platform:tenancy'],
		['kubernetes', 403, 'system:serviceaccount:platform:tenancy'],
		['kubernetes', 401, null],
		['kubernetes', 200, 'system:serviceaccount:tenancy-system:tenancy'],
		['vault', 404, 'root'],
		['vault', 404, 'tenancy-worker'],
		['vault', 200, null],
		['vault', 404, 'kubernetes-tenancy-system-tenancy'],
		['grafana', 200, 'admin'],
		['grafana', 401, null],
	]);
	const text = JSON.stringify(j);
	for (const secret of [k8sToken, vaultToken, s.tokens.kubernetes, s.tokens.vault, s.tokens.grafana, login.body.auth.client_token])
		assert.ok(!text.includes(secret), 'no token in the journal');
	await s.control('DELETE', `/__sim/tokens/${k8sToken}`);
});

test('reset forgets everything but tokens', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-reset'));
	await s.vault('POST', '/v1/secret/data/r', { data: { a: 'b' } });
	assert.equal((await s.control('POST', '/__sim/reset')).status, 200);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/t-reset')).status, 404);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/default')).status, 200);
	assert.equal((await s.vault('GET', '/v1/secret/data/r')).status, 404);
});

test('a rule without service never hits the control API; DELETE /__sim/faults always works (issue 16 item 10)', async () =>
{
	for (const kind of ['status', 'reset', 'hang'])
	{
		const set = await s.control('POST', '/__sim/faults', { rules: [{ kind, status: kind === 'status' ? 500 : undefined }] });
		assert.equal(set.status, 200);
		// the services are hit...
		if (kind === 'status')
			assert.equal((await s.k8s('GET', '/api/v1/namespaces')).status, 500);
		// ...the control API is not
		const health = await raw(`${s.endpoints.control}/__sim/health`);
		assert.equal(health.status, 200, `control API answered ${JSON.stringify(health)} under a ${kind} rule`);
		assert.equal((await raw(`${s.endpoints.control}/__sim/faults`)).status, 200);
		const cleared = await raw(`${s.endpoints.control}/__sim/faults`, { method: 'DELETE' });
		assert.equal(cleared.status, 200, `DELETE /__sim/faults answered ${JSON.stringify(cleared)} under a ${kind} rule`);
		assert.equal((await s.k8s('GET', '/api/v1/namespaces')).status, 200);
	}
	// path-only rule matching the control paths too
	await s.control('POST', '/__sim/faults', { rules: [{ path: '^/__sim', status: 503 }] });
	assert.equal((await raw(`${s.endpoints.control}/__sim/faults`, { method: 'DELETE' })).status, 200);
});
