#!/usr/bin/env bash
# test/tools/indent.sh [--check] [FILE...]: the C sources in PostgreSQL's
# layout, with pg_bsd_indent (Debian package pg-bsd-indent, the indenter
# pgindent drives) and pgindent's options.
#
#   make indent                    reformat src/ in place
#   test/tools/indent.sh --check   print the diff of every file that is not
#                                  formatted, exit 1 if any (make test runs it)
#
# pg_bsd_indent must know every type name to lay out declarations.  pgindent
# reads them from a list the build farm extracts from debug symbols; this
# script does the same with the objects of src/ (built with -g, as PGXS
# does), adds the typedefs src/ declares, and the names in
# test/tools/typedefs-extra.list.
#
# Of pgindent's processing around the indenter, only the rule that keeps a
# function's return type as "char *" on its own line is done here; the
# others handle constructs src/ does not use.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
indent=$(command -v pg_bsd_indent) || {
	echo "pg_bsd_indent is not installed (test/install-deps.sh installs pg-bsd-indent)" >&2
	exit 2
}

work=$(mktemp -d /tmp/tenancy-indent.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(cd "$top" && find src -name '*.[ch]' | sort)
fi

# the type names: every typedef in the objects' debug information (what
# the build farm does for pgindent), after building them if needed
if ! compgen -G "$top/src/*/*.o" >/dev/null; then
	make -C "$top" -s >/dev/null || { echo "make failed" >&2; exit 2; }
fi
{
	objdump --dwarf=info "$top"/src/*.o "$top"/src/*/*.o 2>/dev/null |
		awk '/DW_TAG_typedef/ { t = 1; next } t && /DW_AT_name/ { print $NF; t = 0 }'
	# src/'s own, also those no object uses (yet): "} Name;" at column 0
	grep -rhoE '^}[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;' --include='*.[ch]' "$top/src" |
		sed -E 's/^}[[:space:]]*//; s/;$//'
	grep -v '^#' "$top/test/tools/typedefs-extra.list"
} | sort -u >"$work/typedefs.list"

# pgindent's options
opts=(-bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0 -di12 -nfc1 -i4 -l79
	-lp -lpl -nip -npro -sac -tpg -ts4 "-U$work/typedefs.list")

unformatted=0
for f in "${files[@]}"; do
	out="$work/out.c"
	if ! "$indent" "${opts[@]}" "$top/$f" "$out" 2>"$work/err"; then
		echo "pg_bsd_indent failed on $f:" >&2
		cat "$work/err" >&2
		unformatted=$((unformatted + 1))
		continue
	fi
	# as pgindent does after the indenter: a function's return type on its
	# own line keeps "char *", not the declaration column's "char\t   *"
	perl -pi -e 's/^((?:static |extern |const )*[A-Za-z_]\w*(?: [A-Za-z_]\w*)*)[ \t]+(\*+)$/$1 $2/' "$out"
	if ! cmp -s "$top/$f" "$out"; then
		if [ "$check" = 1 ]; then
			diff -u "$top/$f" "$out" | sed "1,2s|$top/||; 2s|$out|$f (formatted)|"
			unformatted=$((unformatted + 1))
		else
			cp "$out" "$top/$f"
			echo "formatted $f"
		fi
	fi
done
if [ "$check" = 1 ]; then
	if [ "$unformatted" -gt 0 ]; then
		echo "not ok - $unformatted of ${#files[@]} files are not formatted (make indent)"
		exit 1
	fi
	echo "ok - ${#files[@]} files formatted as pgindent would"
fi
