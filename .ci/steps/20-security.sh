#!/usr/bin/env bash
# Security: bandit over jwtauth/ with zero findings (the false positives carry `# nosec BXXX`
# and a comment saying why), and Django's deploy checks on the demo site with production-like
# settings: nothing may be reported that docs/deployment.md (linked from the README) does not
# explain, and with HSTS preload opted in nothing at all. The attack and fuzz suites
# (tests/security/, tests/test_fuzz_tokens.py) run with the rest of the tests in both CI jobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
EXPLAINED=(README.md docs/deployment.md)

log() { printf -- '--- %s\n' "$*"; }
secret() { "$BIN/python" -c "import secrets; print(secrets.token_urlsafe($1))"; }

"$BIN/bandit" --version >/dev/null 2>&1 || "$BIN/python" -m pip install --quiet -r requirements-test.txt

log "bandit $("$BIN/bandit" --version | head -n1 | cut -d' ' -f2) over jwtauth/"
# bandit attributes a nosec inside a multi-line dict to each line of the dict and warns about
# every one of them on stderr; the report (stdout) and the exit status are what count.
"$BIN/bandit" -r jwtauth -q -f txt 2> >(grep -v "nosec encountered" >&2)
echo "bandit: no findings"

# Production-like settings, as a deployment would export them (nothing from a .env file).
deploy_check() {
  env -i PATH="$PATH" HOME="${HOME:-/root}" \
    DJANGO_DEBUG=False \
    DJANGO_SECRET_KEY="$(secret 50)" \
    JWT_SECRET_KEY="$(secret 64)" \
    REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}" \
    DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jwtauth}" \
    DJANGO_ALLOWED_HOSTS=example.com \
    "$@" "$BIN/python" manage.py check --deploy --fail-level WARNING
}

# Run the deploy check with extra settings; every message it reports must be a warning whose
# id the deployment docs explain.
explained_only() {
  local out rc=0 id unexplained=0
  out=$(deploy_check "$@" 2>&1) || rc=$?
  printf '%s\n' "$out"
  [ "$rc" -eq 0 ] && return 0
  if grep -qE '^(ERRORS|CRITICALS):' <<<"$out"; then
    echo "check --deploy reported errors" >&2; return 1
  fi
  for id in $(grep -oE '\([a-z_]+\.W[0-9]{3}\)' <<<"$out" | tr -d '()' | sort -u); do
    # Django's own ids may be written bare in a list of them (`W008`), ours never are.
    if grep -qF "$id" "${EXPLAINED[@]}" \
      || { [[ $id == security.* ]] && grep -qF "\`${id#security.}\`" "${EXPLAINED[@]}"; }; then
      echo "explained: $id"
    else
      echo "UNEXPLAINED: $id (say what it means and why in docs/deployment.md)" >&2
      unexplained=1
    fi
  done
  grep -qE '\([a-z_]+\.W[0-9]{3}\)' <<<"$out" || { echo "check --deploy failed" >&2; return 1; }
  return "$unexplained"
}

log "check --deploy: DJANGO_DEBUG=False, DJANGO_HTTPS=True, Redis, PostgreSQL"
explained_only DJANGO_HTTPS=True

log "check --deploy: the same with HSTS preload opted in (must be silent)"
deploy_check DJANGO_HTTPS=True DJANGO_HSTS_PRELOAD=True

log "check --deploy: plain HTTP on loopback (DJANGO_HTTPS=False), every warning explained"
explained_only DJANGO_HTTPS=False DJANGO_ALLOWED_HOSTS=127.0.0.1

log "security step passed"
