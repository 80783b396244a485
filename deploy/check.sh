#!/usr/bin/env bash
# deploy/check.sh: the Kubernetes manifests, checked offline (CI runs it).
#
# 1. Renders every kustomization (overlays/dev, overlays/cloud, loadgen/base,
#    loadgen/multi-node) with `kubectl kustomize`. Debian's kubectl 1.20
#    (apt-get install kubernetes-client; installed here when missing and we
#    are root) carries kustomize v2.0.3: the kustomizations keep to what it
#    renders (newer kubectl renders them too, with deprecation notes).
# 2. Validates every rendered manifest against Kubernetes $K8S_VERSION's
#    schemas, strictly (an unknown field fails), with kubernetes-validate
#    from PyPI in the project's venv (scripts/lib/python-venv.sh); its
#    schemas ship in the package, so this works with the network off.
# 3. Checks that the loadgen Job's completions, parallelism and SHARDS agree.
# 4. Proves the distributed run without a cluster (deploy/simulate.sh, on
#    a throwaway Postgres): the loadgen Job's exact container command run
#    SHARDS times in parallel with JOB_COMPLETION_INDEX set, as Kubernetes
#    would, against a local backend, then the merge Job's exact command;
#    the merged summary.json must cover segment 0:1 of SHARDS shards.
#
#   deploy/check.sh             all of it (about a minute once built)
#   deploy/check.sh --render    steps 1-3 only
#   KEEP=DIR deploy/check.sh    also keep the rendered manifests and the
#                               simulated results in DIR
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_VERSION="${K8S_VERSION:-1.30.0}"
render_only=0
[ "${1:-}" = --render ] && render_only=1

work="${KEEP:-$(mktemp -d)}"
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

if ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
  else
    echo "check: kubectl is needed (Debian: apt-get install kubernetes-client)" >&2
    exit 1
  fi
fi
. scripts/lib/python-venv.sh
ensure_python_venv kubernetes-validate

targets=(overlays/dev overlays/cloud loadgen/base loadgen/multi-node)
for t in "${targets[@]}"; do
  out="$work/$(echo "$t" | tr / -).yaml"
  # stderr: newer kustomize notes that `bases` is deprecated (kept for 1.20).
  kubectl kustomize "deploy/$t" >"$out" 2>"$work/kustomize.log" || {
    cat "$work/kustomize.log" >&2
    echo "check: deploy/$t does not render" >&2
    exit 1
  }
  kubernetes-validate -k "$K8S_VERSION" --strict --quiet "$out"
  echo "check: deploy/$t renders ($(grep -c '^kind:' "$out") objects) and validates against Kubernetes $K8S_VERSION"
done

# The Job's and the merge's commands and env, as the rendered manifest has them.
python3 - "$work/loadgen-base.yaml" "$work" <<'PY'
import shlex, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
def container(name):
    return jobs[name]["spec"]["template"]["spec"]["containers"][0]
shards = None
for name, prefix in (("chatbench-loadgen", "job"), ("chatbench-loadgen-merge", "merge")):
    c = container(name)
    cmd = c["command"]
    assert cmd[:2] == ["sh", "-c"] and len(cmd) == 3, cmd
    open(f"{sys.argv[2]}/{prefix}.sh", "w").write(cmd[2])
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    with open(f"{sys.argv[2]}/{prefix}.env", "w") as f:
        for k, v in env.items():
            f.write(f"export {k}={shlex.quote(v)}\n")
    if shards is None:
        shards = int(env["SHARDS"])
        spec = jobs[name]["spec"]
        assert spec["completionMode"] == "Indexed", spec
        assert spec["completions"] == spec["parallelism"] == shards, \
            f"completions {spec['completions']}, parallelism {spec['parallelism']}, SHARDS {shards}: change them together"
    else:
        assert int(env["SHARDS"]) == shards, "the merge Job's SHARDS differs from the loadgen Job's"
print(f"check: the loadgen Job runs {shards} shards (completions = parallelism = SHARDS)")
PY

[ "$render_only" = 1 ] && exit 0

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
. scripts/lib/ensure-postgres.sh
ensure_postgres
cargo build --quiet -p backend -p pgtemp -p seed -p loadgen
export CHATBENCH_BIN="$CARGO_TARGET_DIR/debug" CHATBENCH_SIM="$work"
exec "$CARGO_TARGET_DIR/debug/pgtemp" -- deploy/simulate.sh
