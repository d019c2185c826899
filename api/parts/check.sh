#!/usr/bin/env bash
# Temporary authoring aid: assemble api/openapi.yaml with the named parts (default: all) into
# /tmp/openapi.<names>.yaml and run the spec tests on it. Usage: api/parts/check.sh core platform
set -euo pipefail
cd "$(dirname "$0")/../.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then names=($(ls api/parts/*.paths.yaml | xargs -n1 basename | sed 's/\.paths\.yaml$//')); fi
out=/tmp/openapi.$(IFS=_; echo "${names[*]}").yaml
python3 - "$out" "${names[@]}" <<'PY'
import sys, os
out, names = sys.argv[1], sys.argv[2:]
s = open('api/openapi.yaml').read()
for kind in ['PATHS', 'PARAMETERS', 'RESPONSES', 'SCHEMAS']:
    chunks = []
    for n in names:
        f = f'api/parts/{n}.{kind.lower()}.yaml'
        if os.path.exists(f):
            chunks.append(open(f).read().rstrip('\n'))
    marker = f'  # @@{kind}@@'
    s = s.replace(marker, '\n'.join(chunks + [marker]))
open(out, 'w').write(s)
PY
echo "assembled $out"
OPENINTENT_SPEC="$out" go test -count=1 ./api/ -run "${TEST_RUN:-TestSpecIsValid|TestOperationsAreDocumented|TestSchemasAreDocumented}"
