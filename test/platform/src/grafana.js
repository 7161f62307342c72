// grafana.js — the part of Grafana's HTTP API the extension uses:
// dashboards by uid (create/update with overwrite and version checks, get,
// delete), folders, search, health; bearer-token auth.

import { randomBytes } from 'node:crypto';

const UID_RE = /^[a-zA-Z0-9\-_]+$/;

function msg(status, message, extra)
{
	return { status, body: { message, ...extra } };
}

function slugify(title)
{
	return String(title).toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function newUid()
{
	return randomBytes(10).toString('base64url').replace(/[^a-zA-Z0-9]/g, 'x').slice(0, 14).toLowerCase();
}

function now()
{
	return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class Grafana
{
	constructor(sim)
	{
		this.sim = sim;
		this.name = 'grafana';
		this.tokens = new Set();
		this.dashboards = new Map();	/* uid -> {id, uid, title, version, folderUid, dashboard, created, updated} */
		this.folders = new Map();		/* uid -> {id, uid, title, version, created} */
		this.nextId = 1;
	}

	classify(ctx)
	{
		let body;
		try
		{
			const t = ctx.body.toString('utf8');
			body = t.trim() ? JSON.parse(t) : undefined;
		}
		catch (e)
		{
			body = '<unparseable>';
		}
		ctx.parsedBody = body;
		ctx.info.body = body;
		const p = ctx.path;
		let m;
		const f = { verb: ctx.method.toLowerCase(), resource: null, namespace: null, name: null };
		if (p === '/api/dashboards/db')
			Object.assign(f, { verb: 'create', resource: 'dashboards', name: body?.dashboard?.uid ?? null });
		else if ((m = p.match(/^\/api\/dashboards\/uid\/([^/]+)$/)))
			Object.assign(f, { verb: ctx.method === 'DELETE' ? 'delete' : 'get', resource: 'dashboards', name: m[1] });
		else if ((m = p.match(/^\/api\/folders(?:\/([^/]+))?$/)))
			Object.assign(f, { verb: ctx.method === 'POST' ? 'create' : ctx.method === 'DELETE' ? 'delete' : m[1] ? 'get' : 'list', resource: 'folders', name: m[1] ?? body?.uid ?? null });
		else if (p === '/api/search')
			Object.assign(f, { verb: 'list', resource: 'search' });
		else
			f.resource = p;
		ctx.info.fields = f;
	}

	faultResult(rule)
	{
		return msg(rule.status, rule.message || (rule.status === 429 ? 'Too many requests' : 'injected fault'));
	}

	// Who made the request, for the journal: "admin" for a known token
	// (the simulator has only admin tokens), or null.
	principal(ctx)
	{
		const m = (ctx.headers.authorization || '').match(/^Bearer\s+(\S+)$/i);
		return m && this.tokens.has(m[1]) ? 'admin' : null;
	}

	authorized(ctx)
	{
		const m = (ctx.headers.authorization || '').match(/^Bearer\s+(\S+)$/i);
		if (!m)
			return { status: 401, body: { extra: null, message: 'Unauthorized', messageId: 'auth.unauthorized', statusCode: 401, traceID: '' } };
		if (!this.tokens.has(m[1]))
			return msg(401, 'Invalid API key');
		return null;
	}

	async handle(ctx)
	{
		const p = ctx.path;
		if (p === '/api/health')
			return { status: 200, body: { commit: '0000000', database: 'ok', version: '10.4.2' } };
		const denied = this.authorized(ctx);
		if (denied)
			return denied;
		if (ctx.parsedBody === '<unparseable>')
			return msg(400, 'bad request data');
		let m;
		if (p === '/api/dashboards/db' && ctx.method === 'POST')
			return this.saveDashboard(ctx.parsedBody || {});
		if ((m = p.match(/^\/api\/dashboards\/uid\/([^/]+)$/)))
		{
			if (ctx.method === 'GET')
				return this.getDashboard(m[1]);
			if (ctx.method === 'DELETE')
				return this.deleteDashboard(m[1]);
		}
		if (p === '/api/search' && ctx.method === 'GET')
			return this.search(ctx.query);
		if (p === '/api/folders')
		{
			if (ctx.method === 'GET')
				return { status: 200, body: [...this.folders.values()].map((f) => ({ id: f.id, uid: f.uid, title: f.title })) };
			if (ctx.method === 'POST')
				return this.createFolder(ctx.parsedBody || {});
		}
		if ((m = p.match(/^\/api\/folders\/([^/]+)$/)))
		{
			const f = this.folders.get(m[1]);
			if (!f)
				return msg(404, 'folder not found', { status: 'not-found' });
			if (ctx.method === 'GET')
				return { status: 200, body: this.folderView(f) };
			if (ctx.method === 'DELETE')
			{
				this.folders.delete(m[1]);
				for (const [uid, d] of this.dashboards)
					if (d.folderUid === f.uid)
						this.dashboards.delete(uid);
				return { status: 200, body: { id: f.id, message: `Folder ${f.title} deleted`, title: f.title } };
			}
		}
		return msg(404, 'Not found');
	}

	saveDashboard(body)
	{
		const dash = body.dashboard;
		if (!dash || typeof dash !== 'object')
			return msg(400, 'bad request data');
		if (typeof dash.title !== 'string' || dash.title.trim() === '')
			return msg(400, 'Dashboard title cannot be empty', { status: 'empty-name' });
		if (dash.uid !== undefined && dash.uid !== null && dash.uid !== '')
		{
			if (String(dash.uid).length > 40)
				return msg(400, 'uid too long, max 40 characters', { status: 'bad-uid' });
			if (!UID_RE.test(String(dash.uid)))
				return msg(400, 'uid contains illegal characters', { status: 'bad-uid' });
		}
		const folderUid = body.folderUid || '';
		if (folderUid && !this.folders.has(folderUid))
			return msg(400, 'folder not found', { status: 'not-found' });
		const overwrite = body.overwrite === true;
		let existing = dash.uid ? this.dashboards.get(dash.uid) : undefined;
		if (!existing && dash.id)
		{
			existing = [...this.dashboards.values()].find((d) => d.id === dash.id);
			if (!existing)
				return msg(404, 'Dashboard not found', { status: 'not-found' });
		}
		const sameName = [...this.dashboards.values()].find((d) => d !== existing && d.folderUid === folderUid && d.title.toLowerCase() === dash.title.toLowerCase());
		if (sameName)
		{
			if (!overwrite)
				return msg(412, 'A dashboard with the same name in the folder already exists', { status: 'name-exists' });
			this.dashboards.delete(sameName.uid);
		}
		if (existing && !overwrite && dash.version !== undefined && dash.version !== null && dash.version !== existing.version)
			return msg(412, 'The dashboard has been changed by someone else', { status: 'version-mismatch' });
		if (existing && !overwrite && (dash.version === undefined || dash.version === null))
			return msg(412, 'The dashboard has been changed by someone else', { status: 'version-mismatch' });
		const t = now();
		const uid = existing?.uid || dash.uid || newUid();
		const record = {
			id: existing?.id || this.nextId++,
			uid,
			title: dash.title,
			version: existing ? existing.version + 1 : 1,
			folderUid,
			created: existing?.created || t,
			updated: t,
			message: body.message || '',
		};
		record.dashboard = { ...structuredClone(dash), id: record.id, uid, version: record.version };
		this.dashboards.set(uid, record);
		const slug = slugify(record.title);
		return { status: 200, body: { id: record.id, uid, url: `/d/${uid}/${slug}`, status: 'success', version: record.version, slug, folderUid } };
	}

	getDashboard(uid)
	{
		const d = this.dashboards.get(uid);
		if (!d)
			return msg(404, 'Dashboard not found');
		const slug = slugify(d.title);
		const folder = this.folders.get(d.folderUid);
		return {
			status: 200,
			body: {
				dashboard: d.dashboard,
				meta: {
					type: 'db', canSave: true, canEdit: true, canAdmin: true, canStar: true, canDelete: true,
					slug, url: `/d/${uid}/${slug}`, expires: '0001-01-01T00:00:00Z', created: d.created, updated: d.updated,
					updatedBy: 'admin', createdBy: 'admin', version: d.version, hasAcl: false, isFolder: false,
					folderId: folder ? folder.id : 0, folderUid: d.folderUid, folderTitle: folder ? folder.title : 'General',
					folderUrl: folder ? `/dashboards/f/${folder.uid}/${slugify(folder.title)}` : '', provisioned: false, provisionedExternalId: '',
				},
			},
		};
	}

	deleteDashboard(uid)
	{
		const d = this.dashboards.get(uid);
		if (!d)
			return msg(404, 'Dashboard not found');
		this.dashboards.delete(uid);
		return { status: 200, body: { title: d.title, message: `Dashboard ${d.title} deleted`, id: d.id } };
	}

	search(query)
	{
		const q = (query.get('query') || '').toLowerCase();
		const type = query.get('type');
		const tags = query.getAll('tag');
		const out = [];
		if (type !== 'dash-folder')
			for (const d of this.dashboards.values())
			{
				if (q && !d.title.toLowerCase().includes(q))
					continue;
				const dtags = d.dashboard.tags || [];
				if (!tags.every((t) => dtags.includes(t)))
					continue;
				const slug = slugify(d.title);
				const folder = this.folders.get(d.folderUid);
				out.push({ id: d.id, uid: d.uid, title: d.title, uri: `db/${slug}`, url: `/d/${d.uid}/${slug}`, slug: '', type: 'dash-db', tags: dtags, isStarred: false, folderUid: d.folderUid || undefined, folderTitle: folder?.title, sortMeta: 0 });
			}
		if (type !== 'dash-db' && !tags.length)
			for (const f of this.folders.values())
				if (!q || f.title.toLowerCase().includes(q))
					out.push({ id: f.id, uid: f.uid, title: f.title, uri: `db/${slugify(f.title)}`, url: `/dashboards/f/${f.uid}/${slugify(f.title)}`, slug: '', type: 'dash-folder', tags: [], isStarred: false, sortMeta: 0 });
		out.sort((a, b) => a.title.localeCompare(b.title));
		return { status: 200, body: out };
	}

	createFolder(body)
	{
		if (typeof body.title !== 'string' || body.title.trim() === '')
			return msg(400, 'folder title cannot be empty');
		const uid = body.uid || newUid();
		if (this.folders.has(uid))
			return msg(409, 'a folder with the same uid already exists', { status: 'uid-exists' });
		if ([...this.folders.values()].some((f) => f.title.toLowerCase() === body.title.toLowerCase()))
			return msg(409, 'a folder or dashboard in the general folder with the same name already exists');
		const f = { id: this.nextId++, uid, title: body.title, version: 1, created: now() };
		this.folders.set(uid, f);
		return { status: 200, body: this.folderView(f) };
	}

	folderView(f)
	{
		return {
			id: f.id, uid: f.uid, title: f.title, url: `/dashboards/f/${f.uid}/${slugify(f.title)}`, hasAcl: false,
			canSave: true, canEdit: true, canAdmin: true, canDelete: true, createdBy: 'admin', created: f.created,
			updatedBy: 'admin', updated: f.created, version: f.version,
		};
	}

	dump()
	{
		return {
			dashboards: [...this.dashboards.values()].map((d) => ({ id: d.id, uid: d.uid, title: d.title, version: d.version, folderUid: d.folderUid })),
			folders: [...this.folders.values()],
		};
	}
}
