// store.js — the simulated etcd: objects, resourceVersions and watch events.
//
// One global resourceVersion counter (as etcd's revision), every write
// bumps it. A bounded history of events lets a watch resume from a
// resourceVersion; older ones get 410 Gone like a compacted etcd.
//
// A stored object is never changed in place: a write stores a new
// object. So the history and the watchers share the stored object (they
// only read it), get() and list() hand out copies that callers may change,
// and create() and update() keep the object they are given, which the
// caller must not change afterwards (it may still read and answer it).

import { randomUUID } from 'node:crypto';
import { clone } from '../clone.js';

const HISTORY = 10000;
const prefixes = new WeakMap();	/* res -> Store.prefix(res) */

// The time to the second, as the API server writes it. The text of the
// current second is kept: every write asks for it, often several times.
let lastSecond = -1;
let lastText = '';

export function timestamp(d)
{
	if (d !== undefined)
		return d.toISOString().replace(/\.\d+Z$/, 'Z');
	const second = Math.floor(Date.now() / 1000);
	if (second !== lastSecond)
	{
		lastText = new Date(second * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
		lastSecond = second;
	}
	return lastText;
}

export class Store
{
	constructor()
	{
		this.objects = new Map();	/* key -> object */
		this.byType = new Map();	/* prefix(res) -> Map key -> object: list() reads one type */
		this.rv = 1000;
		this.history = [];			/* {rv, type, res, object} */
		this.watchers = new Set();
	}

	// "configmaps/ns/name", "namespaces/name", "helmreleases.helm.toolkit.fluxcd.io/ns/name"
	static prefix(res)
	{
		let p = prefixes.get(res);
		if (p === undefined)
		{
			p = `${res.plural}${res.group ? '.' + res.group : ''}/`;
			prefixes.set(res, p);
		}
		return p;
	}

	static key(res, ns, name)
	{
		return `${Store.prefix(res)}${ns ? ns + '/' : ''}${name}`;
	}

	nextRV()
	{
		this.rv += 1;
		return String(this.rv);
	}

	get(res, ns, name)
	{
		return clone(this.objects.get(Store.key(res, ns, name)));
	}

	// The stored object itself, for callers that only read it.
	peek(res, ns, name)
	{
		return this.objects.get(Store.key(res, ns, name));
	}

	has(res, ns, name)
	{
		return this.objects.has(Store.key(res, ns, name));
	}

	// All objects of a type, in one namespace or all, sorted by namespace/name
	// (etcd returns keys in order).
	list(res, ns)
	{
		const prefix = `${Store.prefix(res)}${ns === undefined ? '' : ns + '/'}`;
		const out = [];
		for (const [k, v] of this.byType.get(Store.prefix(res)) || [])
			if (k.startsWith(prefix))
				out.push([k, v]);
		out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
		return out.map(([, v]) => clone(v));
	}

	put(res, key, obj)
	{
		this.objects.set(key, obj);
		const prefix = Store.prefix(res);
		if (!this.byType.has(prefix))
			this.byType.set(prefix, new Map());
		this.byType.get(prefix).set(key, obj);
	}

	// Stamp server-set metadata and store a new object: `obj` itself, which
	// is returned.
	create(res, obj)
	{
		const md = obj.metadata;
		md.uid = randomUUID();
		md.creationTimestamp = timestamp();
		md.resourceVersion = this.nextRV();
		if (res.generation)
			md.generation = 1;
		this.put(res, Store.key(res, md.namespace, md.name), obj);
		this.emit('ADDED', res, obj);
		return obj;
	}

	// Replace an existing object (the caller checked preconditions) by
	// `obj`, with its new resourceVersion; returns it.
	update(res, obj)
	{
		const md = obj.metadata;
		md.resourceVersion = this.nextRV();
		this.put(res, Store.key(res, md.namespace, md.name), obj);
		this.emit('MODIFIED', res, obj);
		return obj;
	}

	remove(res, ns, name)
	{
		const key = Store.key(res, ns, name);
		const obj = this.objects.get(key);
		if (!obj)
			return undefined;
		this.objects.delete(key);
		this.byType.get(Store.prefix(res)).delete(key);
		// A copy: the stored object is in the history as it was.
		const gone = clone(obj);
		gone.metadata.resourceVersion = this.nextRV();
		this.emit('DELETED', res, gone);
		return clone(gone);
	}

	// `obj` is the stored copy (or the removed one): shared, read only.
	emit(type, res, obj)
	{
		const ev = { rv: Number(obj.metadata.resourceVersion), type, res, object: obj };
		this.history.push(ev);
		if (this.history.length > HISTORY)
			this.history.splice(0, this.history.length - HISTORY);
		for (const w of this.watchers)
			w(ev);
	}

	// Events after resourceVersion rv, or null if some of them were already
	// dropped from the bounded history (etcd compaction).
	since(rv)
	{
		if (this.history.length >= HISTORY && rv < this.history[0].rv - 1)
			return null;
		return this.history.filter((e) => e.rv > rv);
	}

	subscribe(fn)
	{
		this.watchers.add(fn);
		return () => this.watchers.delete(fn);
	}

	dump()
	{
		const out = {};
		for (const [k, v] of this.objects)
			out[k] = clone(v);
		return out;
	}

	clear()
	{
		this.objects.clear();
		this.byType.clear();
		this.history = [];
	}
}
