// journal.js — every request the simulator answered, in order.
//
// Entries: {seq, time, service, method, path, query, status, contentType,
// body, fault, durationMs, principal, verb, resource, namespace, name}. Secret values
// in bodies are masked by the service before the entry is written.

const MAX_ENTRIES = 200000;

export class Journal
{
	constructor()
	{
		this.entries = [];
		this.seq = 0;
	}

	add(entry)
	{
		this.seq += 1;
		const e = { seq: this.seq, ...entry };
		this.entries.push(e);
		if (this.entries.length > MAX_ENTRIES)
			this.entries.splice(0, this.entries.length - MAX_ENTRIES);
		return e;
	}

	since(n)
	{
		return this.entries.filter((e) => e.seq > n);
	}

	// Clearing keeps the sequence going, so "since" stays meaningful.
	clear()
	{
		this.entries = [];
	}
}

export const MASK = '***';

// Mask every value of a map (Secret data/stringData, Vault KV data).
export function maskValues(m)
{
	if (m === null || typeof m !== 'object' || Array.isArray(m))
		return m === undefined ? undefined : MASK;
	const out = {};
	for (const k of Object.keys(m))
		out[k] = MASK;
	return out;
}
