// End-to-end test of check-permissions.js on the real chart and its Vault
// policy (rendered with reference prefixes), with a synthetic journal built
// here from what they grant: exact passes, one unused and one missing
// permission each fail, requests of other principals do not count, and a
// journal that does not name the worker's principals is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifests } from '../lib/manifests.js';
import { parsePolicy } from '../lib/vault-policy.js';

const here = dirname(fileURLToPath(import.meta.url));
const top = join(here, '..', '..', '..');
const helm = process.env.HELM;
const worker = { kubernetes: 'system:serviceaccount:platform:tenancy', vault: 'tenancy-worker' };
const skip = helm ? false : 'HELM is not set (run test/deploy/run-tests.sh)';

// One journal entry per permission the worker's ClusterRole grants, in the
// simulator's format; a bind is exercised the way the worker would use it.
function journalFor(objects, policyText)
{
	const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name.endsWith('-worker'));
	const entries = [{ service: 'kubernetes', method: 'GET', path: '/apis', verb: 'get', resource: null, nonResourceURL: '/apis' }];
	for (const r of role.rules)
		for (const apiGroup of r.apiGroups)
			for (const resource of r.resources)
				for (const verb of r.verbs)
				{
					if (verb === 'bind')
					{
						entries.push({
							service: 'kubernetes', method: 'POST', path: '/apis/rbac.authorization.k8s.io/v1/namespaces/airflow-acme/rolebindings',
							verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'airflow-acme', name: null,
							body: { metadata: { name: 'airflow' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: r.resourceNames[0] } },
						});
						continue;
					}
					const body = resource === 'rolebindings' && verb !== 'get' && verb !== 'delete'
						? { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenancy-tenant-workload' } }
						: undefined;
					entries.push({ service: 'kubernetes', method: 'X', path: '/x', verb, apiGroup, resource, namespace: 'airflow-acme', name: verb === 'get' ? 'x' : null, body });
				}
	for (const rule of parsePolicy(policyText))
		for (const cap of rule.capabilities)
		{
			const path = rule.path.replace('+', 'acme-corp').replace(/\*$/, 'etl');
			entries.push({ service: 'vault', method: 'X', path: `/v1/${path}`, verb: cap, resource: path });
		}
	return entries.map((e) => ({ ...e, principal: worker[e.service] }));
}

function check(entries, manifestsFile, policyFile, journal)
{
	const dir = mkdtempSync(join(tmpdir(), 'tenancy-journal-'));
	mkdirSync(join(dir, 'journals'));
	writeFileSync(join(dir, 'journals', '001_provision.json'), JSON.stringify(journal ?? { principals: worker, entries }));
	return spawnSync(process.execPath, [join(here, '..', 'check-permissions.js'), join(dir, 'journals'), manifestsFile, ...(policyFile ? [policyFile] : [])], { encoding: 'utf8' });
}

test('check-permissions: exact, unused, missing', { skip }, () =>
{
	const text = execFileSync(helm, ['template', 'tenancy', join(top, 'deploy', 'helm', 'tenancy'), '--namespace', 'platform',
		'--set-json', 'tenancy.vault.referencePrefixes=["acme/"]'], { encoding: 'utf8' });
	const tmp = mkdtempSync(join(tmpdir(), 'tenancy-manifests-'));
	const manifestsFile = join(tmp, 'all.yaml');
	writeFileSync(manifestsFile, text);
	const objects = parseManifests(text);
	const policyText = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'tenancy-vault-policy').data['tenancy-worker.hcl'];
	const policyFile = join(tmp, 'policy.hcl');
	writeFileSync(policyFile, policyText);
	const entries = journalFor(objects, policyText);

	const exact = check(entries, manifestsFile, policyFile);
	assert.equal(exact.status, 0, exact.stdout + exact.stderr);
	const rendered = check(entries, manifestsFile);
	assert.equal(rendered.status, 0, 'the policy rendered in the manifests by default: ' + rendered.stdout);
	assert.match(exact.stdout, /grant exactly what the worker used/);

	// the worker never deleted a secret, nor read a reference
	const fewer = entries.filter((e) => !(e.resource === 'secrets' && e.verb === 'deletecollection') && !(e.resource ?? '').startsWith('secret/data/acme/'));
	const unused = check(fewer, manifestsFile, policyFile);
	assert.equal(unused.status, 1);
	assert.match(unused.stdout, /not ok ClusterRole unused: deletecollection secrets\n/);
	assert.match(unused.stdout, /not ok Vault policy unused: read on path "secret\/data\/acme\/\*"/);

	// the worker listed secrets and read a path outside the reference prefixes
	const more = [...entries,
		{ service: 'kubernetes', method: 'GET', path: '/api/v1/namespaces/airflow-acme/secrets', verb: 'list', apiGroup: '', resource: 'secrets', namespace: 'airflow-acme', name: null, principal: worker.kubernetes },
		{ service: 'vault', method: 'GET', path: '/v1/secret/data/globex/oauth/client_id', verb: 'read', resource: 'secret/data/globex/oauth/client_id', principal: worker.vault }];
	const missing = check(more, manifestsFile, policyFile);
	assert.equal(missing.status, 1);
	assert.match(missing.stdout, /not ok ClusterRole missing: list secrets /);
	assert.match(missing.stdout, /not ok Vault policy missing: read secret\/data\/globex\/oauth\/client_id/);

	// the same requests made by the test itself (admin tokens) do not count
	const theirs = [...entries, ...more.slice(entries.length).map((e) => ({ ...e, principal: e.service === 'vault' ? 'root' : 'kubernetes-admin' }))];
	const admin = check(theirs, manifestsFile, policyFile);
	assert.equal(admin.status, 0, admin.stdout + admin.stderr);
	assert.match(admin.stdout, /\(2 of others left out\)/);

	// a journal of hand-written steps does not count
	const handwritten = check(more, manifestsFile, policyFile, { principals: worker, handwritten_steps: true, entries: more });
	assert.equal(handwritten.status, 1);
	assert.match(handwritten.stdout, /hand-written steps, left out/);
	assert.match(handwritten.stdout, /no request of the worker/);

	// a journal that does not say who the worker is cannot be checked
	const anonymous = check(entries, manifestsFile, policyFile, entries);
	assert.equal(anonymous.status, 1);
	assert.match(anonymous.stdout, /is not a journal/);
	const unnamed = check(entries, manifestsFile, policyFile, { entries });
	assert.equal(unnamed.status, 1);
	assert.match(unnamed.stdout, /does not name the worker's principals/);

	// no request of the worker at all is a failure, not a pass
	const none = check([], manifestsFile, policyFile);
	assert.equal(none.status, 1);
});
