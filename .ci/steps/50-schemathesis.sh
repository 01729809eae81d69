#!/usr/bin/env bash
# Check docs/openapi.json against the real demo site: start it under gunicorn on a free port
# with a scratch database and Redis prefix, run schemathesis with auth for the protected
# endpoints, and fail on any 5xx or any response that does not match the document.
# Runs twice: with HS256 (JWKS answers 404) and with ES256 (JWKS publishes a key). The seed is
# fixed so CI is reproducible; explore others with SCHEMATHESIS_SEED=<n> (and more cases with
# SCHEMATHESIS_MAX_EXAMPLES=<n>).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
[ -x "$BIN/schemathesis" ] || "$BIN/python" -m pip install --quiet -r requirements-test.txt

WORK=$(mktemp -d)
PREFIX="st-$$-$RANDOM"
SERVER_PID=""
SCRATCH_DB=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "${REDIS_URL:-}" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX:*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
  fi
  if [ -n "$SCRATCH_DB" ]; then
    psql -q "${DATABASE_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $SCRATCH_DB WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${DATABASE_URL:-}" ]; then
  SCRATCH_DB="jwtauth_schemathesis_$$"
  # The maintenance database "postgres" always exists; DATABASE_URL's own may not.
  psql -q "${DATABASE_URL%/*}/postgres" -c "CREATE DATABASE $SCRATCH_DB" >/dev/null
  SITE_DATABASE_URL="${DATABASE_URL%/*}/$SCRATCH_DB"
else
  SITE_DATABASE_URL="sqlite:///$WORK/db.sqlite3"
fi

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

"$BIN/python" - "$WORK/es256.pem" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
pem = key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
with open(sys.argv[1], "wb") as f:
    f.write(pem)
PY

export DJANGO_SETTINGS_MODULE=project.settings
export DJANGO_DEBUG=False DJANGO_HTTPS=False DJANGO_ALLOWED_HOSTS=127.0.0.1
export DJANGO_SECRET_KEY="st-$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))')"
export REDIS_KEY_PREFIX="$PREFIX" JWT_COOKIES=True JWT_LOG_LEVEL=WARNING
# The demo user and password are the document's login example, so the examples phase logs in.
export SCHEMATHESIS_USERNAME=alice SCHEMATHESIS_PASSWORD="correct horse battery staple"
export SCHEMATHESIS_HOOKS=schemathesis_hooks SCHEMATHESIS_BASE_URL="$BASE"
export PYTHONPATH="$ROOT/.ci/steps:$ROOT"

run_against() {  # run_against ALGORITHM
  local alg=$1
  export JWT_ALGORITHM="$alg"
  if [ "$alg" = HS256 ]; then
    export JWT_SECRET_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(64))')" JWT_PRIVATE_KEY=""
  else
    export JWT_SECRET_KEY="" JWT_PRIVATE_KEY="$WORK/es256.pem"
  fi
  DATABASE_URL="$SITE_DATABASE_URL" "$BIN/python" manage.py migrate --noinput -v 0
  DATABASE_URL="$SITE_DATABASE_URL" "$BIN/python" manage.py shell -c "
from django.contrib.auth import get_user_model
User = get_user_model()
import os
if not User.objects.filter(username=os.environ['SCHEMATHESIS_USERNAME']).exists():
    User.objects.create_user(os.environ['SCHEMATHESIS_USERNAME'], password=os.environ['SCHEMATHESIS_PASSWORD'])
"
  DATABASE_URL="$SITE_DATABASE_URL" "$BIN/gunicorn" project.wsgi --bind "127.0.0.1:$PORT" \
    --workers 2 --timeout 30 --log-level warning >"$WORK/gunicorn-$alg.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "$BASE/api/ping/" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/gunicorn-$alg.log"; echo "gunicorn died" >&2; exit 1; }
    sleep 0.2  # waiting for a child process to listen
  done
  curl -fsS "$BASE/api/openapi.json" -o "$WORK/served.json"
  cmp -s "$WORK/served.json" docs/openapi.json || { echo "served document differs from docs/openapi.json" >&2; exit 1; }

  echo "--- schemathesis: $alg ---"
  local status=0
  DATABASE_URL="$SITE_DATABASE_URL" "$BIN/schemathesis" --config-file .ci/steps/schemathesis.toml run "$BASE/api/openapi.json" \
    --checks all \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-60}" \
    --workers 1 \
    --seed "${SCHEMATHESIS_SEED:-20261129}" \
    --request-timeout 10 \
    --suppress-health-check all \
    --generation-database none \
    --output-truncate true \
    --no-color || status=$?

  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if grep -E "Traceback|Internal Server Error" "$WORK/gunicorn-$alg.log"; then
    echo "the server logged an error during the run" >&2; status=1
  fi
  return "$status"
}

overall=0
run_against HS256 || overall=1
run_against ES256 || overall=1
if [ "$overall" -ne 0 ]; then echo "schemathesis found failures (see above)" >&2; exit 1; fi
echo "schemathesis: no 5xx, every response matches docs/openapi.json"
