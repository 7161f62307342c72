// Unit tests of lib/rbac.js on a small synthetic journal: what the checker
// derives from requests and bodies, and what it reports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareRbac, requiredPermissions, boundClusterRoles } from '../lib/rbac.js';

const k = (verb, resource, extra = {}) => ({ service: 'kubernetes', method: 'X', path: '/p', verb, apiGroup: '', resource, name: null, ...extra });

const journal = [
	k('get', 'namespaces', { name: 'airflow-acme' }),
	k('patch', 'namespaces', { name: 'airflow-acme', impliedVerbs: ['create'] }),
	k('list', 'pods', { namespace: 'airflow-acme' }),
	{ service: 'kubernetes', method: 'GET', path: '/apis', verb: 'get', resource: null, nonResourceURL: '/apis' },
	{ service: 'vault', method: 'GET', path: '/v1/secret/data/x', verb: 'read', resource: 'secret/data/x' },
	k('create', 'selfsubjectaccessreviews', { apiGroup: 'authorization.k8s.io' }),
];

const exact = [
	{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'create', 'patch'] },
	{ apiGroups: [''], resources: ['pods'], verbs: ['list'] },
];

test('exact rules: nothing missing, nothing unused', () =>
{
	const { needs, problems } = requiredPermissions(journal, []);
	assert.deepEqual(problems, []);
	assert.deepEqual([...needs.keys()].sort(), ['create namespaces', 'get namespaces (airflow-acme)', 'list pods', 'patch namespaces (airflow-acme)']);
	assert.deepEqual(compareRbac(exact, needs), { missing: [], unused: [], wildcards: [] });
});

test('a missing verb and an unused resource are both reported', () =>
{
	const { needs } = requiredPermissions(journal, []);
	const rules = [
		{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'patch', 'delete'] },
		{ apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['list'] },
	];
	const r = compareRbac(rules, needs);
	assert.equal(r.missing.length, 1);
	assert.match(r.missing[0], /^create namespaces /);
	assert.deepEqual(r.unused, ['delete namespaces', 'list secrets']);
});

test('API groups matter: the same resource name in another group does not cover', () =>
{
	const { needs } = requiredPermissions([k('get', 'helmreleases', { apiGroup: 'helm.toolkit.fluxcd.io', name: 'a' })], []);
	const r = compareRbac([{ apiGroups: ['source.toolkit.fluxcd.io'], resources: ['helmreleases'], verbs: ['get'] }], needs);
	assert.equal(r.missing.length, 1);
	assert.deepEqual(r.unused, ['get helmreleases.source.toolkit.fluxcd.io']);
});

test('wildcards are reported', () =>
{
	const r = compareRbac([{ apiGroups: [''], resources: ['*'], verbs: ['get'] }], new Map());
	assert.equal(r.wildcards.length, 1);
});

test('a Role the worker writes needs the permissions it grants (escalation prevention)', () =>
{
	const role = k('patch', 'roles', {
		apiGroup: 'rbac.authorization.k8s.io', namespace: 'airflow-acme', name: 'airflow-worker',
		body: JSON.stringify({ rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }] }),
	});
	const { needs } = requiredPermissions([role], []);
	assert.ok(needs.has('create pods/exec'));
	const r = compareRbac([{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['patch'] }], needs);
	assert.equal(r.missing.length, 1);
	assert.match(r.missing[0], /create pods\/exec .*granted by Role/);
});

test('a RoleBinding to a ClusterRole needs bind on it, or all of its permissions', () =>
{
	const rb = k('create', 'rolebindings', {
		apiGroup: 'rbac.authorization.k8s.io', namespace: 'airflow-acme',
		body: { metadata: { name: 'airflow' }, roleRef: { kind: 'ClusterRole', name: 'tenant-workload' } },
	});
	const tenantRole = { kind: 'ClusterRole', metadata: { name: 'tenant-workload' }, rules: [{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }] };
	const { needs } = requiredPermissions([rb], [tenantRole]);
	const base = { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] };
	const bind = { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['tenant-workload'] };
	assert.deepEqual(compareRbac([base, bind], needs), { missing: [], unused: [], wildcards: [] });
	// bind on another ClusterRole does not help, and is unused
	const other = { ...bind, resourceNames: ['cluster-admin'] };
	const r = compareRbac([base, other], needs);
	assert.equal(r.missing.length, 1);
	assert.deepEqual(r.unused, ['bind clusterroles.rbac.authorization.k8s.io (cluster-admin)']);
	// holding the permissions themselves is the other way
	assert.deepEqual(compareRbac([base, tenantRole.rules[0]], needs).missing, []);
});

test('a Role write without a readable body is a problem, not a pass', () =>
{
	const { problems } = requiredPermissions([k('create', 'roles', { apiGroup: 'rbac.authorization.k8s.io', body: '<unparseable' })], []);
	assert.equal(problems.length, 1);
});

test('entries without RBAC attributes are problems', () =>
{
	const { problems } = requiredPermissions([{ service: 'kubernetes', method: 'GET', path: '/api/v1/pods' }], []);
	assert.equal(problems.length, 1);
});

test('only ClusterRoles bound to the service account count', () =>
{
	const objects = [
		{ kind: 'ClusterRole', metadata: { name: 'worker' } },
		{ kind: 'ClusterRole', metadata: { name: 'tenant' } },
		{ kind: 'ClusterRoleBinding', roleRef: { name: 'worker' }, subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: 'ns' }] },
	];
	assert.deepEqual(boundClusterRoles(objects, 'ns', 'sa').map((r) => r.metadata.name), ['worker']);
	assert.deepEqual(boundClusterRoles(objects, 'other', 'sa'), []);
});
