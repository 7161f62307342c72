// patch.js — JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
// merge patch and server-side apply with managedFields.
//
// Simplifications (documented in README.md): list merge keys come from a
// table keyed by field name rather than from each type's OpenAPI
// extensions; server-side apply tracks field ownership per leaf and treats
// lists without a known merge key as atomic, as the real server does for
// lists marked atomic.

import { badRequest, ApiError } from './status.js';
import { timestamp } from './store.js';
import { clone, cloneTree } from '../clone.js';

// Field name -> merge key(s) for associative lists (core types).
const MERGE_KEYS = {
	containers: ['name'],
	initContainers: ['name'],
	ephemeralContainers: ['name'],
	env: ['name'],
	volumes: ['name'],
	volumeMounts: ['mountPath'],
	imagePullSecrets: ['name'],
	secrets: ['name'],
	conditions: ['type'],
	ownerReferences: ['uid'],
	hostAliases: ['ip'],
	topologySpreadConstraints: ['topologyKey', 'whenUnsatisfiable'],
};
// Lists of scalars merged as sets.
const SET_LISTS = new Set(['finalizers']);

function isMap(v)
{
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergeKeysFor(field, list)
{
	if (field === 'ports')
	{
		if (list.every((i) => isMap(i) && 'containerPort' in i))
			return ['containerPort'];
		if (list.every((i) => isMap(i) && 'port' in i))
			return ['port'];
		return null;
	}
	const keys = MERGE_KEYS[field];
	if (keys && list.every((i) => isMap(i) && keys.every((k) => k in i || k === keys[1])))
		return keys;
	return null;
}

function itemKey(item, keys)
{
	const k = {};
	for (const key of keys)
		if (item[key] !== undefined)
			k[key] = item[key];
	return JSON.stringify(k);
}

// ---------------------------------------------------------------- merge patch

export function mergePatch(target, patch)
{
	if (!isMap(patch))
		return clone(patch);
	const out = isMap(target) ? clone(target) : {};
	for (const [k, v] of Object.entries(patch))
	{
		if (v === null)
			delete out[k];
		else
			out[k] = mergePatch(out[k], v);
	}
	return out;
}

// ----------------------------------------------------------------- JSON patch

function pointer(path)
{
	if (path === '')
		return [];
	if (!path.startsWith('/'))
		throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer "${path}"`);
	return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(target, ops)
{
	if (!Array.isArray(ops))
		throw badRequest('the server rejected our request due to an error in our request');
	let doc = clone(target);
	for (const op of ops)
	{
		const parts = pointer(op.path ?? '');
		const parentOf = (d, ps) =>
		{
			let cur = d;
			for (const p of ps.slice(0, -1))
			{
				if (cur == null || typeof cur !== 'object' || !(p in cur))
					throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: doc is missing path: "${op.path}": missing value`);
				cur = cur[p];
			}
			return cur;
		};
		const get = (d, ps) =>
		{
			let cur = d;
			for (const p of ps)
			{
				if (cur == null || typeof cur !== 'object' || !(p in cur))
					return undefined;
				cur = cur[p];
			}
			return cur;
		};
		const last = parts[parts.length - 1];
		switch (op.op)
		{
			case 'add':
			case 'replace':
				{
					if (parts.length === 0)
					{
						doc = clone(op.value);
						break;
					}
					const parent = parentOf(doc, parts);
					if (op.op === 'replace' && (parent == null || !(last in parent)))
						throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: replace operation does not apply: doc is missing key: ${op.path}: missing value`);
					if (Array.isArray(parent))
					{
						const idx = last === '-' ? parent.length : Number(last);
						if (op.op === 'add')
							parent.splice(idx, 0, clone(op.value));
						else
							parent[idx] = clone(op.value);
					}
					else
						parent[last] = clone(op.value);
					break;
				}
			case 'remove':
				{
					const parent = parentOf(doc, parts);
					if (parent == null || !(last in parent))
						throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: remove operation does not apply: doc is missing path: "${op.path}": missing value`);
					if (Array.isArray(parent))
						parent.splice(Number(last), 1);
					else
						delete parent[last];
					break;
				}
			case 'test':
				if (JSON.stringify(get(doc, parts)) !== JSON.stringify(op.value))
					throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed: test failed`);
				break;
			case 'move':
			case 'copy':
				{
					const from = pointer(op.from ?? '');
					const v = get(doc, from);
					if (op.op === 'move')
						doc = jsonPatch(doc, [{ op: 'remove', path: op.from }]);
					doc = jsonPatch(doc, [{ op: 'add', path: op.path, value: v }]);
					break;
				}
			default:
				throw badRequest(`the server rejected our request due to an error in our request: Unexpected kind: ${op.op}`);
		}
	}
	return doc;
}

// ------------------------------------------------------ strategic merge patch

export function strategicMergePatch(target, patch, field)
{
	if (!isMap(patch))
		return clone(patch);
	if (patch.$patch === 'replace')
	{
		const p = clone(patch);
		delete p.$patch;
		return p;
	}
	const out = isMap(target) ? clone(target) : {};
	const retain = Array.isArray(patch.$retainKeys) ? patch.$retainKeys : null;
	for (const [k, v] of Object.entries(patch))
	{
		if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/'))
			continue;
		if (k.startsWith('$deleteFromPrimitiveList/'))
		{
			const f = k.slice('$deleteFromPrimitiveList/'.length);
			if (Array.isArray(out[f]))
				out[f] = out[f].filter((x) => !v.includes(x));
			continue;
		}
		if (v === null)
		{
			delete out[k];
			continue;
		}
		if (isMap(v) && v.$patch === 'delete')
		{
			delete out[k];
			continue;
		}
		if (Array.isArray(v))
		{
			out[k] = mergeList(out[k], v, k);
			continue;
		}
		out[k] = strategicMergePatch(out[k], v, k);
	}
	if (retain)
		for (const k of Object.keys(out))
			if (!retain.includes(k))
				delete out[k];
	return out;
}

function mergeList(cur, patch, field)
{
	if (SET_LISTS.has(field) && Array.isArray(cur))
	{
		const out = cur.slice();
		for (const v of patch)
			if (!out.includes(v))
				out.push(v);
		return out;
	}
	const keys = mergeKeysFor(field, patch.filter((i) => !(isMap(i) && i.$patch === 'replace')));
	if (!keys || !Array.isArray(cur))
		return patch.filter((i) => !(isMap(i) && i.$patch)).map((i) => clone(i));
	if (patch.some((i) => isMap(i) && i.$patch === 'replace'))
		return patch.filter((i) => !(isMap(i) && i.$patch)).map((i) => clone(i));
	const out = cur.map((i) => clone(i));
	for (const item of patch)
	{
		const key = itemKey(item, keys);
		const idx = out.findIndex((i) => itemKey(i, keys) === key);
		if (item.$patch === 'delete')
		{
			if (idx >= 0)
				out.splice(idx, 1);
			continue;
		}
		if (idx >= 0)
			out[idx] = strategicMergePatch(out[idx], item, field);
		else
			out.push(clone(item));
	}
	return out;
}

// ------------------------------------------------------- server-side apply

// Fields the server owns; never tracked in managedFields.
const IGNORED = new Set(['apiVersion', 'kind']);
const IGNORED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']);

// Leaf paths of an object. A path is an array of 'f:name', 'k:{...}' or
// 'v:value' elements, as in the FieldsV1 format.
export function fieldPaths(obj, withStatus)
{
	return leafPaths(obj, withStatus).paths;
}

// pathKey of a path one element longer than the path of key `key`
// (pathKey of [] is '[]'): the text JSON.stringify would give, built as the
// walks go instead of once per path and use.
function extendKey(key, el)
{
	return (key.length === 2 ? '[' : key.slice(0, -1) + ',') + JSON.stringify(el) + ']';
}

// fieldPaths' walk, with each path's pathKey. With `old` (trackUpdate),
// also which leaves have another value in `old` than in `obj`, each value
// looked up as valueAtPath looks it up, one childOf per element along the
// walk rather than from the root for each leaf. The elements are kept on
// one stack: a path's array is made only for the leaves returned (with
// `old`, only the changed ones: trackUpdate needs no other).
function leafPaths(obj, withStatus, old)
{
	const paths = old === undefined ? [] : null;
	const keys = [];
	const changed = old === undefined ? null : [];
	const changedKeys = [];
	const els = [];
	const push = (depth, key, inNew, inOld) =>
	{
		if (depth === 0)
			return;
		keys.push(key);
		if (paths)
			paths.push(els.slice(0, depth));
		else if (inNew !== inOld && JSON.stringify(inOld) !== JSON.stringify(inNew))
		{
			changed.push(els.slice(0, depth));
			changedKeys.push(key);
		}
	};
	// v: the node walked, at els[0..depth); inNew/inOld: the value
	// valueAtPath(obj|old, path) gives
	const walk = (v, depth, key, field, inNew, inOld) =>
	{
		if (isMap(v))
		{
			const ks = Object.keys(v);
			if (ks.length === 0)
			{
				push(depth, key, inNew, inOld);
				return;
			}
			for (const k of ks)
			{
				if (depth === 0 && (IGNORED.has(k) || (k === 'status' && !withStatus)))
					continue;
				if (depth === 1 && els[0] === 'f:metadata' && IGNORED_METADATA.has(k))
					continue;
				const el = 'f:' + k;
				els[depth] = el;
				walk(v[k], depth + 1, extendKey(key, el), k, childOf(inNew, el), changed && childOf(inOld, el));
			}
			return;
		}
		if (Array.isArray(v))
		{
			if (SET_LISTS.has(field) && v.every((x) => !isMap(x)))
			{
				for (const x of v)
				{
					const el = 'v:' + JSON.stringify(x);
					els[depth] = el;
					push(depth + 1, extendKey(key, el), childOf(inNew, el), changed && childOf(inOld, el));
				}
				return;
			}
			const mkeys = v.length ? mergeKeysFor(field, v) : null;
			if (mkeys)
			{
				for (const item of v)
				{
					const el = 'k:' + itemKey(item, mkeys);
					const pk = extendKey(key, el);
					const itemNew = childOf(inNew, el);
					const itemOld = changed && childOf(inOld, el);
					els[depth] = el;
					els[depth + 1] = '.';
					push(depth + 2, extendKey(pk, '.'), itemNew, itemOld);
					walk(item, depth + 1, pk, undefined, itemNew, itemOld);
				}
				return;
			}
		}
		push(depth, key, inNew, inOld);
	};
	walk(obj, 0, '[]', undefined, obj, changed && old);
	return { paths, keys, changed, changedKeys };
}

// The parsed JSON of 'k:' and 'v:' elements, parsed once: the same
// elements come back with every write of an object.
const parsedElements = new Map();

function parsedElement(el)
{
	let p = parsedElements.get(el);
	if (p === undefined)
	{
		if (parsedElements.size >= 100000)
			parsedElements.clear();
		const want = JSON.parse(el.slice(2));
		p = el.startsWith('k:') ? Object.entries(want) : { want };
		parsedElements.set(el, p);
	}
	return p;
}

function childOf(container, el)
{
	if (container == null)
		return undefined;
	if (el.startsWith('f:'))
		return isMap(container) ? container[el.slice(2)] : undefined;
	if (el.startsWith('k:') && Array.isArray(container))
	{
		const want = parsedElement(el);
		return container.find((i) => isMap(i) && want.every(([k, v]) => i[k] === v));
	}
	if (el.startsWith('v:') && Array.isArray(container))
	{
		const { want } = parsedElement(el);
		return container.includes(want) ? want : undefined;
	}
	return undefined;
}

export function valueAtPath(obj, path)
{
	let cur = obj;
	for (const el of path)
	{
		if (el === '.')
			return cur;
		cur = childOf(cur, el);
		if (cur === undefined)
			return undefined;
	}
	return cur;
}

function deleteAtPath(obj, path)
{
	const elems = path[path.length - 1] === '.' ? path.slice(0, -1) : path;
	const parent = valueAtPath(obj, elems.slice(0, -1));
	const last = elems[elems.length - 1];
	if (parent == null)
		return;
	if (last.startsWith('f:') && isMap(parent))
		delete parent[last.slice(2)];
	else if (Array.isArray(parent))
	{
		const item = childOf(parent, last);
		const idx = parent.indexOf(item);
		if (idx >= 0)
			parent.splice(idx, 1);
	}
	// Drop maps that became empty because of the removal (but not the root).
	if (elems.length > 1 && isMap(parent) && Object.keys(parent).length === 0)
		deleteAtPath(obj, elems.slice(0, -1));
}

// Deep-merge an applied configuration into the live object. `owned`: live
// is a copy of ours in which nothing is shared (cloneTree), merged into in
// place rather than copied again at each level (the result is the same).
function applyMerge(live, applied, field, owned = false)
{
	if (isMap(applied))
	{
		let out = {};
		let ownedOut = true;
		if (isMap(live))
		{
			out = owned ? live : cloneTree(live);
			if (out === undefined)
			{
				out = clone(live);
				ownedOut = false;
			}
		}
		for (const [k, v] of Object.entries(applied))
		{
			if (v === null)
				delete out[k];
			else
				out[k] = applyMerge(out[k], v, k, ownedOut);
		}
		return out;
	}
	if (Array.isArray(applied) && Array.isArray(live))
	{
		if (SET_LISTS.has(field))
			return live.concat(applied.filter((x) => !live.includes(x)));
		const keys = applied.length ? mergeKeysFor(field, applied) : null;
		if (keys && mergeKeysFor(field, live))
		{
			const out = owned ? live : live.map((i) => clone(i));
			for (const item of applied)
			{
				const idx = out.findIndex((i) => itemKey(i, keys) === itemKey(item, keys));
				if (idx >= 0)
					out[idx] = applyMerge(out[idx], item, field, owned);
				else
					out.push(clone(item));
			}
			return out;
		}
	}
	return clone(applied);
}

function fieldsToPaths(fieldsV1)
{
	const out = [];
	const walk = (node, path, key) =>
	{
		const keys = Object.keys(node || {});
		if (keys.length === 0)
		{
			if (path.length)
				out.push([key, path]);
			return;
		}
		for (const k of keys)
		{
			if (k === '.')
				out.push([extendKey(key, '.'), path.concat('.')]);
			else
				walk(node[k], path.concat(k), extendKey(key, k));
		}
	};
	walk(fieldsV1, [], '[]');
	return out;
}

// fieldsToPaths of the managedFields of stored objects, which never
// change: a status write or an apply reads the same ones again. (Paths are
// never changed in place, so the entries may share them.)
const fieldsPathsCache = new WeakMap();

function cachedFieldsToPaths(fieldsV1)
{
	if (fieldsV1 === null || typeof fieldsV1 !== 'object')
		return fieldsToPaths(fieldsV1);
	let pairs = fieldsPathsCache.get(fieldsV1);
	if (!pairs)
	{
		pairs = fieldsToPaths(fieldsV1);
		fieldsPathsCache.set(fieldsV1, pairs);
	}
	return pairs;
}

// The FieldsV1 trees pathsToFields made. Read back (fieldsToPaths) and
// rebuilt, such a tree comes out the same, key order included: an entry
// whose paths did not change since readManaged keeps it (stored objects
// never change, so sharing it is safe) instead of building it again.
const generatedFields = new WeakSet();

function pathsToFields(paths)
{
	const root = {};
	generatedFields.add(root);
	for (const p of paths)
	{
		let cur = root;
		for (const el of p)
			cur = cur[el] = cur[el] || {};
	}
	return root;
}

function displayPath(path)
{
	return path.filter((e) => e !== '.').map((e) =>
	{
		if (e.startsWith('f:'))
			return '.' + e.slice(2);
		if (e.startsWith('k:'))
			return '[' + Object.entries(JSON.parse(e.slice(2))).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',') + ']';
		return '[' + e.slice(2) + ']';
	}).join('');
}

function readManaged(obj)
{
	return (obj?.metadata?.managedFields || []).map((m) => ({
		manager: m.manager,
		operation: m.operation,
		apiVersion: m.apiVersion,
		subresource: m.subresource,
		time: m.time,
		paths: new Map(cachedFieldsToPaths(m.fieldsV1)),
		source: generatedFields.has(m.fieldsV1) ? m.fieldsV1 : undefined,
		dirty: false,			/* paths changed since read */
	}));
}

function writeManaged(obj, entries)
{
	const out = [];
	for (const e of entries)
	{
		if (e.paths.size === 0)
			continue;
		const m = {
			manager: e.manager,
			operation: e.operation,
			apiVersion: e.apiVersion,
			time: e.time,
			fieldsType: 'FieldsV1',
			fieldsV1: e.source && !e.dirty ? e.source : pathsToFields([...e.paths.values()]),
		};
		if (e.subresource)
			m.subresource = e.subresource;
		out.push(m);
	}
	if (out.length)
		obj.metadata.managedFields = out;
	else
		delete obj.metadata.managedFields;
}

// Record an Update operation by `manager` that turned `oldObj` into `newObj`.
// Changed fields move to the manager; fields gone from the object are
// dropped from every manager.
export function trackUpdate(res, oldObj, newObj, manager, subresource)
{
	const entries = readManaged(oldObj);
	const withStatus = subresource === 'status' || !res.status;
	const { keys: newKeys, changed, changedKeys } = leafPaths(newObj, withStatus, oldObj || {});
	const present = new Set(newKeys);
	for (const e of entries)
	{
		for (const k of [...e.paths.keys()])
			if (!present.has(k) && !(subresource !== 'status' && k.startsWith('["f:status"')) && e.paths.delete(k))
				e.dirty = true;
		for (const k of changedKeys)
			if (e.paths.delete(k))
				e.dirty = true;
	}
	let mine = entries.find((e) => e.manager === manager && e.operation === 'Update' && (e.subresource || '') === (subresource || ''));
	if (!mine && changed.length)
	{
		mine = { manager, operation: 'Update', apiVersion: res.apiVersion, subresource, paths: new Map() };
		entries.push(mine);
	}
	if (mine && changed.length)
	{
		for (let i = 0; i < changed.length; i++)
			mine.paths.set(changedKeys[i], changed[i]);
		mine.dirty = true;
		mine.time = timestamp();
	}
	writeManaged(newObj, entries);
}

// JSON text of a value with every object's keys sorted: two objects that
// hold the same data compare equal whatever order their keys came in (the
// real server compares decoded objects, never their serialization).
// `omit`, a Map, leaves keys out: key -> true drops the key, key -> Map
// applies that Map to the key's value; the text is the same as that of a
// copy with those keys deleted.
export function canonicalJson(v, omit)
{
	if (typeof v === 'string')
		return JSON.stringify(v);
	if (Array.isArray(v))
	{
		// as '[' + v.map(canonicalJson).join(',') + ']' (a hole gives '')
		let s = '[';
		for (let i = 0; i < v.length; i++)
		{
			if (i > 0)
				s += ',';
			if (i in v)
				s += canonicalJson(v[i]);
		}
		return s + ']';
	}
	if (v !== null && typeof v === 'object')
	{
		const keys = Object.keys(v).sort();
		let s = '{';
		let first = true;
		for (const k of keys)
		{
			const o = omit?.get(k);
			if (o === true)
				continue;
			s += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v[k], o || undefined);
			first = false;
		}
		return s + '}';
	}
	return JSON.stringify(v) ?? 'null';
}

function hasHoles(a)
{
	for (let i = 0; i < a.length; i++)
		if (!(i in a))
			return true;
	return false;
}

// canonicalJson(a, omit) === canonicalJson(b, omit), without building the
// texts: it stops at the first difference and copies nothing.
export function sameData(a, b, omit)
{
	if (a === b)
		return true;
	const ta = typeof a;
	const tb = typeof b;
	if (ta === 'string' || tb === 'string')
		return a === b;
	const oa = a !== null && ta === 'object';
	const ob = b !== null && tb === 'object';
	if (!oa || !ob)
		return !oa && !ob && (JSON.stringify(a) ?? 'null') === (JSON.stringify(b) ?? 'null');
	const arr = Array.isArray(a);
	if (arr !== Array.isArray(b))
		return false;
	if (arr)
	{
		// Of different lengths, only arrays with holes can read the same
		// ([] and [,] do)
		if (a.length !== b.length)
			return (hasHoles(a) || hasHoles(b)) && canonicalJson(a) === canonicalJson(b);
		for (let i = 0; i < a.length; i++)
		{
			if (!(i in a) || !(i in b))
				return canonicalJson(a) === canonicalJson(b);
			if (!sameData(a[i], b[i]))
				return false;
		}
		return true;
	}
	// The same keys (those omit leaves in), each with the same data.
	let n = 0;
	for (const k of Object.keys(a))
	{
		const o = omit?.get(k);
		if (o === true)
			continue;
		n++;
		if (!Object.prototype.propertyIsEnumerable.call(b, k) || !sameData(a[k], b[k], o || undefined))
			return false;
	}
	for (const k of Object.keys(b))
		if (omit?.get(k) !== true)
			n--;
	return n === 0;
}

const OMIT_RV = new Map([['metadata', new Map([['resourceVersion', true], ['managedFields', true]])]]);

// Server-side apply of `applied` over `live` (undefined when creating).
// Returns the new object, or throws an ApiError listing conflicts.
export function serverSideApply(res, live, applied, manager, force, conflictError, subresource)
{
	const withStatus = subresource === 'status';
	const entries = readManaged(live);
	const { paths: appliedPaths, keys: appliedPathKeys } = leafPaths(applied, withStatus || !res.status);
	const appliedKeys = new Set(appliedPathKeys);
	let base = live ? cloneTree(live) : { metadata: {} };
	const owned = base !== undefined;
	if (!owned)
		base = clone(live);

	// Conflicts: another manager owns a field we set to a different value.
	const conflicts = [];
	for (const e of entries)
	{
		if (e.manager === manager && e.operation === 'Apply')
			continue;
		for (let i = 0; i < appliedPaths.length; i++)
		{
			const p = appliedPaths[i];
			if (!e.paths.has(appliedPathKeys[i]) || p[p.length - 1] === '.')
				continue;
			if (JSON.stringify(valueAtPath(base, p)) !== JSON.stringify(valueAtPath(applied, p)))
				conflicts.push({ manager: e.manager, field: displayPath(p), entry: e, key: appliedPathKeys[i] });
		}
	}
	if (conflicts.length && !force)
		throw conflictError(conflicts);
	for (const c of conflicts)
	{
		c.entry.paths.delete(c.key);
		c.entry.dirty = true;
	}

	// Fields this manager applied before but no longer does: remove them
	// from the object unless someone else still owns them.
	let mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource || '') === (subresource || ''));
	let obj = base;
	if (mine)
	{
		for (const [k, p] of mine.paths)
		{
			if (appliedKeys.has(k))
				continue;
			if (entries.some((e) => e !== mine && e.paths.has(k)))
				continue;
			deleteAtPath(obj, p);
		}
	}
	if (withStatus)
	{
		obj.status = applyMerge(obj.status, applied.status ?? {}, 'status', owned);
	}
	else
	{
		// applyMerge copies what it takes from `applied` and never changes
		// it: a shallow copy is enough to leave keys out.
		const toMerge = { ...applied };
		if (res.status)
			delete toMerge.status;
		if (toMerge.metadata !== null && typeof toMerge.metadata === 'object' && Object.hasOwn(toMerge.metadata, 'managedFields'))
		{
			toMerge.metadata = clone(toMerge.metadata);
			delete toMerge.metadata.managedFields;
		}
		obj = applyMerge(obj, toMerge, undefined, owned);
	}
	if (!mine)
	{
		mine = { manager, operation: 'Apply', apiVersion: res.apiVersion, subresource, paths: new Map() };
		entries.push(mine);
	}
	const before = new Set(mine.paths.keys());
	mine.paths = new Map(appliedPaths.map((p, i) => [appliedPathKeys[i], p]));
	mine.dirty = true;
	// An apply that changes neither the object nor what this manager owns
	// is a no-op: its entry keeps its time, so that the caller sees an
	// unchanged object (no new resourceVersion, no generation bump).
	const noop = live && mine.time && before.size === mine.paths.size &&
		[...mine.paths.keys()].every((k) => before.has(k)) && sameData(obj, live, OMIT_RV);
	if (!noop)
		mine.time = timestamp();
	writeManaged(obj, entries);
	return obj;
}

// The default field manager for a non-apply write, as the apiserver derives
// it from the User-Agent ("kubectl/v1.32 (linux/amd64)" -> "kubectl").
export function defaultManager(userAgent)
{
	if (!userAgent)
		return 'unknown';
	return userAgent.split('/')[0].slice(0, 128);
}
