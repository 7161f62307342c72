// clone.js — structuredClone, several times faster for the JSON-shaped
// data the simulator holds (issue 14: copies of objects were its largest
// CPU cost).
//
// The result is the same as structuredClone's. A tree of plain objects,
// arrays and primitives is copied by a recursive walk: own keys in the
// same order, undefined values and array holes kept. Anything else falls
// back to structuredClone itself, for the whole value: an object met twice
// (shared or cyclic: a YAML alias; structuredClone keeps the sharing), a
// prototype other than Object's or Array's (a Date, a Buffer, a null-
// prototype object), a function or a symbol (structuredClone throws), a
// nesting too deep for the walk. Arrays are copied by index: JSON's carry
// no other properties.

class NotATree extends Error {}

const NOT_A_TREE = new NotATree();

function copy(v, seen)
{
	if (typeof v !== 'object' || v === null)
	{
		if (typeof v === 'function' || typeof v === 'symbol')
			throw NOT_A_TREE;
		return v;
	}
	if (seen.has(v))
		throw NOT_A_TREE;
	seen.add(v);
	const proto = Object.getPrototypeOf(v);
	if (proto === Array.prototype)
	{
		const n = v.length;
		const out = new Array(n);
		for (let i = 0; i < n; i++)
			if (i in v)
				out[i] = copy(v[i], seen);
		return out;
	}
	if (proto !== Object.prototype)
		throw NOT_A_TREE;
	const out = {};
	for (const k of Object.keys(v))
	{
		if (k === '__proto__')		/* an own key, as JSON.parse makes it */
			Object.defineProperty(out, k, { value: copy(v[k], seen), enumerable: true, writable: true, configurable: true });
		else
			out[k] = copy(v[k], seen);
	}
	return out;
}

// The copy of object `v` if it is such a tree, else undefined. Nothing in
// the copy is shared, with `v` or within itself: a caller may change it in
// place, part by part.
export function cloneTree(v)
{
	try
	{
		return copy(v, new Set());
	}
	catch (e)
	{
		if (e === NOT_A_TREE || e instanceof RangeError)
			return undefined;
		throw e;
	}
}

export function clone(v)
{
	if (typeof v !== 'object' || v === null)
		return typeof v === 'function' || typeof v === 'symbol' ? structuredClone(v) : v;
	return cloneTree(v) ?? structuredClone(v);
}
