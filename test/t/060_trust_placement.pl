# 060_trust_placement.pl: issue 17, finding 1 (superuser by placement).
# A non-superuser who owns a database must not get the worker, which
# connects as the bootstrap superuser, to run its code:
#   - a database tenancy did not create is refused for a new tenant, at
#     provision on this server (55000) and by the worker's create database
#     step on a registered server; nothing is run in it, and its grants
#     are not changed;
#   - a database a superuser allowed (register_server existing_databases)
#     whose owner set search_path = evil, pg_catalog with an evil "="
#     operator: the compensation's DO blocks run pinned and qualified, so
#     the operator never runs; the database's grants are left alone;
#   - a planted tenancy_remote.applied_steps with a trigger is refused
#     (owner, trigger), before anything is inserted into it.
# Afterwards the database owner is still not a superuser.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use TenancyTest;

my $node = TenancyTest::new_node('trust_placement', undef, 'tenancy.max_attempts = 20',
	"tenancy.connect_timeout = '20s'", "tenancy.request_timeout = '30s'");
my $super = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('postgres', q{
	CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin;
	CREATE ROLE appowner LOGIN CREATEDB;
});

# what appowner can do as owner of its databases (no superuser needed)
for my $db (qw(appdb shareddb ledgerdb))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db OWNER appowner");
	$node->safe_psql($db, q{
		SET ROLE appowner;
		REVOKE CREATE ON SCHEMA public FROM PUBLIC;
		CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql AS $f$
		BEGIN
			BEGIN EXECUTE 'ALTER ROLE appowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
			RETURN NEW;
		END $f$;
	});
}
# appdb, ledgerdb: a planted step journal with a trigger that escalates
for my $db (qw(appdb ledgerdb))
{
	$node->safe_psql($db, q{
		SET ROLE appowner;
		CREATE SCHEMA tenancy_remote;
		CREATE TABLE tenancy_remote.applied_steps (step_key text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now());
		CREATE TRIGGER escalate BEFORE INSERT ON tenancy_remote.applied_steps
			FOR EACH ROW EXECUTE FUNCTION public.escalate();
	});
}
# shareddb: a search_path with an "=" of appowner's first, and a schema
# named like the tenant's first one, so that its provision fails and
# compensates
$node->safe_psql('shareddb', q{
	SET ROLE appowner;
	CREATE SCHEMA evil;
	CREATE FUNCTION evil.eq(name, name) RETURNS boolean LANGUAGE plpgsql AS $f$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE appowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
		RETURN pg_catalog.nameeq($1, $2);
	END $f$;
	CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.eq);
	CREATE FUNCTION evil.count() RETURNS bigint LANGUAGE plpgsql AS $f$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE appowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
		RETURN 0;
	END $f$;
	GRANT USAGE ON SCHEMA evil TO PUBLIC;
	ALTER DATABASE shareddb SET search_path = evil, pg_catalog;
	CREATE SCHEMA victim_bronze;
});

sub acl { return $node->safe_psql('postgres', "SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = '$_[0]'"); }
sub superuser { return $node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'appowner'"); }
my %acl_before = map { $_ => acl($_) } qw(appdb shareddb ledgerdb);

sub spec
{
	my ($tenant, $db, $host) = @_;
	my $h = defined $host ? qq(, "host": "$host") : '';
	return qq('{"tenant": {"name": "$tenant", "tier": "standard"}, "warehouse": {"database": {"name": "$db"$h}}, "resources": {}}');
}

# 1. this server, a database tenancy did not create: refused at provision
my ($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('planted', " . spec('planted', 'appdb') . "::jsonb)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: database "appdb" was not created by tenancy/,
	'this server: a database tenancy did not create is refused at provision (55000)');
like($err, qr/DETAIL:.*exists and is not one the worker created.*HINT:.*existing_databases/s,
	'the refusal says why and what a superuser can do');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.tenants"), '0', 'nothing recorded');

# 2. a registered server (this one, over the socket, as the superuser):
# the worker's create database step refuses appdb, runs nothing in it
my $conninfo = sprintf("host=%s port=%d user=%s dbname=postgres", $node->host, $node->port, $super);
$node->safe_psql('postgres', qq{
	SELECT tenancy.register_server('self', '$conninfo', existing_databases => ARRAY['shareddb', 'ledgerdb'])});
my $op = $node->safe_psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('planted', " . spec('planted', 'appdb', 'self') . "::jsonb)");
is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'registered server: the provision in appdb fails');
like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op AND action = 'create database'"),
	qr/database "appdb" exists and was not created by tenancy/, 'the create database step names the foreign database');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname LIKE '%planted%'"), '0',
	'nothing of the tenant was created');
is($node->safe_psql('appdb', 'SELECT count(*) FROM tenancy_remote.applied_steps'), '0',
	'nothing was inserted into the planted journal');

# 3. an allowed database whose owner set a hostile search_path: the
# provision fails on the schema appowner planted and compensates
$op = $node->safe_psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('victim', " . spec('victim', 'shareddb', 'self') . "::jsonb)");
is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'shareddb: the provision fails');
like($node->safe_psql('postgres', "SELECT string_agg(last_error, ' ') FROM tenancy.steps WHERE operation_id = $op"),
	qr/victim_bronze/, 'on the schema appowner planted');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.steps WHERE operation_id = $op AND action = 'create database'"),
	'0', 'an allowed existing database is not created');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname ~ 'victim'"), '0',
	'the compensation removed the roles it created (its DO blocks ran)');

# 4. an allowed database with a planted journal: refused before use
$op = $node->safe_psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('ledger', " . spec('ledger', 'ledgerdb', 'self') . "::jsonb)");
is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'ledgerdb: the provision fails');
like($node->safe_psql('postgres', "SELECT string_agg(last_error, ' ') FROM tenancy.steps WHERE operation_id = $op"),
	qr/refused: schema tenancy_remote is owned by role appowner/, 'the planted journal is refused, its owner named');
is($node->safe_psql('ledgerdb', 'SELECT count(*) FROM tenancy_remote.applied_steps'), '0',
	'nothing was inserted into it');

# 5. a session whose database sets role: refused (it would check as appowner)
$node->safe_psql('postgres', q{ALTER DATABASE ledgerdb SET role = 'appowner'});
$node->safe_psql('ledgerdb', q{RESET ROLE; DROP SCHEMA tenancy_remote CASCADE});
# a changed conninfo makes the worker reconnect (the setting applies at connect)
$node->safe_psql('postgres', qq{
	SELECT tenancy.register_server('self', '$conninfo application_name=again', existing_databases => ARRAY['shareddb', 'ledgerdb'])});
is($node->safe_psql('ledgerdb', 'SELECT current_user'), 'appowner', 'ledgerdb makes every session run as appowner');
sleep(1.2);    # the worker reads the registry again after a second
$op = $node->safe_psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('ledger2', " . spec('ledger2', 'ledgerdb', 'self') . "::jsonb)");
is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'ledgerdb with SET role: the provision fails');
like($node->safe_psql('postgres', "SELECT string_agg(last_error, ' ') FROM tenancy.steps WHERE operation_id = $op"),
	qr/the session runs as role appowner/, 'a session whose current role is not the connecting role is refused');
$node->safe_psql('postgres', q{ALTER DATABASE ledgerdb RESET role});

is(superuser(), 'f', 'appowner is still not a superuser');
is(acl($_), $acl_before{$_}, "database-level grants of $_ unchanged") for qw(appdb shareddb ledgerdb);

# 6. a database tenancy creates is recorded with its OID and locked down
$op = $node->safe_psql('postgres',
	"SET ROLE admin1; SELECT tenancy.provision('fresh', " . spec('fresh', 'freshdb', 'self') . "::jsonb)");
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'a new database: provisioned');
is($node->safe_psql('postgres', q{SELECT d.server || '/' || d.name FROM tenancy.databases d
	JOIN pg_database p ON p.oid = d.database_oid AND p.datname = d.name}), 'self/freshdb',
	'tenancy.databases records it with its OID');
unlike(acl('freshdb'), qr/(^|[{,])=/, 'PUBLIC has no grant on the database tenancy created');

done_testing();
