// Unit tests of lib/vault-policy.js: the HCL subset, Vault's matching and
// priority rules, and the missing/unused report on a synthetic journal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVaultPolicy, governingRule, parsePolicy } from '../lib/vault-policy.js';

const policy = `
# comment
path "secret/data/tenants/+/credentials/*" {
  capabilities = ["create", "read", "update"]
}
// another comment
path "secret/metadata/tenants/+/credentials/*" { capabilities = ["delete"] }
/* a block
   comment */
path "secret/data/tenants/+/refs/*" {
  capabilities = ["read",]
}
`;

const v = (verb, resource) => ({ service: 'vault', method: 'X', path: `/v1/${resource}`, verb, resource });

test('the subset parses', () =>
{
	const rules = parsePolicy(policy);
	assert.deepEqual(rules.map((r) => [r.path, r.capabilities]), [
		['secret/data/tenants/+/credentials/*', ['create', 'read', 'update']],
		['secret/metadata/tenants/+/credentials/*', ['delete']],
		['secret/data/tenants/+/refs/*', ['read']],
	]);
});

test('constructs outside the subset are errors', () =>
{
	assert.throws(() => parsePolicy('path "a" { capabilities = ["read"] allowed_parameters = {} }'), /expected }/);
	assert.throws(() => parsePolicy('path "a" { capabilities = ["reed"] }'), /unknown capability "reed"/);
	assert.throws(() => parsePolicy('path "a/*/b" { capabilities = ["read"] }'), /may only end/);
	assert.throws(() => parsePolicy('path "a" { capabilities = ["read"] }\npath "a" { capabilities = ["list"] }'), /appears twice/);
	assert.throws(() => parsePolicy('path "a" { policy = "write" }'), /unsupported attribute "policy"/);
});

test('"+" is exactly one segment, "*" a prefix', () =>
{
	const rules = parsePolicy(policy);
	assert.equal(governingRule(rules, 'secret/data/tenants/acme-corp/credentials/etl')?.path, 'secret/data/tenants/+/credentials/*');
	assert.equal(governingRule(rules, 'secret/data/tenants/a/b/credentials/etl'), undefined);
	assert.equal(governingRule(rules, 'secret/data/tenants/acme-corp/refs/acme/oauth/client_id')?.path, 'secret/data/tenants/+/refs/*');
	assert.equal(governingRule(rules, 'secret/data/other'), undefined);
});

test('the most specific block applies, not the union', () =>
{
	const rules = parsePolicy('path "secret/*" { capabilities = ["read"] }\npath "secret/data/x" { capabilities = ["list"] }');
	assert.equal(governingRule(rules, 'secret/data/x').path, 'secret/data/x');
	const r = compareVaultPolicy(rules, [v('read', 'secret/data/x')]);
	assert.equal(r.missing.length, 1);
	assert.match(r.missing[0], /governed by path "secret\/data\/x"/);
});

test('exact use: nothing missing, nothing unused; logins and the default policy ignored', () =>
{
	const journal = [
		v('update', 'auth/kubernetes/login'),
		v('read', 'auth/token/lookup-self'),
		v('create', 'secret/data/tenants/acme-corp/credentials/etl'),
		v('read', 'secret/data/tenants/acme-corp/credentials/etl'),
		v('update', 'secret/data/tenants/acme-corp/credentials/etl'),
		v('delete', 'secret/metadata/tenants/acme-corp/credentials/etl'),
		v('read', 'secret/data/tenants/acme-corp/refs/acme/oauth/client_id'),
		{ service: 'kubernetes', verb: 'get', resource: 'namespaces' },
	];
	assert.deepEqual(compareVaultPolicy(parsePolicy(policy), journal), { missing: [], unused: [], problems: [] });
});

test('a missing capability and an unused one are both reported', () =>
{
	const journal = [
		v('create', 'secret/data/tenants/acme-corp/credentials/etl'),
		v('read', 'secret/data/tenants/acme-corp/refs/oauth/id'),
		v('list', 'secret/metadata/tenants/acme-corp/credentials/'),
		v('read', 'secret/data/platform/root-token'),
	];
	const r = compareVaultPolicy(parsePolicy(policy), journal);
	assert.deepEqual(r.missing, [
		'list secret/metadata/tenants/acme-corp/credentials/  [governed by path "secret/metadata/tenants/+/credentials/*"]',
		'read secret/data/platform/root-token',
	]);
	assert.deepEqual(r.unused, [
		'delete on path "secret/metadata/tenants/+/credentials/*" (line 7)',
		'read on path "secret/data/tenants/+/credentials/*" (line 3)',
		'update on path "secret/data/tenants/+/credentials/*" (line 3)',
	]);
});
