// Tests of deploy/helm/tenancy rendered by a real helm 3 (HELM, set by
// run-tests.sh from test/tools/get-helm.sh): what an operator and a
// security reviewer would check, and that hostile values are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { parseManifests, validateManifests } from '../lib/manifests.js';

const top = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const chart = join(top, 'deploy', 'helm', 'tenancy');
const helm = process.env.HELM;
const skip = helm ? false : 'HELM is not set (run test/deploy/run-tests.sh)';
// sha256sum of seed/acme-corp.yaml, the source document's spec.
const SEED_SHA256 = 'b96f1cf4037265d317a1afcf1e74015b711f01f1a849cb6faf9295733aead85b';
const scratch = mkdtempSync(join(tmpdir(), 'tenancy-chart-'));

// Render with a values object (written to a file, as an operator would).
function render(values = {}, release = 'tenancy', namespace = 'platform')
{
	const file = join(scratch, `values-${Math.random().toString(36).slice(2)}.yaml`);
	writeFileSync(file, stringify(values));
	const out = execFileSync(helm, ['template', release, chart, '--namespace', namespace, '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	return parseManifests(out);
}

// helm's error for values it must refuse.
function refusal(values)
{
	try
	{
		render(values);
	}
	catch (e)
	{
		return String(e.stderr);
	}
	assert.fail(`helm accepted ${JSON.stringify(values)}`);
}

const find = (objs, kind, name) => objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const conf = (objs) => objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-config')).data['postgresql.conf'];
const vaultPolicy = (objs) => objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-vault-policy')).data['tenancy-worker.hcl'];

// postgresql.conf as name -> value (quotes removed), as the server reads it.
function settings(text)
{
	const out = {};
	for (const line of text.split('\n'))
	{
		const m = line.match(/^\s*([a-z_.]+)\s*=\s*(?:'((?:[^']|'')*)'|(\S+))\s*$/);
		if (m)
			out[m[1]] = m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3];
	}
	return out;
}

const scenarios = {
	default: {},
	everything: {
		rbac: { admissionPolicy: { enabled: false } },
		postgresql: { pgaudit: true, tlsSecret: 'platform-db-tls' },
		tenancy: { vault: { url: 'https://vault.example:8200', caConfigMap: 'vault-ca', referencePrefixes: ['acme/', 'apis/'] }, grafana: { url: 'https://grafana.example', tokenSecret: 'grafana-token' } },
		networkPolicy: { allowedNamespaces: [{ matchLabels: { 'kubernetes.io/metadata.name': 'airflow-ops' } }] },
		image: { digest: `sha256:${'a'.repeat(64)}` },
	},
};

for (const [name, values] of Object.entries(scenarios))
{
	test(`helm lint --strict and schema validation of every manifest: ${name}`, { skip }, async () =>
	{
		const file = join(scratch, `lint-${name}.yaml`);
		writeFileSync(file, stringify(values));
		execFileSync(helm, ['lint', '--strict', chart, '-f', file], { stdio: 'pipe' });
		const objs = render(values);
		const { results } = await validateManifests(objs);
		for (const r of results)
			assert.deepEqual(r.causes, [], r.id);
		assert.ok(objs.length >= 8, `only ${objs.length} objects`);
	});
}

test('postgresql.conf preloads tenancy and pg_cron and carries the tenancy settings', { skip }, () =>
{
	const s = settings(conf(render()));
	assert.equal(s.shared_preload_libraries, 'tenancy,pg_cron');
	assert.equal(s['cron.database_name'], 'platform');
	assert.equal(s['cron.use_background_workers'], 'on');
	assert.equal(s['tenancy.database'], 'platform');
	assert.equal(s['tenancy.kubernetes_url'], 'https://kubernetes.default.svc');
	assert.equal(s['tenancy.kubernetes_token_file'], '/var/run/secrets/tenancy/kubernetes/token');
	assert.equal(s['tenancy.kubernetes_ca_file'], '/var/run/secrets/tenancy/kubernetes/ca.crt');
	assert.equal(s['tenancy.vault_auth_role'], 'tenancy-worker');
	assert.equal(s['tenancy.poll_interval'], '10s');
	assert.equal(s['tenancy.vault_ca_file'], undefined);
	assert.equal(s['tenancy.tenant_cluster_role'], 'tenancy-tenant-workload');
	assert.equal(s['tenancy.database_host'], 'tenancy.platform.svc',
		"tenants' pods reach the server at the chart's Service, not localhost");
	const policy = render().find((m) => m.kind === 'NetworkPolicy');
	assert.deepEqual(policy.spec.ingress[0].from.map((f) => f.namespaceSelector?.matchExpressions?.[0]?.key).filter(Boolean),
		['tenancy.io/tenant'], "and the chart's network policy admits tenant namespaces' pods");
	assert.equal(settings(conf(render({ rbac: { tenantRole: { name: 'acme-airflow', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] } } })))['tenancy.tenant_cluster_role'],
		'acme-airflow', 'the worker binds the ClusterRole the chart installs');
	const all = settings(conf(render(scenarios.everything)));
	assert.equal(all.shared_preload_libraries, 'tenancy,pg_cron,pgaudit');
	assert.equal(all['tenancy.vault_ca_file'], '/var/run/secrets/tenancy/vault/ca.crt');
	assert.equal(all['tenancy.grafana_token_file'], '/var/run/secrets/tenancy/grafana/token');
	assert.equal(all.ssl, 'on');
});

test('values are quoted for postgresql.conf: quotes, backslashes, big numbers', { skip }, () =>
{
	const text = conf(render({ postgresql: { settings: { log_line_prefix: "it's a \\ test" } }, tenancy: { settings: { max_catalog_relations: 1000000 } } }));
	assert.match(text, /^\s*log_line_prefix = 'it''s a \\\\ test'$/m);
	assert.match(text, /^\s*tenancy\.max_catalog_relations = '1000000'$/m);
});

test('the token files the settings name are mounted where the settings say', { skip }, () =>
{
	const objs = render(scenarios.everything);
	const s = settings(conf(objs));
	const pod = find(objs, 'StatefulSet').spec.template.spec;
	const mounts = pod.containers[0].volumeMounts;
	for (const key of ['tenancy.kubernetes_token_file', 'tenancy.kubernetes_ca_file', 'tenancy.vault_ca_file', 'tenancy.grafana_token_file'])
	{
		const dir = dirname(s[key]);
		const file = s[key].slice(dir.length + 1);
		const mount = mounts.find((m) => m.mountPath === dir);
		assert.ok(mount, `${key}: nothing mounted at ${dir}`);
		const vol = pod.volumes.find((v) => v.name === mount.name);
		const paths = [
			...(vol.projected?.sources ?? []).flatMap((src) => [src.serviceAccountToken?.path, ...(src.configMap?.items ?? []).map((i) => i.path)]),
			...(vol.configMap?.items ?? []).map((i) => i.path),
			...(vol.secret?.items ?? []).map((i) => i.path),
		];
		assert.ok(paths.includes(file), `${key}: volume ${vol.name} has no ${file}`);
	}
});

test('the pod: non-root, read-only root, no automatic token, expiring projected token, persistent volume', { skip }, () =>
{
	const objs = render();
	const sts = find(objs, 'StatefulSet');
	const pod = sts.spec.template.spec;
	assert.equal(pod.automountServiceAccountToken, false);
	assert.equal(find(objs, 'ServiceAccount').automountServiceAccountToken, false);
	assert.equal(pod.serviceAccountName, 'tenancy');
	assert.equal(pod.securityContext.runAsNonRoot, true);
	const c = pod.containers[0];
	assert.equal(c.securityContext.readOnlyRootFilesystem, true);
	assert.equal(c.securityContext.allowPrivilegeEscalation, false);
	assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
	const token = pod.volumes.flatMap((v) => v.projected?.sources ?? []).find((s) => s.serviceAccountToken);
	assert.equal(token.serviceAccountToken.expirationSeconds, 3600);
	assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '20Gi');
	assert.equal(c.volumeMounts.find((m) => m.name === 'data').mountPath, '/var/lib/postgresql/data');
	assert.ok(c.args.includes('config_file=/etc/tenancy/postgresql.conf'));
	assert.equal(find(objs, 'Service', 'tenancy').spec.ports[0].port, 5432);
});

test('worker ClusterRole: bound to the worker only, no wildcards, bind limited to the tenant role', { skip }, () =>
{
	const objs = render();
	const crb = find(objs, 'ClusterRoleBinding');
	assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: 'tenancy', namespace: 'platform' }]);
	const role = find(objs, 'ClusterRole', crb.roleRef.name);
	const flat = JSON.stringify(role.rules);
	assert.ok(!flat.includes('*'), flat);
	assert.ok(!flat.includes('escalate'), flat);
	const bind = role.rules.filter((r) => r.verbs.includes('bind'));
	assert.deepEqual(bind, [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['tenancy-tenant-workload'] }]);
	assert.ok(!role.rules.some((r) => r.resources.includes('roles')), 'no Role writes in bindClusterRole mode');
	assert.ok(!role.rules.some((r) => r.resources.includes('pods/exec')), 'the worker does not hold the tenant permissions');
	assert.ok(find(objs, 'ClusterRole', 'tenancy-tenant-workload'));
});

test('tenant workload ClusterRole: Secrets by name and get only, not backup-credentials', { skip }, () =>
{
	const role = find(render(), 'ClusterRole', 'tenancy-tenant-workload');
	const secrets = role.rules.filter((r) => r.resources.includes('secrets'));

	assert.ok(secrets.length > 0);
	for (const r of secrets)
	{
		assert.deepEqual(r.verbs, ['get'], 'no list or watch: they return every Secret of the namespace');
		assert.ok(Array.isArray(r.resourceNames) && r.resourceNames.length > 0, 'by name only');
		assert.ok(!r.resourceNames.includes('backup-credentials'), 'the backup role\'s password is not readable by the workload');
	}
});

test('Vault policy: generated credentials, reference prefixes; deploy/vault/tenancy-worker.hcl is the default', { skip }, () =>
{
	const plain = vaultPolicy(render());
	assert.equal(plain, readFileSync(join(top, 'deploy', 'vault', 'tenancy-worker.hcl'), 'utf8'),
		'deploy/vault/tenancy-worker.hcl is the chart\'s policy for the default values');
	assert.match(plain, /^path "secret\/data\/tenants\/\+\/database" \{\n {2}capabilities = \["create", "read", "update"\]\n\}$/m);
	assert.match(plain, /^path "secret\/metadata\/tenants\/\+\/database" \{\n {2}capabilities = \["delete"\]\n\}$/m);
	assert.equal((plain.match(/^path /gm) || []).length, 2, 'nothing else without reference prefixes');
	const refs = vaultPolicy(render({ tenancy: { vault: { kvMount: 'kv', referencePrefixes: ['acme/', 'apis/'] } } }));
	assert.match(refs, /^path "kv\/data\/tenants\/\+\/database" /m);
	assert.match(refs, /^path "kv\/data\/acme\/\*" \{\n {2}capabilities = \["read"\]\n\}$/m);
	assert.match(refs, /^path "kv\/data\/apis\/\*" \{\n {2}capabilities = \["read"\]\n\}$/m);
	assert.doesNotMatch(refs, /"\*"|data\/\*"/, 'no whole-mount grant');
});

test('admission policy confines the worker by user name and namespace prefix', { skip }, () =>
{
	const objs = render({}, 'prod', 'db');
	const vap = find(objs, 'ValidatingAdmissionPolicy');
	assert.equal(vap.spec.matchConditions[0].expression, "request.userInfo.username == 'system:serviceaccount:db:prod-tenancy'");
	assert.match(vap.spec.validations[0].expression, /startsWith\('airflow-'\)/);
	assert.equal(find(objs, 'ValidatingAdmissionPolicyBinding').spec.policyName, vap.metadata.name);
	assert.equal(find(render({ rbac: { admissionPolicy: { enabled: false } } }), 'ValidatingAdmissionPolicy'), undefined);
});

test('operator mode: only the worker identity and permissions, for an existing service account', { skip }, async () =>
{
	const objs = render({ database: { enabled: false }, serviceAccount: { create: false, name: 'platform-db' } });
	assert.deepEqual([...new Set(objs.map((o) => o.kind))].sort(),
		['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
	assert.ok(vaultPolicy(objs), 'the Vault policy is rendered for the operator too');
	assert.deepEqual(find(objs, 'ClusterRoleBinding').subjects, [{ kind: 'ServiceAccount', name: 'platform-db', namespace: 'platform' }]);
	const { results } = await validateManifests(objs);
	for (const r of results)
		assert.deepEqual(r.causes, [], r.id);
	assert.match(refusal({ serviceAccount: { create: false } }), /serviceAccount\.name: required/);
});

test('hostile and malformed values are refused with the offending path', { skip }, () =>
{
	assert.match(refusal({ tenancy: { settings: { poll_interval: "1s\nshared_preload_libraries = ''" } } }), /tenancy\.settings\.poll_interval/);
	assert.match(refusal({ postgresql: { settings: { "work_mem = '1GB'\nfsync": 'off' } } }), /postgresql\.settings/);
	assert.match(refusal({ tenancy: { database: "platform'; DROP DATABASE postgres; --" } }), /tenancy\.database/);
	assert.match(refusal({ tenancy: { database: 'x'.repeat(64) } }), /tenancy\.database/);
	assert.match(refusal({ tenancy: { database: 42 } }), /tenancy\.database/);
	assert.match(refusal({ tenancy: { vault: { referencePrefixes: ['tenants/other/'] } } }), /referencePrefixes: "tenants\/other\/" is under tenants\//);
	assert.match(refusal({ tenancy: { vault: { referencePrefixes: [''] } } }), /referencePrefixes/);
	assert.match(refusal({ tenancy: { vault: { referencePrefixes: ['acme'] } } }), /referencePrefixes/);
	assert.match(refusal({ tenancy: { vault: { referencePrefixes: ['../'] } } }), /referencePrefixes/);
	assert.match(refusal({ tenancy: { vault: { referencePrefixes: ['acme/"} path "secret/*'] } } }), /referencePrefixes/);
	assert.match(refusal({ rbac: { tenantRole: { name: 'tenancy-tenant-workload', rules: [{ apiGroups: ['*'], resources: ['pods'], verbs: ['get'] }] } } }), /apiGroups/);
	assert.match(refusal({ rbac: { tenantRole: { name: 'tenancy-tenant-workload', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }] } } }), /verbs/);
	assert.match(refusal({ rbac: { tenantRole: { name: 'tenancy-tenant-workload', rules: [{ apiGroups: [''], resources: ['pods'] }] } } }), /verbs/);
	assert.match(refusal({ tenancy: { settings: { kubernetes_token_file: '/tmp/other' } } }), /set by the chart/);
	assert.match(refusal({ postgresql: { settings: { shared_preload_libraries: 'tenancy' } } }), /set by the chart/);
	assert.match(refusal({ postgresql: { settings: { 'tenancy.poll_interval': '1s' } } }), /tenancy\.settings/);
	assert.match(refusal({ postgresql: { hba: ['local all all trust'] } }), /postgresql\.hba/);
	assert.match(refusal({ tenancy: { vault: { url: "https://v'ault" } } }), /tenancy\.vault\.url/);
	assert.match(refusal({ persistence: { size: 'lots' } }), /persistence\.size/);
	assert.match(refusal({ image: { tag: 'latest; rm -rf /' } }), /image\.tag/);
});

test('example specs: one per tier, acme-corp.yaml verbatim from the source document', () =>
{
	const dir = join(top, 'deploy', 'examples');
	const tiers = {};
	for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')))
	{
		const spec = parseYaml(readFileSync(join(dir, f), 'utf8'));
		assert.match(spec.tenant.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, f);
		assert.ok(spec.resources.kubernetes.namespace.startsWith('airflow-'), `${f}: namespace outside the admission policy's prefix`);
		tiers[spec.tenant.tier] = f;
	}
	assert.deepEqual(Object.keys(tiers).sort(), ['basic', 'enterprise', 'standard']);
	assert.match(tiers.basic, /^basic-/);
	assert.match(tiers.standard, /^standard-/);
	assert.equal(tiers.enterprise, 'acme-corp.yaml');
	// the source document's spec, but with warehouse.database.host, port and
	// name commented out (the placed variant), so that it provisions on a
	// bare server as it is
	const example = readFileSync(join(dir, 'acme-corp.yaml'), 'utf8');
	const uncommented = example.replace(/^    # (host|port|name): /gm, '    $1: ')
		.replace(/^    #.*\n/gm, '');
	const sha = createHash('sha256').update(uncommented).digest('hex');
	assert.equal(sha, SEED_SHA256, 'deploy/examples/acme-corp.yaml differs from the source document beyond the commented warehouse.database host, port and name');
	assert.equal(parseYaml(example).warehouse.database.host, undefined, 'acme-corp.yaml names a warehouse host: it would not provision on a bare server');
});
