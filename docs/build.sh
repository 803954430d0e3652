#!/usr/bin/env bash
# Builds the API reference of every language from the code into BUILD_DIR/docs, and fails
# on any warning: C (Doxygen over proglog.h: every function, type, value and macro must be
# documented), Python (pdoc over the package installed in a venv under BUILD_DIR), Go (`go doc
# -all`; the package's Example functions run in its tests) and Java (Javadoc with doclint).
# Needs libproglog built in BUILD_DIR (`make docs` builds it first).
# Usage: docs/build.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
out="$build_dir/docs"
logs="$build_dir/docs-logs"
rm -rf "$out" "$logs"
mkdir -p "$out" "$logs"

# Runs one step quietly in a subshell (its own cwd, and errexit in force: not under `if` or
# `||`, which would switch it off); on failure shows its output. Prints how long it took.
step() {
  local name=$1 start=$SECONDS status
  shift
  set +e
  ("$@") >"$logs/$name.log" 2>&1
  status=$?
  set -e
  if ((status != 0)); then
    cat "$logs/$name.log" >&2
    echo "docs: the $name reference failed (log: $logs/$name.log)" >&2
    exit 1
  fi
  echo "docs: $name in $((SECONDS - start)) s: $out/$name"
}

c_docs() {
  local header="$repo/capi/include/proglog/proglog.h" part version=()
  for part in MAJOR MINOR PATCH; do
    version+=("$(sed -n "s/^#define PROGLOG_VERSION_$part \([0-9]*\).*/\1/p" "$header")")
  done
  cd "$repo"
  PROGLOG_DOCS_DIR="$out" PROGLOG_VERSION="$(IFS=.; echo "${version[*]}")" doxygen docs/Doxyfile
}

python_docs() {
  # The venv and CMake tree of the Python tests (bindings/python/run-tests.sh). make test
  # has just installed the package there (PROGLOG_DOCS_PACKAGE_INSTALLED=1); otherwise it is
  # installed here, so the reference always describes the source as it is.
  local venv="$build_dir/python-venv"
  if [[ ${PROGLOG_DOCS_PACKAGE_INSTALLED:-0} != 1 ]] || ! "$venv/bin/python" -c "import proglog"; then
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q "$repo" \
      --config-settings=build-dir="$build_dir/python-wheel"
  fi
  "$venv/bin/python" -c "import pdoc" 2>/dev/null || "$venv/bin/python" -m pip install -q "pdoc==16.*"
  cd "$build_dir"  # import the installed package, never the source tree
  # -W error: pdoc reports problems (an annotation it cannot resolve, ...) as warnings.
  "$venv/bin/python" -W error -m pdoc -o "$out/python" proglog proglog.aio
}

go_docs() {
  mkdir -p "$out/go"
  cd "$repo/bindings/go"
  go doc -all . >"$out/go/proglog.txt"
}

java_docs() {
  cd "$repo/bindings/java"
  # Offline once the local repository has what this pom needs, as run-tests.sh does.
  local m2_repo="$HOME/.m2/repository"
  local stamp="$m2_repo/.proglog-java-docs-$(sha256sum pom.xml | cut -c1-16)"
  local mvn_args=(-q -B -Dproglog.build.dir="$build_dir")
  [[ -e $stamp ]] && mvn_args+=(-o)
  rm -rf target/reports/apidocs
  mvn "${mvn_args[@]}" javadoc:javadoc
  mkdir -p "$m2_repo" && touch "$stamp"
  cp -r target/reports/apidocs "$out/java"
}

step c c_docs
step python python_docs
step go go_docs
step java java_docs

cat >"$out/index.html" <<'HTML'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>proglog API reference</title></head>
<body>
<h1>proglog API reference</h1>
<ul>
<li><a href="c/proglog_8h.html">C</a>: <code>proglog/proglog.h</code></li>
<li><a href="python/proglog.html">Python</a>: the <code>proglog</code> package</li>
<li><a href="go/proglog.txt">Go</a>: <code>go doc -all</code> of the module in bindings/go</li>
<li><a href="java/index.html">Java</a>: package <code>dev.proglog</code></li>
</ul>
</body></html>
HTML
echo "docs: $out/index.html"
