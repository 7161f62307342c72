// vault-policy.js — a Vault ACL policy (HCL) against the paths the worker
// used.
//
// The parser reads the subset policies are written in: path "<glob>" {
// capabilities = [...] } blocks and comments; anything else is an error, so
// that a construct it does not understand cannot pass unchecked.  Matching
// follows Vault: "+" is one path segment, a trailing "*" a prefix, and of
// several matching blocks only the most specific one applies (Vault's
// priority rules, not a union).

const CAPABILITIES = new Set(['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny']);

// Paths a token may use whatever its policies say: logins are
// unauthenticated, the rest is Vault's built-in "default" policy.
const ALWAYS_ALLOWED = [
	/^auth\/[^/]+(\/[^/]+)*\/login(\/.*)?$/,
	/^auth\/token\/(lookup-self|renew-self|revoke-self)$/,
	/^sys\/(capabilities-self|health|seal-status|leader)$/,
];

function tokenize(text)
{
	const tokens = [];
	const re = /\s+|#[^\n]*|\/\/[^\n]*|\/\*[\s\S]*?\*\/|"((?:[^"\\\n]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)|([{}[\]=,])|(.)/gy;
	let m;
	let line = 1;
	while ((m = re.exec(text)) !== null)
	{
		const at = line;
		line += (m[0].match(/\n/g) || []).length;
		if (m[1] !== undefined)
			tokens.push({ t: 'string', v: JSON.parse(`"${m[1]}"`), line: at });
		else if (m[2] !== undefined)
			tokens.push({ t: 'ident', v: m[2], line: at });
		else if (m[3] !== undefined)
			tokens.push({ t: m[3], v: m[3], line: at });
		else if (m[4] !== undefined)
			throw new Error(`line ${at}: unexpected character ${JSON.stringify(m[4])}`);
		if (re.lastIndex >= text.length)
			break;
	}
	return tokens;
}

// Parse a policy: [{path, capabilities: [..], line}].  Throws on anything
// outside the subset, on an unknown capability and on a repeated path.
export function parsePolicy(text)
{
	const tokens = tokenize(text);
	let i = 0;
	const expect = (t, what) =>
	{
		const tok = tokens[i];
		if (!tok || tok.t !== t || (what && tok.v !== what))
			throw new Error(`line ${tok?.line ?? 'end'}: expected ${what ?? t}, found ${tok ? JSON.stringify(tok.v) : 'end of file'}`);
		i += 1;
		return tok;
	};
	const rules = [];
	const seen = new Set();
	while (i < tokens.length)
	{
		const kw = expect('ident', 'path');
		const path = expect('string').v;
		if (seen.has(path))
			throw new Error(`line ${kw.line}: path "${path}" appears twice`);
		seen.add(path);
		if (path.indexOf('*') !== -1 && path.indexOf('*') !== path.length - 1)
			throw new Error(`line ${kw.line}: "*" may only end a path: "${path}"`);
		expect('{');
		const attr = expect('ident');
		if (attr.v !== 'capabilities')
			throw new Error(`line ${attr.line}: unsupported attribute "${attr.v}" (only capabilities)`);
		expect('=');
		expect('[');
		const caps = [];
		while (tokens[i]?.t !== ']')
		{
			const c = expect('string');
			if (!CAPABILITIES.has(c.v))
				throw new Error(`line ${c.line}: unknown capability "${c.v}"`);
			caps.push(c.v);
			if (tokens[i]?.t === ',')
				i += 1;
		}
		expect(']');
		expect('}');
		rules.push({ path, capabilities: caps, line: kw.line });
	}
	return rules;
}

function matches(pattern, path)
{
	const glob = pattern.endsWith('*');
	const body = glob ? pattern.slice(0, -1) : pattern;
	const source = body.split('/').map((seg) => (seg === '+' ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
	return new RegExp(`^${source}${glob ? '.*' : ''}$`).test(path);
}

function firstWildcard(p)
{
	const plus = p.split('/').findIndex((s) => s === '+');
	const plusAt = plus === -1 ? Infinity : p.split('/').slice(0, plus).join('/').length;
	const star = p.endsWith('*') ? p.length - 1 : Infinity;
	return Math.min(plusAt, star);
}

// > 0 when a is more specific than b (Vault's "priority matching").
function priority(a, b)
{
	const wa = firstWildcard(a);
	const wb = firstWildcard(b);
	if (wa !== wb)
		return wa - wb;
	if (a.endsWith('*') !== b.endsWith('*'))
		return a.endsWith('*') ? -1 : 1;
	const pa = a.split('/').filter((s) => s === '+').length;
	const pb = b.split('/').filter((s) => s === '+').length;
	if (pa !== pb)
		return pb - pa;
	if (a.length !== b.length)
		return a.length - b.length;
	return a < b ? -1 : a > b ? 1 : 0;
}

// The block that applies to a path, or undefined.
export function governingRule(rules, path)
{
	let best;
	for (const r of rules)
		if (matches(r.path, path) && (!best || priority(r.path, best.path) > 0))
			best = r;
	return best;
}

// Compare a policy with the Vault entries of journals: {missing, unused,
// problems}.  Entries carry the capability Vault checks (verb) and the
// path without /v1/ (resource).
export function compareVaultPolicy(rules, entries)
{
	const used = new Set();
	const missing = new Set();
	const problems = [];
	for (const e of entries)
	{
		if (e.service !== 'vault')
			continue;
		if (typeof e.verb !== 'string' || typeof e.resource !== 'string')
		{
			problems.push(`journal entry ${e.seq ?? '?'} (${e.method} ${e.path}) has no capability and path`);
			continue;
		}
		const path = e.resource.replace(/^\/?(v1\/)?/, '');
		if (ALWAYS_ALLOWED.some((re) => re.test(path)))
			continue;
		const rule = governingRule(rules, path);
		if (!rule || !rule.capabilities.includes(e.verb) || rule.capabilities.includes('deny'))
			missing.add(`${e.verb} ${path}${rule ? `  [governed by path "${rule.path}"]` : ''}`);
		else
			used.add(`${rule.path}\0${e.verb}`);
	}
	const unused = [];
	for (const r of rules)
		for (const c of r.capabilities)
			if (c !== 'deny' && !used.has(`${r.path}\0${c}`))
				unused.push(`${c} on path "${r.path}" (line ${r.line})`);
	return { missing: [...missing].sort(), unused: unused.sort(), problems };
}
