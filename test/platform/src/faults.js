// faults.js — deterministic fault injection.
//
// A fault set is {seed, rules:[...]}; see README.md for the rule format.
// Rules are tried in order for each request; "latency" rules add delay and
// let evaluation continue, the first matching rule of any other kind ends
// it. Random draws come from a seeded PRNG, one draw per matching rule, so
// the same requests in the same order get the same faults.

const KINDS = new Set(['status', 'retry-after', 'latency', 'reset', 'hang']);
const SERVICES = new Set(['kubernetes', 'vault', 'grafana']);

// mulberry32: small, fast, good enough for test determinism.
function prng(seed)
{
	let a = seed >>> 0;
	return () =>
	{
		a = (a + 0x6D2B79F5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export class FaultError extends Error {}

function normalizeRule(r, i)
{
	if (r === null || typeof r !== 'object')
		throw new FaultError(`rules[${i}]: must be an object`);
	const rule = { ...r };
	if (rule.kind === undefined)
		rule.kind = rule.status === 429 ? 'retry-after' : 'status';
	if (!KINDS.has(rule.kind))
		throw new FaultError(`rules[${i}].kind: must be one of ${[...KINDS].join(', ')}`);
	if (rule.service !== undefined && !SERVICES.has(rule.service))
		throw new FaultError(`rules[${i}].service: must be one of ${[...SERVICES].join(', ')}`);
	if (rule.method !== undefined)
		rule.method = String(rule.method).toUpperCase();
	if (rule.path !== undefined)
	{
		try
		{
			rule.re = new RegExp(rule.path);
		}
		catch (e)
		{
			throw new FaultError(`rules[${i}].path: ${e.message}`);
		}
	}
	if (rule.rate === undefined)
		rule.rate = 1;
	if (typeof rule.rate !== 'number' || rule.rate < 0 || rule.rate > 1)
		throw new FaultError(`rules[${i}].rate: must be a number in [0, 1]`);
	if (rule.kind === 'status' && rule.status === undefined)
		rule.status = 503;
	if (rule.kind === 'retry-after')
	{
		if (rule.status === undefined)
			rule.status = 429;
		if (rule.retryAfter === undefined)
			rule.retryAfter = 1;
	}
	if (rule.kind === 'latency' && typeof rule.ms !== 'number')
		throw new FaultError(`rules[${i}].ms: required for latency`);
	if ((rule.kind === 'status' || rule.kind === 'retry-after') && !(rule.status >= 400 && rule.status <= 599))
		throw new FaultError(`rules[${i}].status: must be 400-599`);
	if (rule.when === undefined)
		rule.when = 'before';
	if (rule.when !== 'before' && rule.when !== 'after')
		throw new FaultError(`rules[${i}].when: must be "before" or "after"`);
	if (rule.when === 'after' && rule.kind === 'latency')
		throw new FaultError(`rules[${i}].when: latency is always applied before`);
	rule.skip = rule.skip ?? 0;
	rule.matched = 0;
	rule.injected = 0;
	return rule;
}

export class Faults
{
	constructor()
	{
		this.set({ seed: 1, rules: [] });
	}

	set(spec)
	{
		if (spec === null || typeof spec !== 'object')
			throw new FaultError('body must be a JSON object');
		const rules = spec.rules ?? [];
		if (!Array.isArray(rules))
			throw new FaultError('rules: must be an array');
		const seed = spec.seed ?? 1;
		if (!Number.isInteger(seed))
			throw new FaultError('seed: must be an integer');
		const normalized = rules.map(normalizeRule);
		this.seed = seed;
		this.random = prng(seed);
		this.rules = normalized;
	}

	clear()
	{
		this.set({ seed: 1, rules: [] });
	}

	describe()
	{
		return {
			seed: this.seed,
			rules: this.rules.map(({ re, ...r }) => r),
		};
	}

	// Decide the faults for one request at one phase ("before" the handler
	// runs, or "after" it has changed state). Returns {latencyMs, fault}
	// where fault is the terminal rule (or null).
	decide(service, method, path, phase)
	{
		let latencyMs = 0;
		const applied = [];
		// Only the simulated services are faulted: a rule without "service"
		// means all three, never the control API.
		if (!SERVICES.has(service))
			return { latencyMs, applied, fault: null };
		for (const rule of this.rules)
		{
			if (rule.when !== phase)
				continue;
			if (rule.service && rule.service !== service)
				continue;
			if (rule.method && rule.method !== method)
				continue;
			if (rule.re && !rule.re.test(path))
				continue;
			rule.matched += 1;
			if (rule.matched <= rule.skip)
				continue;
			if (rule.count !== undefined && rule.injected >= rule.count)
				continue;
			if (this.random() >= rule.rate)
				continue;
			rule.injected += 1;
			if (rule.kind === 'latency')
			{
				latencyMs += rule.ms;
				applied.push({ kind: 'latency', ms: rule.ms });
				continue;
			}
			return { latencyMs, applied, fault: rule };
		}
		return { latencyMs, applied, fault: null };
	}
}

// A JSON description of an injected fault for the journal.
export function faultRecord(rule, latencyMs, phase)
{
	const f = { kind: rule ? rule.kind : 'latency', when: phase };
	if (rule)
	{
		if (rule.status !== undefined && (rule.kind === 'status' || rule.kind === 'retry-after'))
			f.status = rule.status;
		if (rule.kind === 'retry-after')
			f.retryAfter = rule.retryAfter;
		if (rule.name)
			f.rule = rule.name;
	}
	if (latencyMs)
		f.latencyMs = latencyMs;
	return f;
}
