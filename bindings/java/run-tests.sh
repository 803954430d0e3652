#!/usr/bin/env bash
# Builds the Java binding against libproglog from BUILD_DIR (SWIG, the JNI library, the jar)
# and runs its JUnit tests, then the README example against the jar (mvn verify). Maven runs
# offline once its local repository has what this pom needs (a stamp of the pom's hash in
# ~/.m2 says so), online the first time.
# Usage: bindings/java/run-tests.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
[[ -x "$build_dir/server/proglog" ]] || { echo "no $build_dir/server/proglog: build it first" >&2; exit 1; }

cd "$repo/bindings/java"
m2_repo="$HOME/.m2/repository"
stamp="$m2_repo/.proglog-java-$(sha256sum pom.xml | cut -c1-16)"
mvn_args=(-q -B -Dproglog.build.dir="$build_dir")
[[ -e $stamp ]] && mvn_args+=(-o)

rm -rf target/surefire-reports target/failsafe-reports
mvn "${mvn_args[@]}" verify
mkdir -p "$m2_repo" && touch "$stamp"

# One summary line for the suites Maven ran quietly.
python3 - target/surefire-reports target/failsafe-reports <<'PY'
import glob, sys, xml.etree.ElementTree as ET
total = failed = skipped = 0
for folder in sys.argv[1:]:
    for path in glob.glob(folder + "/TEST-*.xml"):
        suite = ET.parse(path).getroot()
        total += int(suite.get("tests"))
        failed += int(suite.get("failures")) + int(suite.get("errors"))
        skipped += int(suite.get("skipped"))
print(f"java: {total - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
jar=$(ls target/proglog-*.jar)
echo "java: $(basename "$jar") $(stat -c %s "$jar") bytes"
