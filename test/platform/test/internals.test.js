// The shortcuts of issue 14 against what they stand for: clone() against
// structuredClone, sameData() against comparing canonicalJson texts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { clone, cloneTree } from '../src/clone.js';
import { sameData, canonicalJson } from '../src/k8s/patch.js';

const own = (o, k, v) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

test('clone gives what structuredClone gives', () =>
{
	const shared = { s: 1 };
	const cyclic = { a: 1 };
	cyclic.self = cyclic;
	const cases = [
		{ a: 1, b: [1, , 3], c: undefined, d: null, 10: 'x', 2: 'y', e: { f: 'g' } },
		JSON.parse('{"__proto__": {"x": 1}, "y": [{"__proto__": 2}]}'),
		[1, 'a', true, null, undefined, 1.5, -0, NaN],
		{ d: new Date(0), b: Buffer.from('x') },
		Object.assign(Object.create(null), { a: 1 }),
		{ a: shared, b: shared },
		cyclic,
		YAML.parse('a: &x {b: 1}\nc: *x\n'),
		'text', 3, null, undefined,
	];
	for (const c of cases)
	{
		const x = clone(c);
		const y = structuredClone(c);
		assert.deepEqual(x, y);
		if (c !== null && typeof c === 'object')
		{
			assert.notEqual(x, c);
			assert.deepEqual(Object.keys(x), Object.keys(y));
			assert.equal(Object.getPrototypeOf(x), Object.getPrototypeOf(y));
		}
	}
	// sharing and cycles are kept, as structuredClone keeps them
	const s = clone(cases[5]);
	assert.equal(s.a, s.b);
	const cy = clone(cyclic);
	assert.equal(cy.self, cy);
	const alias = clone(cases[7]);
	assert.equal(alias.a, alias.c);
	// an own "__proto__" key stays a key; holes stay holes
	const p = clone(cases[1]);
	assert.ok(Object.hasOwn(p, '__proto__'));
	assert.equal(Object.getPrototypeOf(p), Object.prototype);
	assert.ok(!(1 in clone(cases[0]).b));
	assert.ok('c' in clone(cases[0]));
	assert.throws(() => clone({ f() {} }), (e) => e.name === 'DataCloneError');
	// cloneTree: only trees
	assert.equal(cloneTree(cases[5]), undefined);
	assert.equal(cloneTree(cases[3]), undefined);
	assert.deepEqual(cloneTree(cases[0]), cases[0]);
});

test('sameData agrees with comparing canonicalJson texts', () =>
{
	const OMITS = [undefined,
		new Map([['metadata', new Map([['resourceVersion', true], ['managedFields', true]])]]),
		new Map([['metadata', true], ['status', true]])];
	let seed = 7;
	const rnd = () =>
	{
		seed = (seed * 1103515245 + 12345) & 0x7fffffff;
		return seed / 0x7fffffff;
	};
	const prims = [null, undefined, 0, -0, 1, 1.5, NaN, Infinity, '', 'a', '1', 'null', true, false, () => 1];
	const keys = ['a', 'b', 'metadata', 'status', 'resourceVersion', 'managedFields', '__proto__', '1', 'spec'];
	const gen = (d) =>
	{
		const r = rnd();
		if (d > 3 || r < 0.4)
			return prims[Math.floor(rnd() * prims.length)];
		if (r < 0.6)
		{
			const n = Math.floor(rnd() * 3);
			const a = [];
			for (let i = 0; i < n; i++)
				a[i] = gen(d + 1);
			if (rnd() < 0.1)
				a.length = n + 1;		/* a hole */
			return a;
		}
		const o = {};
		const n = Math.floor(rnd() * 4);
		for (let i = 0; i < n; i++)
			own(o, keys[Math.floor(rnd() * keys.length)], gen(d + 1));
		return o;
	};
	const mutate = (v, d) =>
	{
		if (rnd() < 0.3)
			return gen(d);
		if (Array.isArray(v))
			return v.map((x) => mutate(x, d + 1));
		if (v && typeof v === 'object')
		{
			const o = {};
			const ks = Object.keys(v);
			if (rnd() < 0.3)
				ks.reverse();
			for (const k of ks)
				if (rnd() > 0.1)
					own(o, k, mutate(v[k], d + 1));
			return o;
		}
		return v;
	};
	let equal = 0;
	for (let i = 0; i < 20000; i++)
	{
		const a = gen(0);
		const b = rnd() < 0.5 ? mutate(a, 0) : gen(0);
		for (const omit of OMITS)
		{
			const want = canonicalJson(a, omit) === canonicalJson(b, omit);
			assert.equal(sameData(a, b, omit), want, `${canonicalJson(a, omit)} vs ${canonicalJson(b, omit)}`);
			equal += want;
		}
	}
	assert.ok(equal > 1000);
	assert.ok(sameData([], [, ]));
	assert.ok(sameData({ a: undefined }, { a: null }));
	assert.ok(!sameData({ a: undefined }, {}));
});
