/*-------------------------------------------------------------------------
 *
 * k8s_objects.c
 *	  The Kubernetes objects of a tenant's namespace, as JSON for server-side
 *	  apply: the namespace itself (labels, Pod Security admission), the
 *	  Airflow workers' service account and role binding, the resource quota
 *	  and limit range from the spec, and the network policies.
 *
 * Departures from the source document (README "Platform side" lists them):
 * the quota has no PriorityClass scope selector (it would exempt every pod
 * without that class from the quota), limits.storage is not a quota
 * resource (it is the limit range's largest claim), the workers' permissions come from a
 * RoleBinding to a ClusterRole the Helm chart installs rather than from a
 * Role the worker writes (see K8sRoleBinding), and the ingress-controller
 * and DNS peers select pods *in* the named namespaces (one peer with both
 * selectors) instead of OR-ing them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"

#include "platform.h"
#include "spec.h"
#include "tenancy.h"

/*
 * Pod Security admission level by environment and tier (README "Pod
 * Security"): production and every enterprise tenant enforce "restricted";
 * dev and staging of other tiers enforce "baseline" and warn and audit at
 * "restricted", so that what production would refuse shows up early.
 */
static const char *
pod_security_level(const TenantModel *m)
{
	if (strcmp(m->environment, "production") == 0 ||
		strcmp(m->tier, "enterprise") == 0)
		return "restricted";
	return "baseline";
}

/*
 * K8sLabels
 *		The labels every object of the tenant carries.
 */
void
K8sLabels(JsonWriter *w, const TenantModel *m)
{
	JwObjectStart(w, "labels");
	JwString(w, "app.kubernetes.io/managed-by", "tenancy");
	JwString(w, "tenancy.io/tenant", m->name);
	JwObjectEnd(w);
}

/*
 * K8sObjectStart
 *		Open an object of apiVersion/kind named name in the tenant's
 *		namespace, with the common labels; the caller closes it.
 */
void
K8sObjectStart(JsonWriter *w, const TenantModel *m, const char *api_version,
			   const char *kind, const char *name)
{
	JwInit(w);
	JwObjectStart(w, NULL);
	JwString(w, "apiVersion", api_version);
	JwString(w, "kind", kind);
	JwObjectStart(w, "metadata");
	JwString(w, "name", name);
	JwString(w, "namespace", m->namespace);
	K8sLabels(w, m);
	JwObjectEnd(w);
}

/*
 * technical_contact
 *		The e-mail address of the first technical contact, or NULL.
 */
static char *
technical_contact(Jsonb *spec)
{
	List	   *contacts = SpecArray(spec, "tenant.contacts.technical");

	if (contacts == NIL)
		return NULL;
	return SpecText(linitial(contacts), "email", NULL);
}

/*
 * K8sContacts
 *		Every contact of a kind (technical, business) as one line:
 *		"Name <email> (role); ...", or NULL when there is none.  Namespace
 *		annotations and alert labels carry it.
 */
char *
K8sContacts(Jsonb *spec, const char *kind)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, SpecArray(spec, psprintf("tenant.contacts.%s", kind)))
	{
		Jsonb	   *c = lfirst(lc);
		char	   *name = SpecText(c, "name", NULL);
		char	   *email = SpecText(c, "email", NULL);
		char	   *role = SpecText(c, "role", NULL);

		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		if (name)
			appendStringInfoString(&buf, name);
		if (email)
			appendStringInfo(&buf, "%s<%s>", name ? " " : "", email);
		if (role)
			appendStringInfo(&buf, " (%s)", role);
	}
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * K8sNamespace
 *		The tenant's namespace: labels for selection (tenant, tier,
 *		environment, manager) and Pod Security admission, the display name,
 *		the first technical contact's e-mail, every contact, the billing
 *		contact and the cost center as annotations.
 */
char *
K8sNamespace(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	const char *level = pod_security_level(m);
	char	   *contact = technical_contact(spec);
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "apiVersion", "v1");
	JwString(&w, "kind", "Namespace");
	JwObjectStart(&w, "metadata");
	JwString(&w, "name", m->namespace);
	JwObjectStart(&w, "labels");
	JwString(&w, "app.kubernetes.io/managed-by", "tenancy");
	JwString(&w, "tenancy.io/tenant", m->name);
	JwString(&w, "tenancy.io/tier", m->tier);
	JwString(&w, "tenancy.io/environment", m->environment);
	JwString(&w, "pod-security.kubernetes.io/enforce", level);
	JwString(&w, "pod-security.kubernetes.io/enforce-version", "latest");
	JwString(&w, "pod-security.kubernetes.io/audit", "restricted");
	JwString(&w, "pod-security.kubernetes.io/warn", "restricted");
	JwObjectEnd(&w);
	JwObjectStart(&w, "annotations");
	JwString(&w, "tenancy.io/display-name", m->display_name);
	if (contact != NULL)
		JwString(&w, "tenancy.io/technical-contact", contact);
	if (K8sContacts(spec, "technical") != NULL)
		JwString(&w, "tenancy.io/technical-contacts", K8sContacts(spec, "technical"));
	if (K8sContacts(spec, "business") != NULL)
		JwString(&w, "tenancy.io/business-contacts", K8sContacts(spec, "business"));
	/* for cost allocation tools and whoever reads the namespace */
	if (SpecText(spec, "billing.billing_contact", NULL) != NULL)
		JwString(&w, "tenancy.io/billing-contact", SpecText(spec, "billing.billing_contact", NULL));
	if (SpecText(spec, "billing.cost_center", NULL) != NULL)
		JwString(&w, "tenancy.io/cost-center", SpecText(spec, "billing.cost_center", NULL));
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * K8sServiceAccount
 *		The identity of the Airflow workers' pods.  Its token is not mounted
 *		by default: the chart mounts it where the KubernetesExecutor needs it.
 */
char *
K8sServiceAccount(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "v1", "ServiceAccount", PLATFORM_SERVICE_ACCOUNT);
	JwBool(&w, "automountServiceAccountToken", false);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * K8sRoleBinding
 *		The tenant workload ClusterRole (tenancy.tenant_cluster_role, which
 *		the Helm chart installs), granted to the workers' service account in
 *		the tenant's namespace only.  The worker does not create a Role of
 *		its own: Kubernetes lets a subject write a Role only with
 *		permissions it holds itself, which would give the worker pods/exec
 *		and the rest cluster-wide; "bind" on this one ClusterRole is all it
 *		needs instead (README "Platform side").
 */
char *
K8sRoleBinding(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "rbac.authorization.k8s.io/v1", "RoleBinding",
				   PLATFORM_ROLE_BINDING);
	JwArrayStart(&w, "subjects");
	JwObjectStart(&w, NULL);
	JwString(&w, "kind", "ServiceAccount");
	JwString(&w, "name", PLATFORM_SERVICE_ACCOUNT);
	JwString(&w, "namespace", m->namespace);
	JwObjectEnd(&w);
	JwArrayEnd(&w);
	JwObjectStart(&w, "roleRef");
	JwString(&w, "apiGroup", "rbac.authorization.k8s.io");
	JwString(&w, "kind", "ClusterRole");
	JwString(&w, "name", tenancy_tenant_cluster_role ? tenancy_tenant_cluster_role
			 : "tenancy-tenant-workload");
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * K8sResourceQuota
 *		resources.kubernetes.quotas as a ResourceQuota: requests.<r> and
 *		limits.<r> as given, requests.pods as "pods".  limits.storage has no
 *		quota resource in Kubernetes: it bounds one claim (K8sLimitRange).
 */
char *
K8sResourceQuota(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	static const char *const sections[] = {"requests", "limits"};
	JsonWriter	w;

	K8sObjectStart(&w, m, "v1", "ResourceQuota", PLATFORM_QUOTA);
	JwObjectStart(&w, "spec");
	JwObjectStart(&w, "hard");
	for (int i = 0; i < (int) lengthof(sections); i++)
	{
		char	   *path = psprintf("resources.kubernetes.quotas.%s", sections[i]);
		ListCell   *lc;

		foreach(lc, SpecObjectKeys(spec, path))
		{
			char	   *key = lfirst(lc);
			char	   *value = SpecText(spec, psprintf("%s.%s", path, key), NULL);

			if (value == NULL)
				continue;
			if (strcmp(key, "pods") == 0)
				JwString(&w, "pods", value);
			else if (strcmp(key, "storage") == 0 && i == 1)
				continue;
			else
				JwString(&w, psprintf("%s.%s", sections[i], key), value);
		}
	}
	JwString(&w, "persistentvolumeclaims", "10");
	JwString(&w, "services", "10");
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * capped
 *		dflt, or the quota value at path when that is smaller (so that the
 *		limit range never allows more than the quota).
 */
static const char *
capped(Jsonb *spec, const char *path, const char *dflt)
{
	char	   *quota = SpecText(spec, path, NULL);
	double		quota_value;
	double		dflt_value;

	if (quota != NULL && SpecParseQuantity(quota, &quota_value) &&
		SpecParseQuantity(dflt, &dflt_value) && quota_value < dflt_value)
		return quota;
	return dflt;
}

/*
 * K8sLimitRange
 *		Container defaults and maxima (so that pods without resources still
 *		count against the quota), and the size bounds of one PVC: 1Gi up
 *		to quotas.limits.storage (Kubernetes has no quota of that name: the
 *		largest single claim is what it can mean), else up to the
 *		namespace's storage quota (quotas.requests.storage, which caps the
 *		claims' total either way), else up to 100Gi or the backup volume,
 *		whichever is larger.
 */
char *
K8sLimitRange(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	const char *max_cpu = capped(spec, "resources.kubernetes.quotas.limits.cpu", "4");
	const char *max_memory = capped(spec, "resources.kubernetes.quotas.limits.memory", "8Gi");
	const char *max_storage = SpecText(spec, "resources.kubernetes.quotas.limits.storage",
									   SpecText(spec, "resources.kubernetes.quotas.requests.storage",
												NULL));
	double		backup_bytes;
	JsonWriter	w;

	/*
	 * No storage quota: claims up to 100Gi, or up to the backup volume when
	 * that is larger (tenancy must not refuse its own claim).
	 */
	if (max_storage == NULL)
		max_storage = m->backup_enabled &&
			SpecParseQuantity(BackupVolumeSize(m), &backup_bytes) &&
			backup_bytes > 100.0 * 1024 * 1024 * 1024
			? BackupVolumeSize(m) : "100Gi";

	K8sObjectStart(&w, m, "v1", "LimitRange", PLATFORM_LIMIT_RANGE);
	JwObjectStart(&w, "spec");
	JwArrayStart(&w, "limits");

	JwObjectStart(&w, NULL);
	JwString(&w, "type", "Container");
	JwObjectStart(&w, "default");
	JwString(&w, "cpu", capped(spec, "resources.kubernetes.quotas.limits.cpu", "1"));
	JwString(&w, "memory", capped(spec, "resources.kubernetes.quotas.limits.memory", "1Gi"));
	JwObjectEnd(&w);
	JwObjectStart(&w, "defaultRequest");
	JwString(&w, "cpu", "100m");
	JwString(&w, "memory", "128Mi");
	JwObjectEnd(&w);
	JwObjectStart(&w, "max");
	JwString(&w, "cpu", max_cpu);
	JwString(&w, "memory", max_memory);
	JwObjectEnd(&w);
	JwObjectEnd(&w);

	JwObjectStart(&w, NULL);
	JwString(&w, "type", "PersistentVolumeClaim");
	JwObjectStart(&w, "min");
	JwString(&w, "storage", "1Gi");
	JwObjectEnd(&w);
	JwObjectStart(&w, "max");
	JwString(&w, "storage", max_storage);
	JwObjectEnd(&w);
	JwObjectEnd(&w);

	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * K8sDefaultDenyPolicy
 *		Deny all ingress and egress of every pod in the namespace; the
 *		isolation policy then allows what is needed.
 */
char *
K8sDefaultDenyPolicy(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "networking.k8s.io/v1", "NetworkPolicy", PLATFORM_POLICY_DENY);
	JwObjectStart(&w, "spec");
	JwObjectStart(&w, "podSelector");
	JwObjectEnd(&w);
	JwArrayStart(&w, "policyTypes");
	JwString(&w, NULL, "Ingress");
	JwString(&w, NULL, "Egress");
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * same_namespace_peer
 *		A peer selecting every pod of the policy's own namespace.
 */
static void
same_namespace_peer(JsonWriter *w)
{
	JwObjectStart(w, NULL);
	JwObjectStart(w, "podSelector");
	JwObjectEnd(w);
	JwObjectEnd(w);
}

/*
 * pods_in_namespace_peer
 *		One peer: pods labelled key=value in the namespace named ns (both
 *		selectors in one peer, so they are AND-ed).
 */
static void
pods_in_namespace_peer(JsonWriter *w, const char *ns, const char *key,
					   const char *value)
{
	JwObjectStart(w, NULL);
	JwObjectStart(w, "namespaceSelector");
	JwObjectStart(w, "matchLabels");
	JwString(w, "kubernetes.io/metadata.name", ns);
	JwObjectEnd(w);
	JwObjectEnd(w);
	JwObjectStart(w, "podSelector");
	JwObjectStart(w, "matchLabels");
	JwString(w, key, value);
	JwObjectEnd(w);
	JwObjectEnd(w);
	JwObjectEnd(w);
}

/*
 * ports
 *		"ports": one entry per protocol, all on port.
 */
static void
ports(JsonWriter *w, int port, const char *const *protocols)
{
	JwArrayStart(w, "ports");
	for (; *protocols; protocols++)
	{
		JwObjectStart(w, NULL);
		JwString(w, "protocol", *protocols);
		JwInt(w, "port", port);
		JwObjectEnd(w);
	}
	JwArrayEnd(w);
}

/*
 * ip_block_rule
 *		An egress rule: to the addresses of cidr, less those of except
 *		(NULL-terminated; NULL: none), on port over the protocols.
 */
static void
ip_block_rule(JsonWriter *w, const char *cidr, const char *const *except,
			  int port, const char *const *protocols)
{
	JwObjectStart(w, NULL);
	JwArrayStart(w, "to");
	JwObjectStart(w, NULL);
	JwObjectStart(w, "ipBlock");
	JwString(w, "cidr", cidr);
	if (except != NULL)
	{
		JwArrayStart(w, "except");
		for (; *except; except++)
			JwString(w, NULL, *except);
		JwArrayEnd(w);
	}
	JwObjectEnd(w);
	JwObjectEnd(w);
	JwArrayEnd(w);
	ports(w, port, protocols);
	JwObjectEnd(w);
}

/*
 * on_this_server
 *		Whether the tenant's data lives on this PostgreSQL server without the
 *		spec naming a host: locally, or in another database of this server.
 */
static bool
on_this_server(const TenantModel *m)
{
	return m->local ||
		(m->remote_host[0] == '\0' && (m->server == NULL || m->server[0] == '\0'));
}

/*
 * registered_server_address
 *		The TCP host and port of registered server's connection string (its
 *		first host, host before hostaddr), read from tenancy.servers; false
 *		when it is not registered or is reached over a Unix socket.
 */
static bool
registered_server_address(const char *server, char **host, int *port)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(server)};
	char	   *conninfo = NULL;
	PQconninfoOption *options;
	const char *h = NULL;
	const char *addr = NULL;
	const char *p = NULL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT conninfo FROM tenancy.servers WHERE name OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			conninfo = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	if (conninfo == NULL || (options = PQconninfoParse(conninfo, NULL)) == NULL)
		return false;
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			h = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addr = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			p = o->val;
	}
	if (h == NULL)
		h = addr;
	if (h != NULL && h[0] != '/' && h[0] != '@')
	{
		*host = pnstrdup(h, strcspn(h, ","));
		*port = p ? atoi(pnstrdup(p, strcspn(p, ","))) : 5432;
		if (*port <= 0 || *port > 65535)
			*port = 5432;
	}
	else
		h = NULL;
	PQconninfoFree(options);
	return h != NULL;
}

/*
 * K8sDatabaseEndpoint
 *		The host and port the tenant's pods (Airflow, the DAGs' tasks, the
 *		backup) reach its database at: for a registered warehouse server,
 *		the host and port of its connection string (warehouse.database.host
 *		may be only the server's name); else the spec's
 *		warehouse.database.host and port; for data on this server,
 *		tenancy.database_host and this server's port, the host NULL while
 *		that setting is empty ("localhost" in a pod is the pod itself:
 *		K8sCheckDatabaseHost refuses to send such credentials).  A server
 *		registered over a Unix socket cannot be reached from a pod: its
 *		tenants keep the spec's host, or "localhost" (README "Placement").
 */
void
K8sDatabaseEndpoint(const TenantModel *m, char **host, int *port)
{
	if (!on_this_server(m))
	{
		if (m->server != NULL && m->server[0] != '\0' &&
			registered_server_address(m->server, host, port))
			return;
		*host = pstrdup(m->remote_host[0] ? m->remote_host : "localhost");
		*port = m->remote_port;
		return;
	}
	*host = tenancy_database_host && tenancy_database_host[0]
		? pstrdup(tenancy_database_host) : NULL;
	*port = PostPortNumber;
}

/*
 * K8sCheckDatabaseHost
 *		Refuse (55000) to record credentials for pods of a tenant whose data
 *		is on this server while tenancy.database_host is empty: provision
 *		and apply fail before anything is created.  Dry runs (tenancy.plan)
 *		and the audit show the host as null instead.
 */
void
K8sCheckDatabaseHost(const TenantModel *m)
{
	if (on_this_server(m) &&
		(tenancy_database_host == NULL || tenancy_database_host[0] == '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenancy.database_host is not set"),
				 errdetail("Tenant \"%s\" keeps its data on this PostgreSQL server, and its pods (Airflow, the DAGs' tasks, the backups) need a host name that reaches this server from inside the cluster; localhost in a pod is the pod itself.",
						   m->name),
				 errhint("As a superuser, set tenancy.database_host to the server's in-cluster name (e.g. ALTER SYSTEM SET tenancy.database_host = 'tenancy-db.tenancy.svc'; SELECT pg_reload_conf();), or set warehouse.database.host in the spec.")));
}

/*
 * host_cidr
 *		Where a host the pods reach is: its address as a /32 (or /128) when
 *		it is an IP address, else (a name, or not known) tenancy.warehouse_cidr.
 */
static char *
host_cidr(const char *host)
{
	unsigned char addr[16];

	if (host == NULL)
		return pstrdup(tenancy_warehouse_cidr ? tenancy_warehouse_cidr : "10.0.0.0/8");
	if (inet_pton(AF_INET, host, addr) == 1)
		return psprintf("%s/32", host);
	if (inet_pton(AF_INET6, host, addr) == 1)
		return psprintf("%s/128", host);
	return pstrdup(tenancy_warehouse_cidr ? tenancy_warehouse_cidr : "10.0.0.0/8");
}

/*
 * lineage_port
 *		The port of tenancy.openlineage_url (http://host[:port]/...,
 *		https://...), for a tenant with features.data_lineage; 0 when the
 *		tenant sends no lineage over HTTP or the URL has no port to read.
 *		*host receives the URL's host.
 */
static int
lineage_port(const TenantModel *m, char **host)
{
	const char *url = tenancy_openlineage_url;
	const char *rest;
	size_t		len;
	int			port;

	if (!SpecFlag(PlatformSpec(m), "features.data_lineage", false) ||
		url == NULL || url[0] == '\0')
		return 0;
	if (strncmp(url, "http://", 7) == 0)
	{
		rest = url + 7;
		port = 80;
	}
	else if (strncmp(url, "https://", 8) == 0)
	{
		rest = url + 8;
		port = 443;
	}
	else
		return 0;
	if (rest[0] == '[')
	{
		const char *close = strchr(rest, ']');

		if (close == NULL)
			return 0;
		*host = pnstrdup(rest + 1, close - rest - 1);
		rest = close + 1;
	}
	else
	{
		len = strcspn(rest, ":/?#");
		*host = pnstrdup(rest, len);
		rest += len;
	}
	if (rest[0] == ':')
	{
		char	   *end;
		long		p = strtol(rest + 1, &end, 10);

		if (end == rest + 1 || p < 1 || p > 65535 || (*end != '\0' && *end != '/' && *end != '?' && *end != '#'))
			return 0;
		port = (int) p;
	}
	return port;
}

/*
 * K8sIsolationPolicy
 *		What the tenant's pods may do under the default deny: talk to each
 *		other, be reached by the ingress controller on 8080 and by Prometheus
 *		(pods of tenancy.monitoring_namespace) on the statsd exporter's
 *		scrape port, resolve names (kube-dns, UDP and TCP 53), reach their
 *		database on its port (K8sDatabaseEndpoint), reach HTTPS (443)
 *		anywhere except private ranges, and, with features.data_lineage and
 *		tenancy.openlineage_url, reach the lineage endpoint's port (at its
 *		address when the URL gives one, anywhere when it gives a name: a
 *		network policy cannot name hosts; a name on 443 only through the
 *		public HTTPS rule).
 */
char *
K8sIsolationPolicy(const TenantModel *m)
{
	static const char *const tcp[] = {"TCP", NULL};
	static const char *const dns[] = {"UDP", "TCP", NULL};
	static const char *const private_ranges[] = {"10.0.0.0/8", "172.16.0.0/12",
	"192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", NULL};
	char	   *db_host;
	int			db_port;
	char	   *lineage_host = NULL;
	int			lineage = lineage_port(m, &lineage_host);
	JsonWriter	w;

	K8sDatabaseEndpoint(m, &db_host, &db_port);
	K8sObjectStart(&w, m, "networking.k8s.io/v1", "NetworkPolicy", PLATFORM_POLICY_ALLOW);
	JwObjectStart(&w, "spec");
	JwObjectStart(&w, "podSelector");
	JwObjectEnd(&w);
	JwArrayStart(&w, "policyTypes");
	JwString(&w, NULL, "Ingress");
	JwString(&w, NULL, "Egress");
	JwArrayEnd(&w);

	JwArrayStart(&w, "ingress");
	JwObjectStart(&w, NULL);
	JwArrayStart(&w, "from");
	same_namespace_peer(&w);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwObjectStart(&w, NULL);
	JwArrayStart(&w, "from");
	pods_in_namespace_peer(&w, tenancy_ingress_namespace ? tenancy_ingress_namespace : "ingress-nginx",
						   "app.kubernetes.io/name", "ingress-nginx");
	JwArrayEnd(&w);
	ports(&w, 8080, tcp);
	JwObjectEnd(&w);
	JwObjectStart(&w, NULL);
	JwArrayStart(&w, "from");
	pods_in_namespace_peer(&w, tenancy_monitoring_namespace ? tenancy_monitoring_namespace : "monitoring",
						   "app.kubernetes.io/name", "prometheus");
	JwArrayEnd(&w);
	ports(&w, AIRFLOW_STATSD_SCRAPE_PORT, tcp);
	JwObjectEnd(&w);
	JwArrayEnd(&w);

	JwArrayStart(&w, "egress");
	JwObjectStart(&w, NULL);
	JwArrayStart(&w, "to");
	same_namespace_peer(&w);
	JwArrayEnd(&w);
	JwObjectEnd(&w);

	JwObjectStart(&w, NULL);
	JwArrayStart(&w, "to");
	pods_in_namespace_peer(&w, "kube-system", "k8s-app", "kube-dns");
	JwArrayEnd(&w);
	ports(&w, 53, dns);
	JwObjectEnd(&w);

	ip_block_rule(&w, host_cidr(db_host), NULL, db_port, tcp);
	ip_block_rule(&w, "0.0.0.0/0", private_ranges, 443, tcp);

	if (lineage > 0)
	{
		unsigned char addr[16];
		bool		is_ip = inet_pton(AF_INET, lineage_host, addr) == 1 ||
		inet_pton(AF_INET6, lineage_host, addr) == 1;

		/*
		 * The OpenLineage endpoint: its address when the URL gives one; a
		 * name, whose address a policy cannot know, is reached on its port at
		 * public addresses only, like HTTPS above, so that the port is not
		 * opened to the cluster's own services or the cloud's metadata
		 * endpoint (an endpoint inside the cluster needs a URL with its
		 * address).  A name on 443 is covered by the HTTPS rule.
		 */
		if (is_ip)
			ip_block_rule(&w, host_cidr(lineage_host), NULL, lineage, tcp);
		else if (lineage != 443)
			ip_block_rule(&w, "0.0.0.0/0", private_ranges, lineage, tcp);
	}
	JwArrayEnd(&w);

	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}
