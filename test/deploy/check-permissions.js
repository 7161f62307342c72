#!/usr/bin/env node
// check-permissions.js — do the worker's ClusterRole and Vault policy grant
// exactly what the worker used?
//
// Usage: node test/deploy/check-permissions.js JOURNAL_DIR MANIFESTS [POLICY.hcl]
//   JOURNAL_DIR  simulator journals, one per run (*.json, as TenancyTest.pm
//                saves them: {"principals": {"kubernetes": USER, "vault":
//                NAME}, "entries": [...]})
//   MANIFESTS    helm template output of deploy/helm/tenancy
//   POLICY.hcl   the worker's Vault policy; by default the one the chart
//                renders (ConfigMap <release>-vault-policy in MANIFESTS)
// Only the worker's requests count: entries whose principal is the
// worker's for that service.  The tests' own requests (made with the
// simulator's admin tokens: seeding Vault, reading objects back) are left
// out.  A journal that does not name the worker's principals is an error:
// its requests cannot be told apart.  Journals of tests that enqueued
// hand-written steps ("handwritten_steps": true: the worker's own tests,
// which send whatever requests they need) are left out: the permissions
// are those of the steps the extension plans.  So are journals of tests
// that run the real helm in cli mode ("helm_cli": true): helm acts with the
// worker's identity there, and what the chart installs needs permissions the
// chart's ClusterRole does not grant (cli mode is documented to need them).
// Prints missing and unused permissions and Vault capabilities; exits 1 on
// any, and when there is no journal to compare with.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from './lib/manifests.js';
import { boundClusterRoles, compareRbac, requiredPermissions } from './lib/rbac.js';
import { compareVaultPolicy, parsePolicy } from './lib/vault-policy.js';

const [dir, manifestsFile, policyFile] = process.argv.slice(2);
if (!dir || !manifestsFile)
{
	console.error('usage: check-permissions.js JOURNAL_DIR MANIFESTS [POLICY.hcl]');
	process.exit(2);
}

const entries = [];
let others = 0;
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
for (const f of files)
{
	const data = JSON.parse(readFileSync(join(dir, f), 'utf8'));
	const list = data?.entries;
	const principals = data?.principals;
	if (!Array.isArray(list))
	{
		console.log(`not ok: ${f} is not a journal ({"principals": ..., "entries": [...]})`);
		process.exit(1);
	}
	if (typeof principals?.kubernetes !== 'string' || typeof principals?.vault !== 'string')
	{
		console.log(`not ok: ${f} does not name the worker's principals (kubernetes, vault): its requests cannot be told from the test's`);
		process.exit(1);
	}
	if (data.handwritten_steps === true)
	{
		console.log(`# ${f}: hand-written steps, left out`);
		continue;
	}
	if (data.helm_cli === true)
	{
		console.log(`# ${f}: the real helm in cli mode, left out`);
		continue;
	}
	for (const e of list)
	{
		if (e.service === 'kubernetes' || e.service === 'vault')
		{
			if (e.principal === principals[e.service])
				entries.push(e);
			else
				others += 1;
		}
	}
}
if (entries.length === 0)
{
	console.log(`not ok: no request of the worker in the journals in ${dir}`);
	process.exit(1);
}

const objects = parseManifests(readFileSync(manifestsFile, 'utf8'));
// The worker runs as the database pod's service account; without the
// StatefulSet (database.enabled=false), as the one the chart binds.
const sts = objects.find((o) => o.kind === 'StatefulSet');
const subject = objects.find((o) => o.kind === 'ClusterRoleBinding')?.subjects?.[0];
const sa = sts?.spec?.template?.spec?.serviceAccountName ?? subject?.name;
const ns = subject?.namespace;
const roles = boundClusterRoles(objects, ns, sa);
if (roles.length === 0)
{
	console.log(`not ok: no ClusterRole is bound to the worker's service account ${ns}/${sa}`);
	process.exit(1);
}
const clusterRoles = objects.filter((o) => o.kind === 'ClusterRole');
const { needs, problems } = requiredPermissions(entries, clusterRoles);
const rbac = compareRbac(roles.flatMap((r) => r.rules ?? []), needs);
const policyText = policyFile ? readFileSync(policyFile, 'utf8')
	: objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-vault-policy'))?.data?.['tenancy-worker.hcl'];
if (typeof policyText !== 'string')
{
	console.log('not ok: no Vault policy given, and no ConfigMap *-vault-policy in the manifests');
	process.exit(1);
}
const vault = compareVaultPolicy(parsePolicy(policyText), entries);

let bad = 0;
const report = (label, list) =>
{
	for (const x of list)
		console.log(`not ok ${label}: ${x}`);
	bad += list.length;
};
console.log(`# ${entries.length} requests of the worker from ${files.length} journal(s) (${others} of others left out); ${needs.size} Kubernetes permissions used`);
report('journal', [...problems, ...vault.problems]);
report('ClusterRole wildcard', rbac.wildcards);
report('ClusterRole missing', rbac.missing);
report('ClusterRole unused', rbac.unused);
report('Vault policy missing', vault.missing);
report('Vault policy unused', vault.unused);
if (bad === 0)
	console.log('ok: the ClusterRole and the Vault policy grant exactly what the worker used');
process.exit(bad > 0 ? 1 : 0);
