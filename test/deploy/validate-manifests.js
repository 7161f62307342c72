#!/usr/bin/env node
// validate-manifests.js — validate rendered manifests against the
// Kubernetes schemas (lib/manifests.js).
//
// Usage: helm template ... | node test/deploy/validate-manifests.js [FILE]
// Prints "ok Kind/name" or "not ok Kind/name: field: message" per object;
// exits 1 when any object is invalid or the input has none.

import { readFileSync } from 'node:fs';
import { parseManifests, validateManifests } from './lib/manifests.js';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
let objects;
try
{
	objects = parseManifests(text);
}
catch (e)
{
	console.log(`not ok: ${e.message}`);
	process.exit(1);
}
if (objects.length === 0)
{
	console.log('not ok: no manifests in the input');
	process.exit(1);
}
const { results, usedSimulator } = await validateManifests(objects);
if (!usedSimulator)
	console.log('# note: test/platform is absent: schema validation only, without the simulator\'s name and label rules');
let bad = 0;
for (const r of results)
{
	if (r.causes.length === 0)
		console.log(`ok ${r.id}`);
	else
	{
		bad += 1;
		for (const c of r.causes)
			console.log(`not ok ${r.id}: ${c.field}: ${c.message}`);
	}
}
process.exit(bad > 0 ? 1 : 0);
