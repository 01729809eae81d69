#!/usr/bin/env bash
# Browser end-to-end tests (tests/e2e): the demo page, CSRF from other origins and the admin's
# session revocation, in Debian's headless Chromium driven through Debian's chromedriver, on
# the real PostgreSQL and Redis. Installs the browser when missing; nothing else is downloaded.
# Any failure fails the step; so does a missing browser, instead of a skip (CI is set).
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?the browser tests run on the real PostgreSQL}"
: "${REDIS_URL:?the browser tests run on the real Redis}"
export CI="${CI:-true}"

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y chromium chromium-driver
fi
/usr/bin/chromedriver --version

# Screenshots of this run only (artifacts/ is git-ignored).
rm -rf artifacts/screenshots
JWTAUTH_E2E=1 make test PYTHON="${PY311:-python3.11}" \
  PYTEST_ARGS="tests/e2e --create-db -p no:cacheprovider -ra"
echo "screenshots: $(ls artifacts/screenshots | tr '\n' ' ')"
