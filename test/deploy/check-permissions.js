#!/usr/bin/env node
// check-permissions.js — do the worker's ClusterRole and Vault policy grant
// exactly what the worker used?
//
// Usage: node test/deploy/check-permissions.js JOURNAL_DIR MANIFESTS POLICY.hcl
//   JOURNAL_DIR  simulator journals (*.json: arrays of entries), one per run
//   MANIFESTS    helm template output of deploy/helm/tenancy
//   POLICY.hcl   deploy/vault/tenancy-worker.hcl
// Prints missing and unused permissions and Vault capabilities; exits 1 on
// any, and when there is no journal to compare with.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from './lib/manifests.js';
import { boundClusterRoles, compareRbac, requiredPermissions } from './lib/rbac.js';
import { compareVaultPolicy, parsePolicy } from './lib/vault-policy.js';

const [dir, manifestsFile, policyFile] = process.argv.slice(2);
if (!dir || !manifestsFile || !policyFile)
{
	console.error('usage: check-permissions.js JOURNAL_DIR MANIFESTS POLICY.hcl');
	process.exit(2);
}

const entries = [];
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
for (const f of files)
{
	const data = JSON.parse(readFileSync(join(dir, f), 'utf8'));
	const list = Array.isArray(data) ? data : data.entries;
	if (!Array.isArray(list))
	{
		console.log(`not ok: ${f} is not a journal (an array of entries)`);
		process.exit(1);
	}
	entries.push(...list);
}
if (entries.length === 0)
{
	console.log(`not ok: no journal entries in ${dir}`);
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
const vault = compareVaultPolicy(parsePolicy(readFileSync(policyFile, 'utf8')), entries);

let bad = 0;
const report = (label, list) =>
{
	for (const x of list)
		console.log(`not ok ${label}: ${x}`);
	bad += list.length;
};
console.log(`# ${entries.length} journal entries from ${files.length} file(s); ${needs.size} Kubernetes permissions used`);
report('journal', [...problems, ...vault.problems]);
report('ClusterRole wildcard', rbac.wildcards);
report('ClusterRole missing', rbac.missing);
report('ClusterRole unused', rbac.unused);
report('Vault policy missing', vault.missing);
report('Vault policy unused', vault.unused);
if (bad === 0)
	console.log('ok: the ClusterRole and the Vault policy grant exactly what the worker used');
process.exit(bad > 0 ? 1 : 0);
