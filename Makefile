# Makefile for the tenancy extension (PGXS)
#
# Quick start:  make demo   (end to end on a throwaway cluster)
#               make test   (every suite; installs what is missing)

# The default goal; PGXS (included at the end) says what it builds.
all:

EXTENSION = tenancy
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = tenancy
# One folder per layer; a layer calls only the layers listed above it here
# never the other way round (doc/architecture.md).  Headers: src/include/.
OBJS = \
	src/tenancy.o \
	src/guc.o \
	src/spec/spec_yaml.o \
	src/spec/spec_parse.o \
	src/spec/spec_quantity.o \
	src/spec/spec_cron.o \
	src/spec/spec_check.o \
	src/spec/spec_validate.o \
	src/spec/spec_tenant.o \
	src/spec/spec_resources.o \
	src/spec/spec_warehouse.o \
	src/spec/spec_normalize.o \
	src/spec/spec_path.o \
	src/spec/spec_capacity.o \
	src/plan/plan.o \
	src/plan/plan_sql.o \
	src/plan/plan_ledger.o \
	src/plan/plan_platform.o \
	src/platform/platform_json.o \
	src/platform/k8s_objects.o \
	src/platform/airflow_release.o \
	src/platform/dag_render.o \
	src/platform/monitoring.o \
	src/platform/backup.o \
	src/platform/handler_http.o \
	src/platform/owner_record.o \
	src/platform/handler_owned.o \
	src/platform/handler_apply.o \
	src/platform/handler_credentials.o \
	src/platform/handler_helm.o \
	src/platform/handler_validate.o \
	src/exec/spi_util.o \
	src/exec/sql_exec.o \
	src/exec/role_password.o \
	src/exec/password_slots.o \
	src/exec/scram_secret.o \
	src/exec/endpoint.o \
	src/exec/http.o \
	src/exec/step_outcome.o \
	src/exec/step_task.o \
	src/exec/step_exec.o \
	src/placement/servers.o \
	src/placement/remote.o \
	src/worker/worker_xact_util.o \
	src/worker/journal.o \
	src/worker/journal_write.o \
	src/worker/worker_wake.o \
	src/worker/password_helper.o \
	src/worker/worker.o \
	src/maintenance/audit_run.o \
	src/maintenance/audit.o \
	src/maintenance/audit_acl.o \
	src/maintenance/audit_setup.o \
	src/maintenance/audit_remote.o \
	src/maintenance/metering.o \
	src/maintenance/maintenance_record.o \
	src/maintenance/handler_audit.o \
	src/commands/argument_util.o \
	src/commands/provision.o \
	src/commands/rls.o \
	src/commands/credentials.o \
	src/commands/setup.o \
	src/commands/tenant_guard.o \
	src/commands/hooks.o

# The install script of the current version is assembled from one file per
# concern in sql/install/, in file-name order, so that SQL stays as modular as
# the C sources.  Released install scripts (sql/tenancy--X.Y.Z.sql) are kept
# as they shipped and never edited; upgrade scripts (sql/tenancy--A--B.sql)
# are written by hand, one per release, and must reach the same catalog as a
# fresh install of B (test/t/050_upgrade.pl compares them).
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress suites, in order; run by test/run-tests.sh (make test) on a
# temporary instance with tenancy and pg_cron preloaded.
REGRESS = \
	catalog \
	tenant_provision \
	tenant_hostile \
	tenant_isolation \
	tenant_neighbours \
	tenant_maintain \
	tenant_apply \
	tenant_kept_data \
	spec_parse \
	spec_validate \
	spec_normalize \
	spec_keys \
	maint_audit \
	maint_usage \
	servers \
	dba_day2 \
	version_roles
REGRESS_OPTS = --temp-config=test/regress.conf --temp-instance=tmp_check
ISOLATION = \
	audit_deadlock \
	namespace_race \
	tenant_budget \
	tenant_concurrency \
	tenant_deprovision_lock \
	tenant_locks
ISOLATION_OPTS = --temp-config=test/regress.conf

PG_CONFIG ?= pg_config
PKG_CONFIG ?= pkg-config
EXTERNAL_LIBS = libcurl jansson yaml-0.1 libcrypto

# The server headers are system headers to us: -Wextra stays meaningful for
# our own code without tripping over unused parameters in inline functions.
PG_CPPFLAGS = -I$(libpq_srcdir) -Isrc/include \
	-isystem $(includedir_server) -isystem $(includedir_internal) \
	$(shell $(PKG_CONFIG) --cflags $(EXTERNAL_LIBS) 2>/dev/null) \
	-DTENANCY_VERSION='"$(EXTVERSION)"'
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = $(shell $(PKG_CONFIG) --libs $(EXTERNAL_LIBS) 2>/dev/null)
EXTRA_CLEAN = $(DATA_built) test/fuzz/fuzz_spec_yaml

# PGXS knows nothing of our headers: rebuild every object when one changes
$(OBJS): $(wildcard src/include/*.h)

$(DATA_built): $(INSTALL_PARTS) $(EXTENSION).control
	cat $(INSTALL_PARTS) > $@

# Targets that must work on a fresh machine, before the server headers that
# PGXS needs are installed: the scripts install what is missing first.
.PHONY: test demo bench fuzz print-tests indent
test:
	test/run-tests.sh
demo:
	test/demo.sh
bench:
	test/bench/run.sh
fuzz:
	test/fuzz/run.sh $(FUZZ_SECONDS)
indent:
	test/tools/indent.sh
print-tests:
	@echo "REGRESS=$(REGRESS)"
	@echo "ISOLATION=$(ISOLATION)"

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL server headers are missing: run 'make test' or 'make demo', or install postgresql-server-dev-15" >&2
	@exit 1
endif
