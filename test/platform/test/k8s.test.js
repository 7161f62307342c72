// Kubernetes API semantics: status codes, Status bodies, metadata,
// selectors, validation, namespaces, patch and apply, auth, watch, Flux.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, eventually, ns, cm } from './helpers.js';

let s;
before(async () =>
{
	s = await startSim();
});
after(async () => s.stop());

test('create returns 201 with server-set metadata; second create is 409 AlreadyExists', async () =>
{
	const r = await s.k8s('POST', '/api/v1/namespaces', ns('t-create'));
	assert.equal(r.status, 201);
	const md = r.body.metadata;
	assert.match(md.uid, /^[0-9a-f-]{36}$/);
	assert.match(md.resourceVersion, /^\d+$/);
	assert.match(md.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	assert.equal(md.labels['kubernetes.io/metadata.name'], 't-create');
	assert.equal(r.body.status.phase, 'Active');
	const again = await s.k8s('POST', '/api/v1/namespaces', ns('t-create'));
	assert.equal(again.status, 409);
	assert.deepEqual(again.body, {
		kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
		message: 'namespaces "t-create" already exists', reason: 'AlreadyExists',
		details: { name: 't-create', kind: 'namespaces' }, code: 409,
	});
});

test('GET and DELETE of a missing object are 404 NotFound Status', async () =>
{
	const r = await s.k8s('GET', '/api/v1/namespaces/nope');
	assert.equal(r.status, 404);
	assert.deepEqual(r.body, {
		kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
		message: 'namespaces "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'namespaces' }, code: 404,
	});
	const d = await s.k8s('DELETE', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/default/helmreleases/x');
	assert.equal(d.status, 404);
	assert.equal(d.body.message, 'helmreleases.helm.toolkit.fluxcd.io "x" not found');
	assert.deepEqual(d.body.details, { name: 'x', group: 'helm.toolkit.fluxcd.io', kind: 'helmreleases' });
});

test('namespaced create in a missing namespace is 404 for the namespace', async () =>
{
	const r = await s.k8s('POST', '/api/v1/namespaces/missing/configmaps', cm('a', { k: 'v' }));
	assert.equal(r.status, 404);
	assert.equal(r.body.message, 'namespaces "missing" not found');
	const l = await s.k8s('GET', '/api/v1/namespaces/missing/configmaps');
	assert.equal(l.status, 200);
	assert.deepEqual(l.body.items, []);
});

test('new namespaces get the default ServiceAccount and kube-root-ca.crt', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-defaults'));
	await eventually(async () => (await s.k8s('GET', '/api/v1/namespaces/t-defaults/serviceaccounts/default')).status === 200);
	const c = await s.k8s('GET', '/api/v1/namespaces/t-defaults/configmaps/kube-root-ca.crt');
	assert.equal(c.status, 200);
});

test('PUT with a stale resourceVersion is 409 Conflict; without one it updates', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-put'));
	const c = await s.k8s('POST', '/api/v1/namespaces/t-put/configmaps', cm('c', { a: '1' }));
	const rv1 = c.body.metadata.resourceVersion;
	const u = await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps/c', { ...c.body, data: { a: '2' } });
	assert.equal(u.status, 200);
	assert.ok(Number(u.body.metadata.resourceVersion) > Number(rv1));
	assert.equal(u.body.metadata.uid, c.body.metadata.uid);
	const stale = await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps/c', { ...c.body, data: { a: '3' } });
	assert.equal(stale.status, 409);
	assert.equal(stale.body.reason, 'Conflict');
	assert.equal(stale.body.message, 'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again');
	const { resourceVersion, ...mdNoRV } = c.body.metadata;
	const blind = await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps/c', { ...c.body, metadata: mdNoRV, data: { a: '4' } });
	assert.equal(blind.status, 200);
	assert.equal(blind.body.data.a, '4');
	const wrongName = await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps/c', cm('other', {}));
	assert.equal(wrongName.status, 400);
	const missing = await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps/zz', cm('zz', {}));
	assert.equal(missing.status, 404);
	const withRV = await s.k8s('POST', '/api/v1/namespaces/t-put/configmaps', { ...c.body, metadata: { name: 'rv', resourceVersion: '5' } });
	assert.equal(withRV.status, 500);
	assert.equal(withRV.body.message, 'Internal error occurred: resourceVersion should not be set on objects to be created');
	assert.equal((await s.k8s('PUT', '/api/v1/namespaces/t-put/configmaps', cm('x', {}))).status, 405);
});

test('generation is bumped on spec changes only', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-gen'));
	const np = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny' }, spec: { podSelector: {} } };
	const c = await s.k8s('POST', '/apis/networking.k8s.io/v1/namespaces/t-gen/networkpolicies', np);
	assert.equal(c.status, 201);
	assert.equal(c.body.metadata.generation, 1);
	assert.deepEqual(c.body.spec.policyTypes, ['Ingress']);
	const l = await s.k8s('PATCH', '/apis/networking.k8s.io/v1/namespaces/t-gen/networkpolicies/deny', { metadata: { labels: { a: 'b' } } }, { contentType: 'application/merge-patch+json' });
	assert.equal(l.body.metadata.generation, 1);
	const p = await s.k8s('PATCH', '/apis/networking.k8s.io/v1/namespaces/t-gen/networkpolicies/deny', { spec: { policyTypes: ['Ingress', 'Egress'] } }, { contentType: 'application/merge-patch+json' });
	assert.equal(p.body.metadata.generation, 2);
});

test('list with labelSelector and fieldSelector', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-sel'));
	await s.k8s('POST', '/api/v1/namespaces/t-sel/configmaps', cm('a', {}, { labels: { app: 'x', tier: 'web' } }));
	await s.k8s('POST', '/api/v1/namespaces/t-sel/configmaps', cm('b', {}, { labels: { app: 'y' } }));
	await s.k8s('POST', '/api/v1/namespaces/t-sel/configmaps', cm('c', {}, { labels: { app: 'x' } }));
	const names = async (q) => (await s.k8s('GET', `/api/v1/namespaces/t-sel/configmaps?${q}`)).body.items.map((i) => i.metadata.name);
	assert.deepEqual(await names('labelSelector=app%3Dx'), ['a', 'c']);
	assert.deepEqual(await names('labelSelector=app%20in%20(x,y),tier'), ['a']);
	assert.deepEqual(await names('labelSelector=app!%3Dx,app'), ['b']);
	assert.deepEqual(await names('labelSelector=!tier,app'), ['b', 'c']);
	assert.deepEqual(await names('fieldSelector=metadata.name%3Db'), ['b']);
	const list = await s.k8s('GET', '/api/v1/namespaces/t-sel/configmaps?labelSelector=app');
	assert.equal(list.body.kind, 'ConfigMapList');
	assert.equal(list.body.apiVersion, 'v1');
	assert.match(list.body.metadata.resourceVersion, /^\d+$/);
	const bad = await s.k8s('GET', '/api/v1/namespaces/t-sel/configmaps?fieldSelector=spec.x%3D1');
	assert.equal(bad.status, 400);
	const all = await s.k8s('GET', '/api/v1/configmaps?labelSelector=app%3Dy');
	assert.deepEqual(all.body.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`), ['t-sel/b']);
	const page = await s.k8s('GET', '/api/v1/namespaces/t-sel/configmaps?labelSelector=app&limit=2');
	assert.equal(page.body.items.length, 2);
	const rest = await s.k8s('GET', `/api/v1/namespaces/t-sel/configmaps?labelSelector=app&limit=2&continue=${encodeURIComponent(page.body.metadata.continue)}`);
	assert.deepEqual(rest.body.items.map((i) => i.metadata.name), ['c']);
});

test('schema validation: 422 Invalid with causes', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-val'));
	const r = await s.k8s('POST', '/api/v1/namespaces/t-val/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Bad_Name' }, data: { k: 5 } });
	assert.equal(r.status, 422);
	assert.equal(r.body.reason, 'Invalid');
	assert.equal(r.body.details.kind, 'ConfigMap');
	const fields = r.body.details.causes.map((c) => c.field).sort();
	assert.deepEqual(fields, ['data.k', 'metadata.name']);
	assert.ok(r.body.details.causes.every((c) => c.reason && c.message));
	assert.match(r.body.message, /^ConfigMap "Bad_Name" is invalid: \[/);
	const nsBad = await s.k8s('POST', '/api/v1/namespaces', ns('a.b'));
	assert.equal(nsBad.status, 422);
	assert.equal(nsBad.body.details.causes[0].reason, 'FieldValueInvalid');
	assert.match(nsBad.body.details.causes[0].message, /RFC 1123 label/);
	const hr = await s.k8s('POST', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-val/helmreleases', { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'x' }, spec: {} });
	assert.equal(hr.status, 422);
	assert.deepEqual(hr.body.details.causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.interval' }]);
	assert.equal(hr.body.details.group, 'helm.toolkit.fluxcd.io');
	const smon = await s.k8s('POST', '/apis/monitoring.coreos.com/v1/namespaces/t-val/servicemonitors', { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'x' }, spec: {} });
	assert.equal(smon.status, 422);
	const cron = await s.k8s('POST', '/apis/batch/v1/namespaces/t-val/cronjobs', {
		apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'j' },
		spec: { schedule: '61 * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Always', containers: [{ name: 'c', image: 'busybox' }] } } } } },
	});
	assert.equal(cron.status, 422);
	assert.deepEqual(cron.body.details.causes.map((c) => c.field).sort(), ['spec.jobTemplate.spec.template.spec.restartPolicy', 'spec.schedule']);
	const label = await s.k8s('POST', '/api/v1/namespaces/t-val/configmaps', cm('ok', {}, { labels: { 'bad key!': 'v' } }));
	assert.equal(label.status, 422);
	const mismatch = await s.k8s('POST', '/api/v1/namespaces/t-val/configmaps', cm('ok', {}, { namespace: 'other' }));
	assert.equal(mismatch.status, 400);
	assert.equal(mismatch.body.message, 'the namespace of the provided object does not match the namespace sent on the request');
});

test('Secret stringData is folded into data; type defaults to Opaque', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-secret'));
	const r = await s.k8s('POST', '/api/v1/namespaces/t-secret/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { pw: 'hunter2' } });
	assert.equal(r.status, 201);
	assert.equal(r.body.type, 'Opaque');
	assert.deepEqual(r.body.data, { pw: Buffer.from('hunter2').toString('base64') });
	assert.equal(r.body.stringData, undefined);
	const bad = await s.k8s('POST', '/api/v1/namespaces/t-secret/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's2' }, data: { pw: 'not base64!' } });
	assert.equal(bad.status, 422);
});

test('namespace DELETE: Terminating, then it and its content are gone', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-del'));
	await s.k8s('POST', '/api/v1/namespaces/t-del/configmaps', cm('c', {}));
	const d = await s.k8s('DELETE', '/api/v1/namespaces/t-del');
	assert.equal(d.status, 200);
	assert.equal(d.body.kind, 'Namespace');
	assert.equal(d.body.status.phase, 'Terminating');
	assert.ok(d.body.metadata.deletionTimestamp);
	const blocked = await s.k8s('POST', '/api/v1/namespaces/t-del/configmaps', cm('d', {}));
	assert.equal(blocked.status, 403);
	assert.equal(blocked.body.details.causes[0].reason, 'NamespaceTerminating');
	await eventually(async () => (await s.k8s('GET', '/api/v1/namespaces/t-del')).status === 404);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/t-del/configmaps/c')).status, 404);
	const dc = await s.k8s('DELETE', '/api/v1/namespaces/default/configmaps/none');
	assert.equal(dc.status, 404);
});

test('DELETE of a ConfigMap returns a Success Status; of a custom resource the object', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-del2'));
	const c = await s.k8s('POST', '/api/v1/namespaces/t-del2/configmaps', cm('c', {}));
	const d = await s.k8s('DELETE', '/api/v1/namespaces/t-del2/configmaps/c');
	assert.equal(d.status, 200);
	assert.deepEqual(d.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'c', kind: 'configmaps', uid: c.body.metadata.uid } });
	const pre = await s.k8s('POST', '/api/v1/namespaces/t-del2/configmaps', cm('p', {}));
	const bad = await s.k8s('DELETE', '/api/v1/namespaces/t-del2/configmaps/p', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'x' } });
	assert.equal(bad.status, 409);
	assert.equal(pre.status, 201);
	await s.k8s('POST', '/api/v1/namespaces/t-del2/configmaps', cm('q', {}, { labels: { x: '1' } }));
	const coll = await s.k8s('DELETE', '/api/v1/namespaces/t-del2/configmaps?labelSelector=x');
	assert.equal(coll.status, 200);
	assert.deepEqual(coll.body.items.map((i) => i.metadata.name), ['q']);
});

test('finalizers hold an object until they are removed', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-fin'));
	await s.k8s('POST', '/api/v1/namespaces/t-fin/configmaps', cm('f', {}, { finalizers: ['example.com/hold'] }));
	const d = await s.k8s('DELETE', '/api/v1/namespaces/t-fin/configmaps/f');
	assert.equal(d.status, 200);
	assert.ok(d.body.metadata.deletionTimestamp);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/t-fin/configmaps/f')).status, 200);
	await s.k8s('PATCH', '/api/v1/namespaces/t-fin/configmaps/f', { metadata: { finalizers: null } }, { contentType: 'application/merge-patch+json' });
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/t-fin/configmaps/f')).status, 404);
});

test('merge, JSON and strategic merge patches', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-patch'));
	const dep = {
		apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
		spec: { selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] } } },
	};
	const c = await s.k8s('POST', '/apis/apps/v1/namespaces/t-patch/deployments', dep);
	assert.equal(c.status, 201);
	assert.equal(c.body.spec.replicas, 1);
	const sp = await s.k8s('PATCH', '/apis/apps/v1/namespaces/t-patch/deployments/d', { spec: { template: { spec: { containers: [{ name: 'b', image: 'b:2' }] } } } }, { contentType: 'application/strategic-merge-patch+json' });
	assert.equal(sp.status, 200);
	assert.deepEqual(sp.body.spec.template.spec.containers.map((x) => x.image), ['a:1', 'b:2']);
	const mp = await s.k8s('PATCH', '/apis/apps/v1/namespaces/t-patch/deployments/d', { spec: { template: { spec: { containers: [{ name: 'c', image: 'c:1' }] } } } }, { contentType: 'application/merge-patch+json' });
	assert.deepEqual(mp.body.spec.template.spec.containers.map((x) => x.name), ['c']);
	const jp = await s.k8s('PATCH', '/apis/apps/v1/namespaces/t-patch/deployments/d', [{ op: 'replace', path: '/spec/replicas', value: 3 }], { contentType: 'application/json-patch+json' });
	assert.equal(jp.body.spec.replicas, 3);
	assert.equal(jp.body.metadata.generation, 4);
	const del = await s.k8s('PATCH', '/apis/apps/v1/namespaces/t-patch/deployments/d', { spec: { template: { spec: { containers: [{ name: 'c', $patch: 'delete' }, { name: 'e', image: 'e:1' }] } } } }, { contentType: 'application/strategic-merge-patch+json' });
	assert.deepEqual(del.body.spec.template.spec.containers.map((x) => x.name), ['e']);
	const invalid = await s.k8s('PATCH', '/apis/apps/v1/namespaces/t-patch/deployments/d', { spec: { replicas: 'many' } }, { contentType: 'application/merge-patch+json' });
	assert.equal(invalid.status, 422);
	const crd = await s.k8s('PATCH', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-patch/helmreleases/x', {}, { contentType: 'application/strategic-merge-patch+json' });
	assert.equal(crd.status, 415);
	assert.equal(crd.body.reason, 'UnsupportedMediaType');
	const missing = await s.k8s('PATCH', '/api/v1/namespaces/t-patch/configmaps/none', {}, { contentType: 'application/merge-patch+json' });
	assert.equal(missing.status, 404);
	const force = await s.k8s('PATCH', '/api/v1/namespaces/t-patch/configmaps/none?force=true', {}, { contentType: 'application/merge-patch+json' });
	assert.equal(force.status, 422);
});

const APPLY = 'application/apply-patch+yaml';

test('server-side apply with metadata.uid updates that object only: 422 for another, 409 when none', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-ssa-uid'));
	const url = '/api/v1/namespaces/t-ssa-uid/configmaps/own';
	const body = (uid, v) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'own', uid }, data: { v } });
	const absent = await s.k8s('PATCH', `${url}?fieldManager=tenancy&force=true`, body('0b5d3ad8-0000-4000-8000-000000000001', '1'), { contentType: APPLY });
	assert.equal(absent.status, 409);
	assert.equal(absent.body.message, 'Operation cannot be fulfilled on configmaps "own": uid mismatch: the provided object specified uid 0b5d3ad8-0000-4000-8000-000000000001, and no existing object was found');
	assert.equal((await s.k8s('GET', url)).status, 404);
	const created = await s.k8s('POST', '/api/v1/namespaces/t-ssa-uid/configmaps?fieldManager=tenancy', body(undefined, '1'));
	assert.equal(created.status, 201);
	const uid = created.body.metadata.uid;
	const same = await s.k8s('PATCH', `${url}?fieldManager=tenancy&force=true`, body(uid, '2'), { contentType: APPLY });
	assert.equal(same.status, 200);
	assert.equal(same.body.data.v, '2');
	assert.equal(same.body.metadata.uid, uid);
	const other = await s.k8s('PATCH', `${url}?fieldManager=tenancy&force=true`, body('0b5d3ad8-0000-4000-8000-000000000002', '3'), { contentType: APPLY });
	assert.equal(other.status, 422);
	assert.equal(other.body.message, 'ConfigMap "own" is invalid: metadata.uid: Invalid value: "0b5d3ad8-0000-4000-8000-000000000002": field is immutable');
	assert.equal((await s.k8s('GET', url)).body.data.v, '2');
});

test('server-side apply: fieldManager required, create, conflicts, force, field removal', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-ssa'));
	const url = '/api/v1/namespaces/t-ssa/configmaps/app';
	const noMgr = await s.k8s('PATCH', url, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n', { contentType: APPLY });
	assert.equal(noMgr.status, 422);
	assert.equal(noMgr.body.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
	const created = await s.k8s('PATCH', `${url}?fieldManager=tenancy`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels:\n    owner: tenancy\ndata:\n  a: "1"\n  b: "2"\n', { contentType: APPLY });
	assert.equal(created.status, 201);
	assert.deepEqual(created.body.data, { a: '1', b: '2' });
	const mf = created.body.metadata.managedFields;
	assert.equal(mf.length, 1);
	assert.equal(mf[0].manager, 'tenancy');
	assert.equal(mf[0].operation, 'Apply');
	assert.deepEqual(mf[0].fieldsV1, { 'f:metadata': { 'f:labels': { 'f:owner': {} } }, 'f:data': { 'f:a': {}, 'f:b': {} } });
	// Same manager again, dropping b: b is removed.
	const again = await s.k8s('PATCH', `${url}?fieldManager=tenancy`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', labels: { owner: 'tenancy' } }, data: { a: '1' } }, { contentType: APPLY });
	assert.equal(again.status, 200);
	assert.deepEqual(again.body.data, { a: '1' });
	// Another manager changing a: conflict; same value: shared, no conflict.
	const other = await s.k8s('PATCH', `${url}?fieldManager=ops`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: 'X' } }, { contentType: APPLY });
	assert.equal(other.status, 409);
	assert.equal(other.body.reason, 'Conflict');
	assert.deepEqual(other.body.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "tenancy"', field: '.data.a' }]);
	const shared = await s.k8s('PATCH', `${url}?fieldManager=ops`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: '1', c: '3' } }, { contentType: APPLY });
	assert.equal(shared.status, 200);
	const forced = await s.k8s('PATCH', `${url}?fieldManager=ops&force=true`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: 'X', c: '3' } }, { contentType: APPLY });
	assert.equal(forced.status, 200);
	assert.equal(forced.body.data.a, 'X');
	const tenancyEntry = forced.body.metadata.managedFields.find((m) => m.manager === 'tenancy');
	assert.equal(tenancyEntry.fieldsV1['f:data'], undefined);
	// An Update by someone else takes the field; the next apply conflicts.
	await s.k8s('PATCH', `${url}?fieldManager=editor`, { data: { c: 'edited' } }, { contentType: 'application/merge-patch+json' });
	const conflictUpd = await s.k8s('PATCH', `${url}?fieldManager=ops`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: 'X', c: '3' } }, { contentType: APPLY });
	assert.equal(conflictUpd.status, 409);
	assert.match(conflictUpd.body.message, /conflict with "editor"/);
	const wrongKind = await s.k8s('PATCH', `${url}?fieldManager=ops`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app' } }, { contentType: APPLY });
	assert.equal(wrongKind.status, 400);
	const invalid = await s.k8s('PATCH', `${url}?fieldManager=ops&force=true`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: 1 } }, { contentType: APPLY });
	assert.equal(invalid.status, 422);
	const inMissingNs = await s.k8s('PATCH', '/api/v1/namespaces/none/configmaps/x?fieldManager=m', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, { contentType: APPLY });
	assert.equal(inMissingNs.status, 404);
	assert.equal(inMissingNs.body.message, 'namespaces "none" not found');
	const dry = await s.k8s('PATCH', '/api/v1/namespaces/t-ssa/configmaps/dry?fieldManager=m&dryRun=All', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' } }, { contentType: APPLY });
	assert.equal(dry.status, 201);
	assert.equal((await s.k8s('GET', '/api/v1/namespaces/t-ssa/configmaps/dry')).status, 404);
});

test('server-side apply of a HelmRelease keeps status; status subresource writes only status', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-status'));
	const hr = { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'r' }, spec: { interval: '5m', suspend: true, chart: { spec: { chart: 'x', sourceRef: { kind: 'HelmRepository', name: 'repo' } } } }, status: { observedGeneration: 99 } };
	const c = await s.k8s('PATCH', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-status/helmreleases/r?fieldManager=t', hr, { contentType: APPLY });
	assert.equal(c.status, 201);
	assert.equal(c.body.status, undefined);
	const st = await s.k8s('PATCH', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-status/helmreleases/r/status', { status: { observedGeneration: 1 }, spec: { interval: '1m' } }, { contentType: 'application/merge-patch+json' });
	assert.equal(st.status, 200);
	assert.equal(st.body.status.observedGeneration, 1);
	assert.equal(st.body.spec.interval, '5m');
});

test('authentication and authorization', async () =>
{
	const none = await s.k8s('GET', '/api/v1/namespaces', undefined, { token: null });
	assert.equal(none.status, 401);
	assert.deepEqual(none.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
	const bad = await s.k8s('GET', '/api/v1/namespaces', undefined, { token: 'wrong-token' });
	assert.equal(bad.status, 401);
	assert.equal((await s.k8s('GET', '/version', undefined, { token: null })).status, 200);
	const add = await s.control('POST', '/__sim/tokens', { token: 'reader-token-1', user: 'system:serviceaccount:t:reader', rules: [{ verbs: ['get', 'list'], resources: ['namespaces', 'configmaps'] }, { verbs: ['patch'], resources: ['configmaps'], namespaces: ['default'] }] });
	assert.equal(add.status, 201);
	const opts = { token: 'reader-token-1' };
	assert.equal((await s.k8s('GET', '/api/v1/namespaces', undefined, opts)).status, 200);
	const create = await s.k8s('POST', '/api/v1/namespaces', ns('t-forbidden'), opts);
	assert.equal(create.status, 403);
	assert.equal(create.body.reason, 'Forbidden');
	assert.equal(create.body.message, 'namespaces is forbidden: User "system:serviceaccount:t:reader" cannot create resource "namespaces" in API group "" at the cluster scope');
	const getSecret = await s.k8s('GET', '/api/v1/namespaces/default/secrets/x', undefined, opts);
	assert.equal(getSecret.status, 403);
	assert.equal(getSecret.body.message, 'secrets "x" is forbidden: User "system:serviceaccount:t:reader" cannot get resource "secrets" in API group "" in the namespace "default"');
	// Apply that would create needs create too.
	const apply = await s.k8s('PATCH', '/api/v1/namespaces/default/configmaps/newcm?fieldManager=r', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'newcm' } }, { ...opts, contentType: APPLY });
	assert.equal(apply.status, 403);
	assert.match(apply.body.message, /cannot create resource "configmaps"/);
	const hr = await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/default/helmreleases', undefined, opts);
	assert.equal(hr.status, 403);
	assert.equal(hr.body.message, 'helmreleases.helm.toolkit.fluxcd.io is forbidden: User "system:serviceaccount:t:reader" cannot list resource "helmreleases" in API group "helm.toolkit.fluxcd.io" in the namespace "default"');
	assert.equal((await s.k8s('GET', '/apis', undefined, opts)).status, 200);
	await s.control('DELETE', '/__sim/tokens/reader-token-1');
	assert.equal((await s.k8s('GET', '/api/v1/namespaces', undefined, opts)).status, 401);
});

test('discovery documents', async () =>
{
	const v = await s.k8s('GET', '/version');
	assert.equal(v.body.major, '1');
	const api = await s.k8s('GET', '/api');
	assert.deepEqual(api.body.versions, ['v1']);
	const core = await s.k8s('GET', '/api/v1');
	const names = core.body.resources.map((r) => r.name);
	for (const n of ['namespaces', 'serviceaccounts', 'secrets', 'configmaps', 'resourcequotas', 'limitranges', 'pods', 'services', 'namespaces/status'])
		assert.ok(names.includes(n), n);
	const groups = (await s.k8s('GET', '/apis')).body.groups.map((g) => g.name);
	for (const g of ['rbac.authorization.k8s.io', 'networking.k8s.io', 'batch', 'monitoring.coreos.com', 'helm.toolkit.fluxcd.io', 'source.toolkit.fluxcd.io'])
		assert.ok(groups.includes(g), g);
	const hr = await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2');
	assert.equal(hr.body.resources[0].kind, 'HelmRelease');
	assert.equal((await s.k8s('GET', '/apis/nope.io/v1')).status, 404);
	assert.equal((await s.k8s('GET', '/api/v1/widgets')).status, 404);
});

test('watch streams events from a resourceVersion', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-watch'));
	const list = await s.k8s('GET', '/api/v1/namespaces/t-watch/configmaps');
	const rv = list.body.metadata.resourceVersion;
	const ctrl = new AbortController();
	const res = await fetch(`${s.endpoints.kubernetes}/api/v1/namespaces/t-watch/configmaps?watch=true&resourceVersion=${rv}`, { headers: { authorization: `Bearer ${s.tokens.kubernetes}` }, signal: ctrl.signal });
	assert.equal(res.status, 200);
	await s.k8s('POST', '/api/v1/namespaces/t-watch/configmaps', cm('w', {}));
	await s.k8s('DELETE', '/api/v1/namespaces/t-watch/configmaps/w');
	const reader = res.body.getReader();
	let text = '';
	const events = [];
	while (!events.some((e) => e.type === 'DELETED' && e.object.metadata.name === 'w'))
	{
		const { value, done } = await reader.read();
		if (done)
			break;
		text += Buffer.from(value).toString();
		const lines = text.split('\n');
		text = lines.pop();
		for (const l of lines)
			if (l.trim())
				events.push(JSON.parse(l));
	}
	ctrl.abort();
	assert.deepEqual(events.filter((e) => e.object.metadata.name === 'w').map((e) => e.type), ['ADDED', 'DELETED']);
	assert.ok(events.every((e) => e.object.kind === 'ConfigMap'));
});

test('HelmRelease becomes Ready and its pods run; outcome can be forced to fail', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-helm'));
	const repo = { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'HelmRepository', metadata: { name: 'apache-airflow' }, spec: { interval: '1h', url: 'https://airflow.apache.org' } };
	assert.equal((await s.k8s('POST', '/apis/source.toolkit.fluxcd.io/v1/namespaces/t-helm/helmrepositories', repo)).status, 201);
	const hr = { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'airflow' }, spec: { interval: '10m', chart: { spec: { chart: 'airflow', version: '1.15.0', sourceRef: { kind: 'HelmRepository', name: 'apache-airflow' } } }, values: { executor: 'KubernetesExecutor' } } };
	const c = await s.k8s('POST', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-helm/helmreleases', hr);
	assert.equal(c.status, 201);
	const ready = await eventually(async () =>
	{
		const g = await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-helm/helmreleases/airflow');
		const cond = (g.body.status?.conditions || []).find((x) => x.type === 'Ready');
		return cond?.status === 'True' ? g.body : null;
	});
	assert.equal(ready.status.observedGeneration, 1);
	const cond = ready.status.conditions.find((x) => x.type === 'Ready');
	assert.equal(cond.reason, 'InstallSucceeded');
	const pods = await s.k8s('GET', '/api/v1/namespaces/t-helm/pods?labelSelector=app.kubernetes.io%2Finstance%3Dairflow');
	assert.equal(pods.body.items.length, 3);
	assert.ok(pods.body.items.every((p) => p.status.phase === 'Running' && p.status.conditions.find((x) => x.type === 'Ready').status === 'True'));
	const deps = await s.k8s('GET', '/apis/apps/v1/namespaces/t-helm/deployments');
	assert.ok(deps.body.items.every((d) => d.status.readyReplicas === 1));
	const repoReady = await s.k8s('GET', '/apis/source.toolkit.fluxcd.io/v1/namespaces/t-helm/helmrepositories/apache-airflow');
	assert.equal(repoReady.body.status.conditions[0].status, 'True');

	await s.control('POST', '/__sim/helmrelease-outcome', { namespace: 't-helm', name: 'broken', ready: false, reason: 'InstallFailed', message: 'timed out waiting for the condition' });
	await s.k8s('POST', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-helm/helmreleases', { ...hr, metadata: { name: 'broken' }, spec: { ...hr.spec, releaseName: 'other' } });
	const failed = await eventually(async () =>
	{
		const g = await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-helm/helmreleases/broken');
		const x = (g.body.status?.conditions || []).find((y) => y.type === 'Ready');
		return x?.status === 'False' ? x : null;
	});
	assert.equal(failed.reason, 'InstallFailed');
	assert.equal(failed.message, 'timed out waiting for the condition');
	const none = await s.k8s('GET', '/api/v1/namespaces/t-helm/pods?labelSelector=app.kubernetes.io%2Finstance%3Dother');
	assert.equal(none.body.items.length, 0);
	await s.control('DELETE', '/__sim/helmrelease-outcome');

	const del = await s.k8s('DELETE', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-helm/helmreleases/airflow');
	assert.equal(del.status, 200);
	assert.equal(del.body.kind, 'HelmRelease');
	const after = await s.k8s('GET', '/api/v1/namespaces/t-helm/pods?labelSelector=app.kubernetes.io%2Finstance%3Dairflow');
	assert.equal(after.body.items.length, 0);
});

test('Table output for kubectl get', async () =>
{
	const r = await s.k8s('GET', '/api/v1/namespaces', undefined, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
	assert.equal(r.body.kind, 'Table');
	assert.deepEqual(r.body.columnDefinitions.map((c) => c.name), ['Name', 'Status', 'Age']);
	assert.ok(r.body.rows.some((row) => row.cells[0] === 'default'));
});

test('an identical server-side apply changes nothing, whatever the key order (issue 16 item 10)', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-ssa-same'));
	const url = '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-ssa-same/helmreleases/app?fieldManager=tenancy&force=true';
	const first = {
		apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease',
		metadata: { name: 'app', labels: { a: '1', b: '2' } },
		spec: { interval: '10m', chart: { spec: { chart: 'airflow', version: '1.15.0', sourceRef: { kind: 'HelmRepository', name: 'repo' } } }, values: { x: 1, y: { p: 'q', r: 's' } } },
	};
	// The same object with every map's keys in another order.
	const reordered = {
		spec: { values: { y: { r: 's', p: 'q' }, x: 1 }, chart: { spec: { sourceRef: { name: 'repo', kind: 'HelmRepository' }, version: '1.15.0', chart: 'airflow' } }, interval: '10m' },
		metadata: { labels: { b: '2', a: '1' }, name: 'app' },
		kind: 'HelmRelease', apiVersion: 'helm.toolkit.fluxcd.io/v2',
	};
	const created = await s.k8s('PATCH', url, first, { contentType: APPLY });
	assert.equal(created.status, 201);
	assert.equal(created.body.metadata.generation, 1);
	// the controller writes status; wait until it is done with this generation
	await eventually(async () => (await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-ssa-same/helmreleases/app')).body.status?.observedGeneration === 1);
	const before = await s.k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/t-ssa-same/helmreleases/app');
	for (const body of [first, reordered, first])
	{
		const again = await s.k8s('PATCH', url, body, { contentType: APPLY });
		assert.equal(again.status, 200);
		assert.equal(again.body.metadata.generation, 1, 'generation must not move on an identical apply');
		assert.equal(again.body.metadata.resourceVersion, before.body.metadata.resourceVersion, 'resourceVersion must not move either');
	}
	// a real change still bumps it
	const changed = await s.k8s('PATCH', url, { ...first, spec: { ...first.spec, interval: '5m' } }, { contentType: APPLY });
	assert.equal(changed.body.metadata.generation, 2);
});

test('PrometheusRule and PersistentVolumeClaim: served and validated with their schemas', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-rules'));
	const base = '/apis/monitoring.coreos.com/v1/namespaces/t-rules/prometheusrules';
	const good = await s.k8s('POST', base, {
		apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r' },
		spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: '5m', labels: { severity: 'critical' } }] }] },
	});
	assert.equal(good.status, 201);
	// a group without its name, a rule whose expr is missing: the operator's schema refuses both
	const bad = await s.k8s('POST', base, {
		apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'bad' },
		spec: { groups: [{ rules: [{ alert: 'A', for: '5m' }] }] },
	});
	assert.equal(bad.status, 422);
	assert.deepEqual(bad.body.details.causes.map((c) => c.field).sort(), ['spec.groups[0].name', 'spec.groups[0].rules[0].expr']);
	const labels = await s.k8s('POST', base, {
		apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'bad2' },
		spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up', labels: { severity: 5 } }] }] },
	});
	assert.equal(labels.status, 422);
	const pvc = await s.k8s('POST', '/api/v1/namespaces/t-rules/persistentvolumeclaims', {
		apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p' },
		spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
	});
	assert.equal(pvc.status, 201);
	const pvcBad = await s.k8s('POST', '/api/v1/namespaces/t-rules/persistentvolumeclaims', {
		apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p2' },
		spec: { accessModes: 'ReadWriteOnce' },
	});
	assert.equal(pvcBad.status, 422);
});

test('CronJob: a write to /status is kept (lastSuccessfulTime), a main-resource write keeps the status', async () =>
{
	await s.k8s('POST', '/api/v1/namespaces', ns('t-cron'));
	const base = '/apis/batch/v1/namespaces/t-cron/cronjobs';
	const job = {
		apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'b' },
		spec: { schedule: '5 1 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } } },
	};
	assert.equal((await s.k8s('POST', base, job)).status, 201);
	const st = await s.k8s('PATCH', `${base}/b/status`, { status: { lastSuccessfulTime: '2026-01-02T03:04:05Z' } }, { contentType: 'application/merge-patch+json' });
	assert.equal(st.status, 200);
	assert.equal((await s.k8s('GET', `${base}/b`)).body.status.lastSuccessfulTime, '2026-01-02T03:04:05Z');
	const main = await s.k8s('PATCH', `${base}/b`, { spec: { suspend: true }, status: { lastSuccessfulTime: null } }, { contentType: 'application/merge-patch+json' });
	assert.equal(main.status, 200);
	assert.equal((await s.k8s('GET', `${base}/b`)).body.status.lastSuccessfulTime, '2026-01-02T03:04:05Z');
});
