// The chart's ValidatingAdmissionPolicy evaluated as the API server would:
// its CEL expressions (rendered by a real helm 3) run by a CEL interpreter
// against admission requests of the worker's identity.  What the worker does
// for a tenant is allowed; adopting, relabelling or deleting what tenancy did
// not create is denied (issue 17, finding 4), and other users are not
// matched at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate } from '@marcbachmann/cel-js';
import { parseManifests } from '../lib/manifests.js';

const top = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const helm = process.env.HELM;
const skip = helm ? false : 'HELM is not set (run test/deploy/run-tests.sh)';
const WORKER = 'system:serviceaccount:platform:tenancy';

function policy()
{
	const text = execFileSync(helm, ['template', 'tenancy', join(top, 'deploy', 'helm', 'tenancy'), '--namespace', 'platform'],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	return parseManifests(text).find((o) => o.kind === 'ValidatingAdmissionPolicy');
}

// The messages of the validations that deny a request ([] = allowed), as
// the API server decides for a policy with failurePolicy Fail: a match
// condition that is false skips the policy; a validation that is false or
// fails to evaluate denies.
function decide(vap, { operation, resource, namespace = '', name, user = WORKER, object = null, oldObject = null, namespaceObject = null, subResource = '' })
{
	const request = { operation, name, namespace, subResource, resource: { group: '', version: 'v1', resource }, userInfo: { username: user } };
	const ctx = { request, object, oldObject, namespaceObject, params: null };
	for (const c of vap.spec.matchConditions ?? [])
		if (evaluate(c.expression, ctx) !== true)
			return [];
	const variables = {};
	for (const v of vap.spec.variables ?? [])
		variables[v.name] = evaluate(v.expression, { ...ctx, variables });
	const denied = [];
	for (const v of vap.spec.validations)
	{
		let result;
		try
		{
			result = evaluate(v.expression, { ...ctx, variables });
		}
		catch (e)
		{
			result = `error: ${e.message}`;
		}
		if (result !== true)
			denied.push(v.message);
	}
	return denied;
}

const tenancyLabels = (tenant) => ({ 'app.kubernetes.io/managed-by': 'tenancy', 'tenancy.io/tenant': tenant });
const ns = (name, labels) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } });
const cm = (name, namespace, labels) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...(labels ? { labels } : {}) } });

test('admission policy: what the worker does for its tenants is allowed', { skip }, () =>
{
	const vap = policy();
	const mine = ns('airflow-acme', tenancyLabels('acme'));
	assert.deepEqual(decide(vap, { operation: 'CREATE', resource: 'namespaces', name: 'airflow-acme', object: mine }), []);
	assert.deepEqual(decide(vap, { operation: 'UPDATE', resource: 'namespaces', name: 'airflow-acme', namespace: 'airflow-acme', object: mine, oldObject: mine }), []);
	assert.deepEqual(decide(vap, { operation: 'DELETE', resource: 'namespaces', name: 'airflow-acme', namespace: 'airflow-acme', oldObject: mine }), []);
	const q = cm('tenant-dags', 'airflow-acme', tenancyLabels('acme'));
	assert.deepEqual(decide(vap, { operation: 'CREATE', resource: 'configmaps', namespace: 'airflow-acme', name: 'tenant-dags', object: q, namespaceObject: mine }), []);
	assert.deepEqual(decide(vap, { operation: 'UPDATE', resource: 'configmaps', namespace: 'airflow-acme', name: 'tenant-dags', object: q, oldObject: q, namespaceObject: mine }), []);
	assert.deepEqual(decide(vap, { operation: 'DELETE', resource: 'secrets', namespace: 'airflow-acme', name: 'oauth-credentials', oldObject: cm('oauth-credentials', 'airflow-acme', tenancyLabels('acme')), namespaceObject: mine }), []);
	const binding = { metadata: { name: 'airflow-worker', labels: tenancyLabels('acme') }, subjects: [{ kind: 'ServiceAccount', name: 'airflow-worker', namespace: 'airflow-acme' }] };
	assert.deepEqual(decide(vap, { operation: 'CREATE', resource: 'rolebindings', namespace: 'airflow-acme', name: 'airflow-worker', object: binding, namespaceObject: mine }), []);
});

test('admission policy: the worker cannot adopt, relabel or delete what tenancy did not create', { skip }, () =>
{
	const vap = policy();
	const team = ns('airflow-prod', { team: 'payments' });
	// relabelling a team's namespace (what provision('prod') did before)
	assert.match(decide(vap, { operation: 'UPDATE', resource: 'namespaces', name: 'airflow-prod', namespace: 'airflow-prod', oldObject: team, object: ns('airflow-prod', { team: 'payments', ...tenancyLabels('prod') }) }).join('\n'),
		/update or delete only objects labelled/);
	// deleting it (what deprovision('prod') did)
	assert.match(decide(vap, { operation: 'DELETE', resource: 'namespaces', name: 'airflow-prod', namespace: 'airflow-prod', oldObject: team }).join('\n'),
		/update or delete only objects labelled/);
	// a quota or a policy put into it
	assert.match(decide(vap, { operation: 'CREATE', resource: 'resourcequotas', namespace: 'airflow-prod', name: 'tenant-quota', object: cm('tenant-quota', 'airflow-prod', tenancyLabels('prod')), namespaceObject: team }).join('\n'),
		/write only in namespaces labelled app\.kubernetes\.io\/managed-by=tenancy/);
	// the team's ConfigMap in a tenancy namespace
	const mine = ns('airflow-acme', tenancyLabels('acme'));
	assert.match(decide(vap, { operation: 'DELETE', resource: 'configmaps', namespace: 'airflow-acme', name: 'team-config', oldObject: cm('team-config', 'airflow-acme'), namespaceObject: mine }).join('\n'),
		/update or delete only objects labelled/);
	// moving an object from one tenant to another
	assert.match(decide(vap, { operation: 'UPDATE', resource: 'configmaps', namespace: 'airflow-acme', name: 'x', oldObject: cm('x', 'airflow-acme', tenancyLabels('acme')), object: cm('x', 'airflow-acme', tenancyLabels('other')), namespaceObject: mine }).join('\n'),
		/may not change their tenant/);
	// a namespace created without the labels, or outside the prefix
	assert.match(decide(vap, { operation: 'CREATE', resource: 'namespaces', name: 'airflow-new', object: ns('airflow-new') }).join('\n'),
		/create only namespaces labelled/);
	assert.match(decide(vap, { operation: 'CREATE', resource: 'namespaces', name: 'kube-system2', object: ns('kube-system2', tenancyLabels('x')) }).join('\n'),
		/namespaces whose name starts with airflow-/);
	// a binding to a subject of another namespace
	const binding = { metadata: { name: 'b', labels: tenancyLabels('acme') }, subjects: [{ kind: 'ServiceAccount', name: 'tenancy', namespace: 'platform' }] };
	assert.match(decide(vap, { operation: 'CREATE', resource: 'rolebindings', namespace: 'airflow-acme', name: 'b', object: binding, namespaceObject: mine }).join('\n'),
		/bind roles only to service accounts of the same namespace/);
});

test('admission policy: other users are not matched', { skip }, () =>
{
	const vap = policy();
	assert.deepEqual(decide(vap, { user: 'kubernetes-admin', operation: 'DELETE', resource: 'namespaces', name: 'airflow-prod', namespace: 'airflow-prod', oldObject: ns('airflow-prod') }), []);
});
