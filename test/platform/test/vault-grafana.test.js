// Vault KV v2 and Grafana dashboards.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim } from './helpers.js';

let s;
before(async () =>
{
	s = await startSim();
});
after(async () => s.stop());

test('vault: sys/health needs no token; KV needs one', async () =>
{
	const h = await s.vault('GET', '/v1/sys/health', undefined, { token: null });
	assert.equal(h.status, 200);
	assert.equal(h.body.sealed, false);
	const r = await s.vault('GET', '/v1/secret/data/x', undefined, { token: null });
	assert.equal(r.status, 403);
	assert.deepEqual(r.body, { errors: ['permission denied'] });
	assert.equal((await s.vault('GET', '/v1/secret/data/x', undefined, { token: 'hvs.bogus' })).status, 403);
});

test('vault: KV v2 versions, read by version, cas', async () =>
{
	const missing = await s.vault('GET', '/v1/secret/data/tenants/acme/db');
	assert.equal(missing.status, 404);
	assert.deepEqual(missing.body, { errors: [] });
	const w1 = await s.vault('POST', '/v1/secret/data/tenants/acme/db', { data: { password: 'p1' } });
	assert.equal(w1.status, 200);
	assert.equal(w1.body.data.version, 1);
	assert.equal(w1.body.data.destroyed, false);
	const casBad = await s.vault('POST', '/v1/secret/data/tenants/acme/db', { options: { cas: 0 }, data: { password: 'p2' } });
	assert.equal(casBad.status, 400);
	assert.deepEqual(casBad.body, { errors: ['check-and-set parameter did not match the current version'] });
	const w2 = await s.vault('PUT', '/v1/secret/data/tenants/acme/db', { options: { cas: 1 }, data: { password: 'p2', user: 'u' } });
	assert.equal(w2.body.data.version, 2);
	const cur = await s.vault('GET', '/v1/secret/data/tenants/acme/db');
	assert.deepEqual(cur.body.data.data, { password: 'p2', user: 'u' });
	assert.equal(cur.body.data.metadata.version, 2);
	const v1 = await s.vault('GET', '/v1/secret/data/tenants/acme/db?version=1');
	assert.deepEqual(v1.body.data.data, { password: 'p1' });
	const patched = await s.vault('PATCH', '/v1/secret/data/tenants/acme/db', { data: { user: null, extra: 'e' } }, { contentType: 'application/merge-patch+json' });
	assert.equal(patched.status, 200);
	assert.equal(patched.body.data.version, 3);
	assert.deepEqual((await s.vault('GET', '/v1/secret/data/tenants/acme/db')).body.data.data, { password: 'p2', extra: 'e' });
	const wrongCt = await s.vault('PATCH', '/v1/secret/data/tenants/acme/db', { data: {} });
	assert.equal(wrongCt.status, 415);
	const noData = await s.vault('POST', '/v1/secret/data/tenants/acme/x', {});
	assert.equal(noData.status, 400);
	const casCreate = await s.vault('POST', '/v1/secret/data/tenants/acme/new', { options: { cas: 0 }, data: { a: 'b' } });
	assert.equal(casCreate.status, 200);
});

test('vault: metadata, list, delete, undelete, destroy', async () =>
{
	await s.vault('POST', '/v1/secret/data/t2/a', { data: { k: '1' } });
	await s.vault('POST', '/v1/secret/data/t2/a', { data: { k: '2' } });
	await s.vault('POST', '/v1/secret/data/t2/sub/b', { data: { k: '1' } });
	const list = await s.vault('LIST', '/v1/secret/metadata/t2');
	assert.deepEqual(list.body.data.keys, ['a', 'sub/']);
	const list2 = await s.vault('GET', '/v1/secret/metadata/t2/?list=true');
	assert.deepEqual(list2.body.data.keys, ['a', 'sub/']);
	assert.equal((await s.vault('LIST', '/v1/secret/metadata/none')).status, 404);
	const md = await s.vault('GET', '/v1/secret/metadata/t2/a');
	assert.equal(md.body.data.current_version, 2);
	assert.deepEqual(Object.keys(md.body.data.versions), ['1', '2']);
	assert.equal((await s.vault('DELETE', '/v1/secret/data/t2/a')).status, 204);
	const deleted = await s.vault('GET', '/v1/secret/data/t2/a');
	assert.equal(deleted.status, 404);
	assert.equal(deleted.body.data.data, null);
	assert.notEqual(deleted.body.data.metadata.deletion_time, '');
	assert.equal((await s.vault('POST', '/v1/secret/undelete/t2/a', { versions: [2] })).status, 204);
	assert.equal((await s.vault('GET', '/v1/secret/data/t2/a')).body.data.data.k, '2');
	assert.equal((await s.vault('POST', '/v1/secret/destroy/t2/a', { versions: [1] })).status, 204);
	const v1 = await s.vault('GET', '/v1/secret/data/t2/a?version=1');
	assert.equal(v1.status, 404);
	assert.equal(v1.body.data.metadata.destroyed, true);
	assert.equal((await s.vault('POST', '/v1/secret/delete/t2/a', {})).status, 400);
	await s.vault('POST', '/v1/secret/metadata/t2/a', { cas_required: true, max_versions: 2 });
	const needCas = await s.vault('POST', '/v1/secret/data/t2/a', { data: { k: '3' } });
	assert.deepEqual(needCas.body, { errors: ['check-and-set parameter required for this call'] });
	await s.vault('POST', '/v1/secret/data/t2/a', { options: { cas: 2 }, data: { k: '3' } });
	const md2 = await s.vault('GET', '/v1/secret/metadata/t2/a');
	assert.deepEqual(Object.keys(md2.body.data.versions), ['2', '3']);
	assert.equal((await s.vault('DELETE', '/v1/secret/metadata/t2/a')).status, 204);
	assert.equal((await s.vault('GET', '/v1/secret/data/t2/a')).status, 404);
});

test('vault: kubernetes auth login and per-path policies', async () =>
{
	const bad = await s.vault('POST', '/v1/auth/kubernetes/login', { role: 'tenancy', jwt: 'nope' }, { token: null });
	assert.equal(bad.status, 403);
	const badRole = await s.vault('POST', '/v1/auth/kubernetes/login', { role: 'x', jwt: s.sim.saJwt }, { token: null });
	assert.equal(badRole.status, 400);
	assert.deepEqual(badRole.body, { errors: ['invalid role name "x"'] });
	await s.control('POST', '/__sim/vault-roles', { role: 'tenancy', policies: [{ path: 'secret/data/tenants/*', capabilities: ['create', 'read', 'update'] }, { path: 'secret/metadata/tenants/*', capabilities: ['list', 'read'] }] });
	const login = await s.vault('POST', '/v1/auth/kubernetes/login', { role: 'tenancy', jwt: s.sim.saJwt }, { token: null });
	assert.equal(login.status, 200);
	const token = login.body.auth.client_token;
	assert.match(token, /^hvs\./);
	assert.deepEqual(login.body.auth.policies, ['default', 'tenancy']);
	assert.equal((await s.vault('POST', '/v1/secret/data/tenants/z/db', { data: { a: 'b' } }, { token })).status, 200);
	assert.equal((await s.vault('GET', '/v1/secret/data/tenants/z/db', undefined, { token })).status, 200);
	const del = await s.vault('DELETE', '/v1/secret/data/tenants/z/db', undefined, { token });
	assert.equal(del.status, 403);
	assert.match(del.body.errors[0], /permission denied/);
	assert.equal((await s.vault('POST', '/v1/secret/data/other/x', { data: { a: 'b' } }, { token })).status, 403);
	const self = await s.vault('GET', '/v1/auth/token/lookup-self', undefined, { token });
	assert.equal(self.status, 200);
	assert.deepEqual(self.body.data.policies, ['default', 'tenancy']);
	await s.control('POST', '/__sim/vault-tokens', { token: 'limited-token', policies: [{ path: 'secret/data/ro/*', capabilities: ['read'] }] });
	assert.equal((await s.vault('POST', '/v1/secret/data/ro/a', { data: {} }, { token: 'limited-token' })).status, 403);
	const j = (await s.control('GET', '/__sim/journal')).body.filter((e) => e.service === 'vault' && e.path === '/v1/secret/data/tenants/z/db');
	assert.deepEqual(j.map((e) => [e.method, e.verb, e.resource, e.status]), [
		['POST', 'create', 'secret/data/tenants/z/db', 200],
		['GET', 'read', 'secret/data/tenants/z/db', 200],
		['DELETE', 'delete', 'secret/data/tenants/z/db', 403],
	]);
	assert.deepEqual(j[0].body, { data: { a: '***' } });
	const loginEntry = (await s.control('GET', '/__sim/journal')).body.find((e) => e.path === '/v1/auth/kubernetes/login');
	assert.equal(loginEntry.body.jwt, '***');
});

test('grafana: health, auth, create, version conflict, overwrite, get, delete', async () =>
{
	assert.equal((await s.grafana('GET', '/api/health', undefined, { token: null })).body.database, 'ok');
	assert.equal((await s.grafana('GET', '/api/dashboards/uid/x', undefined, { token: null })).status, 401);
	assert.equal((await s.grafana('GET', '/api/dashboards/uid/x', undefined, { token: 'nope' })).status, 401);
	const missing = await s.grafana('GET', '/api/dashboards/uid/x');
	assert.equal(missing.status, 404);
	assert.deepEqual(missing.body, { message: 'Dashboard not found' });
	const c = await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'tenant-acme', title: 'Acme Corp', panels: [] }, overwrite: false });
	assert.equal(c.status, 200);
	assert.deepEqual(c.body, { id: c.body.id, uid: 'tenant-acme', url: '/d/tenant-acme/acme-corp', status: 'success', version: 1, slug: 'acme-corp', folderUid: '' });
	const stale = await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'tenant-acme', title: 'Acme Corp', version: 0 }, overwrite: false });
	assert.equal(stale.status, 412);
	assert.equal(stale.body.status, 'version-mismatch');
	const ok = await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'tenant-acme', title: 'Acme Corp', version: 1 }, overwrite: false });
	assert.equal(ok.body.version, 2);
	const ow = await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'tenant-acme', title: 'Acme Corp', panels: [{ id: 1 }] }, overwrite: true });
	assert.equal(ow.body.version, 3);
	assert.equal(ow.body.id, c.body.id);
	const g = await s.grafana('GET', '/api/dashboards/uid/tenant-acme');
	assert.equal(g.body.dashboard.version, 3);
	assert.equal(g.body.dashboard.uid, 'tenant-acme');
	assert.equal(g.body.meta.slug, 'acme-corp');
	const dup = await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'other', title: 'Acme Corp' } });
	assert.equal(dup.status, 412);
	assert.equal(dup.body.status, 'name-exists');
	assert.equal((await s.grafana('POST', '/api/dashboards/db', { dashboard: { uid: 'x' } })).status, 400);
	const search = await s.grafana('GET', '/api/search?query=acme');
	assert.equal(search.body[0].uid, 'tenant-acme');
	const d = await s.grafana('DELETE', '/api/dashboards/uid/tenant-acme');
	assert.equal(d.status, 200);
	assert.equal(d.body.message, 'Dashboard Acme Corp deleted');
	assert.equal((await s.grafana('DELETE', '/api/dashboards/uid/tenant-acme')).status, 404);
	const f = await s.grafana('POST', '/api/folders', { uid: 'tenants', title: 'Tenants' });
	assert.equal(f.status, 200);
	assert.equal((await s.grafana('POST', '/api/dashboards/db', { dashboard: { title: 'In folder' }, folderUid: 'tenants' })).status, 200);
	assert.equal((await s.grafana('POST', '/api/dashboards/db', { dashboard: { title: 'Nowhere' }, folderUid: 'nope' })).status, 400);
});
