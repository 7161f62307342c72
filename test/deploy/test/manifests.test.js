// Unit tests of lib/manifests.js: the validator must reject what the API
// server would reject, not only accept the chart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifests, validateManifests } from '../lib/manifests.js';

const good = {
	apiVersion: 'v1',
	kind: 'Service',
	metadata: { name: 'platform-db' },
	spec: { ports: [{ port: 5432 }] },
};

test('a valid Service passes', async () =>
{
	const { results } = await validateManifests([good]);
	assert.deepEqual(results[0].causes, []);
});

test('a wrong type is a cause with the field', async () =>
{
	const bad = structuredClone(good);
	bad.spec.ports[0].port = 'five';
	const { results } = await validateManifests([bad]);
	assert.ok(results[0].causes.some((c) => /ports/.test(c.field)), JSON.stringify(results[0].causes));
});

test('a StatefulSet without its required selector fails', async () =>
{
	const sts = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { serviceName: 'db', template: {} } };
	const { results } = await validateManifests([sts]);
	assert.ok(results[0].causes.some((c) => /selector/.test(c.field + c.message)), JSON.stringify(results[0].causes));
});

test('a Service name that is not a DNS-1035 label fails (simulator rules)', async () =>
{
	const bad = structuredClone(good);
	bad.metadata.name = '1-Platform';
	const { results, usedSimulator } = await validateManifests([bad]);
	if (!usedSimulator)
		return;				/* schema-only mode: names are the simulator's rule */
	assert.ok(results[0].causes.some((c) => c.field === 'metadata.name'), JSON.stringify(results[0].causes));
});

test('a kind the validator has no schema for is refused', async () =>
{
	const { results } = await validateManifests([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }]);
	assert.equal(results[0].causes[0].reason, 'UnknownKind');
});

test('multi-document YAML: empty documents dropped, errors thrown', () =>
{
	assert.equal(parseManifests('---\n# nothing\n---\nkind: A\n---\n').length, 1);
	assert.throws(() => parseManifests('a: [1\n'), /invalid YAML/);
});
